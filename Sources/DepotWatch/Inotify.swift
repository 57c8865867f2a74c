#if canImport(Glibc)
import Glibc
#endif
import DepotCore

/// One inotify event with its name decoded.
struct InotifyEvent: Sendable, Equatable {
    /// The watch it is about; -1 for `IN_Q_OVERFLOW`.
    var wd: Int32
    var mask: UInt32
    var cookie: UInt32
    /// The name of the entry inside the watched folder; empty for events on the folder itself.
    var name: String
    /// False when the name bytes are not UTF-8 (such a file cannot be named by a `String` path).
    var nameIsValid: Bool

    func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
}

/// The masks depot asks inotify for.
enum InotifyMask {
    /// Everything about the entries of a watched folder that can make a file ready, changed or gone.
    static let folder: UInt32 = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MODIFY | IN_ATTRIB)
        // IN_ONLYDIR: the path was checked to be a folder, but it may have been swapped since.
        // IN_EXCL_UNLINK: no events for files already unlinked but still open somewhere.
        | UInt32(IN_ONLYDIR) | UInt32(IN_EXCL_UNLINK)
}

/// A thin owner of an inotify file descriptor: add and remove watches, wait, read events.
///
/// Used by one thread only (the watcher's); `@unchecked Sendable` so it can be created on one
/// thread and handed to the one that polls it, never shared between them.
final class Inotify: @unchecked Sendable {
    private(set) var fd: Int32
    /// Where the kernel writes events: aligned for `inotify_event` and large enough for many.
    private let buffer: UnsafeMutableRawBufferPointer
    private static let bufferSize = 64 * 1024
    /// The fixed part of `struct inotify_event` (wd, mask, cookie, len); the name follows it.
    private static let headerSize = 16

    /// Creates a non-blocking, close-on-exec inotify instance.
    /// - Throws: `SystemError` (EMFILE when `fs.inotify.max_user_instances` is reached).
    init() throws {
        fd = try sysCall("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        buffer = .allocate(byteCount: Self.bufferSize, alignment: MemoryLayout<inotify_event>.alignment)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    /// Watches a folder and returns the watch descriptor.
    /// - Throws: `SystemError`; ENOSPC means the per-user watch limit is reached.
    func addWatch(_ path: String, mask: UInt32 = InotifyMask.folder) throws -> Int32 {
        try sysCall("inotify_add_watch", path: path) { inotify_add_watch(fd, path, mask) }
    }

    /// Stops a watch; the kernel answers with IN_IGNORED, which the caller may ignore.
    func removeWatch(_ wd: Int32) {
        _ = inotify_rm_watch(fd, wd)
    }

    /// Waits until events can be read or `milliseconds` pass; returns whether events are waiting.
    func wait(milliseconds: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = Glibc.poll(&pfd, 1, milliseconds)
        // EINTR (a signal such as SIGHUP) just ends the wait early; the caller loops.
        return n > 0 && pfd.revents & Int16(POLLIN) != 0
    }

    /// Reads every event queued now, without blocking.
    func readEvents() throws -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return events }
                throw SystemError(call: "read", errno: errno, path: "inotify")
            }
            if n == 0 { return events }
            parse(count: n, into: &events)
        }
    }

    /// Decodes `count` bytes of events. Swift does not import the flexible `name` member of
    /// `struct inotify_event`, so the name is read from the bytes after the 16-byte header.
    private func parse(count: Int, into events: inout [InotifyEvent]) {
        var offset = 0
        while offset + Self.headerSize <= count {
            let base = buffer.baseAddress! + offset
            let wd = base.load(fromByteOffset: 0, as: Int32.self)
            let mask = base.load(fromByteOffset: 4, as: UInt32.self)
            let cookie = base.load(fromByteOffset: 8, as: UInt32.self)
            let length = Int(base.load(fromByteOffset: 12, as: UInt32.self))
            var name = ""
            var valid = true
            if length > 0 {
                // The name is NUL-terminated and padded with NULs up to `length`.
                let bytes = UnsafeRawBufferPointer(start: base + Self.headerSize, count: min(length, count - offset - Self.headerSize))
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                if let decoded = String(validating: bytes[..<end], as: UTF8.self) {
                    name = decoded
                } else {
                    name = String(decoding: bytes[..<end], as: UTF8.self)
                    valid = false
                }
            }
            events.append(InotifyEvent(wd: wd, mask: mask, cookie: cookie, name: name, nameIsValid: valid))
            offset += Self.headerSize + length
        }
    }
}
