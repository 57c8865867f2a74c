// DepotCore: what every part of depot shares — turning errno into errors,
// the root layout, configuration, logging and the systemd notify protocol.
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// An error from a system call, carrying the call's name, errno and the path it was about.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public var call: String
    public var errno: Int32
    public var path: String?

    public init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "\(call)(\(path)): \(reason)" }
        return "\(call): \(reason)"
    }

    /// Errors that come and go (a full disk, a busy file, a quota): worth a retry later.
    public var isTransient: Bool {
        [ENOSPC, EDQUOT, EBUSY, EAGAIN, EIO, EMFILE, ENFILE, ENOMEM, ETXTBSY].contains(errno)
    }
}

/// Runs one system call, retrying on EINTR, and throws a `SystemError` when it returns -1.
///
/// Every syscall in depot goes through here (as swift-nio does) so that one place
/// turns errno into an error with the call's name and the path in it.
@discardableResult
@inline(__always)
public func sysCall<T: FixedWidthInteger>(_ name: String, path: String? = nil, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: name, errno: code, path: path)
    }
}

/// The errno of a failed system call inside a thrown error, if it is one.
public func errnoOf(_ error: Error) -> Int32? {
    (error as? SystemError)?.errno
}

/// Reads until `count` bytes or end of file, retrying short reads and EINTR.
public func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String? = nil) throws -> Int {
    var total = 0
    while total < buffer.count {
        let n = try sysCall("read", path: path) {
            Glibc.read(fd, buffer.baseAddress! + total, buffer.count - total)
        }
        if n == 0 { break }
        total += n
    }
    return total
}

/// Writes all of `buffer`, retrying short writes and EINTR.
public func writeFully(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String? = nil) throws {
    var done = 0
    while done < buffer.count {
        let n = try sysCall("write", path: path) {
            Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
        }
        done += n
    }
}

/// fsync, which is never retried after a failure: the kernel may have dropped the
/// dirty pages already ("fsyncgate"), so the caller must redo the write from the source.
public func fsyncOnce(_ fd: Int32, path: String?) throws {
    if Glibc.fsync(fd) != 0 {
        let code = Glibc.errno
        if code == EINTR {
            // EINTR from fsync reports nothing lost; a second call is a new flush request.
            if Glibc.fsync(fd) == 0 { return }
        }
        throw SystemError(call: "fsync", errno: Glibc.errno, path: path)
    }
}

/// Opens a directory read-only and fsyncs it, making renames and links inside it durable.
public func fsyncDirectory(_ path: String) throws {
    let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    try fsyncOnce(fd, path: path)
}

/// Creates a directory and any missing parents; returns the directories it created, outermost first.
@discardableResult
public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws -> [String] {
    var created: [String] = []
    var components: [String] = []
    var prefix = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        components.append(String(part))
        prefix += "/" + part
        if mkdir(prefix, mode) == 0 {
            created.append(prefix)
        } else if errno != EEXIST {
            throw SystemError(call: "mkdir", errno: errno, path: prefix)
        }
    }
    return created
}

/// The file status of `path`, or nil when it does not exist.
public func statIfExists(_ path: String) throws -> stat? {
    var st = stat()
    if stat(path, &st) == 0 { return st }
    if errno == ENOENT || errno == ENOTDIR { return nil }
    throw SystemError(call: "stat", errno: errno, path: path)
}

/// The status of `path` itself (a symlink is not followed), or nil when it does not exist.
public func lstatIfExists(_ path: String) throws -> stat? {
    var st = stat()
    if lstat(path, &st) == 0 { return st }
    if errno == ENOENT || errno == ENOTDIR { return nil }
    throw SystemError(call: "lstat", errno: errno, path: path)
}

/// The last path component.
public func baseName(_ path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
}

/// The path without its last component.
public func directoryName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

/// A modification time with nanoseconds, as a single integer (ns since the epoch).
public func nanoseconds(_ ts: timespec) -> Int64 {
    Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// The wall clock in nanoseconds since the epoch.
public func wallClockNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return nanoseconds(ts)
}

/// A monotonic clock in nanoseconds, for intervals and deadlines.
public func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return nanoseconds(ts)
}

/// Gives the calling thread a lower CPU priority (a nice value, 1–19), so that background
/// work on it (processing jobs, publishing the outbox) yields to ingest on a busy machine.
public func lowerThisThreadPriority(nice: Int32 = 5) {
    _ = clinux_renice_this_thread(nice)
}
