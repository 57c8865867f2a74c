#if canImport(Glibc)
import Glibc
#endif
import DepotCore

/// One entry met while walking a folder tree, with its `lstat`.
public struct ScanEntry {
    /// The path relative to the inbox, e.g. "lectures/physics/a.mp4".
    public var relativePath: String
    public var name: String
    public var status: stat

    public var isDirectory: Bool { status.st_mode & S_IFMT == S_IFDIR }
    public var isRegularFile: Bool { status.st_mode & S_IFMT == S_IFREG }
}

/// Walks a folder tree with openat/fdopendir/readdir/fstatat, never following symlinks.
///
/// Linux `FileManager` enumeration stats every entry twice and resolves user names
/// (STYLE.md, pitfall 3); this stats each entry once, relative to its open folder, so a
/// rescan of a large inbox costs one `fstatat` per entry and cannot be led out of the
/// tree by a symlink or a folder renamed during the walk.
public enum TreeScanner {
    /// Walks the folder at `absolutePath` (known to the caller as `relativePath`).
    ///
    /// `visit` is called for every entry, in each folder before its subfolders; for a folder
    /// it returns whether to walk into it. The root itself is not visited.
    /// - Parameters:
    ///   - onError: a folder that could not be opened or read; the walk goes on without it.
    public static func walk(absolutePath: String, relativePath: String,
                     visit: (ScanEntry) -> Bool, onError: (SystemError) -> Void) {
        let fd = open(absolutePath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            onError(SystemError(call: "open", errno: errno, path: absolutePath))
            return
        }
        walk(fd: fd, absolutePath: absolutePath, relativePath: relativePath, visit: visit, onError: onError)
    }

    /// Walks an open folder; takes ownership of `fd`.
    private static func walk(fd: Int32, absolutePath: String, relativePath: String,
                             visit: (ScanEntry) -> Bool, onError: (SystemError) -> Void) {
        guard let dir = fdopendir(fd) else {
            onError(SystemError(call: "fdopendir", errno: errno, path: absolutePath))
            Glibc.close(fd)
            return
        }
        // closedir also closes fd; it stays open until the subfolders below are walked.
        defer { closedir(dir) }

        // Subfolders are walked after this folder's stream is read to its end, so only
        // one directory stream per level is buffered at a time.
        var subfolders: [String] = []
        while true {
            errno = 0
            guard let raw = readdir(dir) else {
                if errno != 0 { onError(SystemError(call: "readdir", errno: errno, path: absolutePath)) }
                break
            }
            guard let name = entryName(raw) else {
                // Not UTF-8: such a name cannot round-trip through a Swift String path.
                onError(SystemError(call: "readdir (name is not UTF-8)", errno: EILSEQ, path: absolutePath))
                continue
            }
            if name == "." || name == ".." { continue }
            var st = stat()
            if fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                // Gone between readdir and fstatat: nothing to report.
                if errno != ENOENT {
                    onError(SystemError(call: "fstatat", errno: errno, path: absolutePath + "/" + name))
                }
                continue
            }
            let relative = relativePath.isEmpty ? name : relativePath + "/" + name
            let entry = ScanEntry(relativePath: relative, name: name, status: st)
            if visit(entry) && entry.isDirectory {
                subfolders.append(name)
            }
        }

        for name in subfolders {
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let childPath = absolutePath + "/" + name
            guard child >= 0 else {
                if errno != ENOENT { onError(SystemError(call: "openat", errno: errno, path: childPath)) }
                continue
            }
            let relative = relativePath.isEmpty ? name : relativePath + "/" + name
            walk(fd: child, absolutePath: childPath, relativePath: relative, visit: visit, onError: onError)
        }
    }

    /// The name of a directory entry, or nil when it is not valid UTF-8.
    private static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String? {
        withUnsafePointer(to: &entry.pointee.d_name) { tuple in
            tuple.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { bytes in
                let length = strlen(UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self))
                return String(validating: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
            }
        }
    }
}

/// `lstat` of a path: the status, nil when it does not exist, or the error.
func lstatus(_ path: String) -> Result<stat?, SystemError> {
    var st = stat()
    if fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 { return .success(st) }
    if errno == ENOENT || errno == ENOTDIR { return .success(nil) }
    return .failure(SystemError(call: "lstat", errno: errno, path: path))
}
