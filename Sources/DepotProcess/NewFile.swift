import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a new file (mode 0644), failing if it exists.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let file = try NewFile(path: path)
    try file.write(bytes)
}

/// A new file (mode 0644, failing if it exists) written in pieces, for output too large to
/// hold in memory; the descriptor is closed in deinit.
final class NewFile {
    let fd: Int32
    let path: String

    init(path: String) throws {
        fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        self.path = path
    }

    deinit { close(fd) }

    func write(_ bytes: some ContiguousBytes) throws {
        try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
    }
}
