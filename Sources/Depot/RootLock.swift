import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one `depot serve` of a root: an exclusive `flock` on ROOT/state/serve.lock, held for
/// the life of the process (the kernel lets go of it when the process ends, however it ends),
/// with the holder's pid written in the file for the message a second one prints. Two daemons
/// on one root would both ingest every file and both dispatch every event.
final class RootLock {
    private let fd: Int32

    /// - Throws: `CommandFailure(.unavailable)` naming the running daemon's pid when the root is taken.
    init(layout: RootLayout) throws {
        let path = layout.state + "/serve.lock"
        fd = try sysCall("open", path: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { holder = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
            close(fd)
            guard code == EWOULDBLOCK else { throw SystemError(call: "flock", errno: code, path: path) }
            throw CommandFailure(.unavailable, "another depot serve\(holder.isEmpty ? "" : " (pid \(holder))") is running on "
                                 + "\(layout.root); stop it first (one daemon per root)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Fails at once, with the address in the message, when the HTTP server could not listen
/// there: before anything else starts (the watcher, the workers), instead of dying later with
/// a bare "Address already in use". The socket is closed again; the server binds its own.
func checkListenAddress(host: String, port: Int) throws {
    guard port != 0 else { return }
    var hints = addrinfo()
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &result)
    guard rc == 0, let info = result else {
        throw CommandFailure(.config, "http.listen \(host) is not an address this machine can listen on (\(String(cString: gai_strerror(rc))))")
    }
    defer { freeaddrinfo(result) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { throw SystemError(call: "socket", errno: errno, path: "\(host):\(port)") }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
        let code = errno
        let shown = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        if code == EADDRINUSE {
            throw CommandFailure(.unavailable, "cannot listen on \(shown): another program listens there "
                                 + "(set http.port or http.listen, or run `depot serve --listen ADDRESS:PORT`)")
        }
        throw CommandFailure(.unavailable, "cannot listen on \(shown): \(String(cString: strerror(code)))")
    }
}
