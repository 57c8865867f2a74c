import DepotCore
import DepotStore
#if canImport(Glibc)
import Glibc
#endif

/// outbox/events.jsonl: every event's envelope, one JSON object per line, in sequence order.
///
/// Lines are appended whole (O_APPEND, one write per batch) and fsynced before the
/// dispatcher's cursor moves past them, so none is missing after a crash. A batch appended
/// again because the cursor's commit failed (the catalog went away, the process died) is
/// not written twice: what the file already ends with is left out. A tail without its newline (power lost mid-write, a full disk) is cut off
/// before the next append, so every line a reader sees complete is a whole envelope.
/// The file is opened per batch, so a logrotate that renames it is followed.
public struct EventsFile: Sendable {
    public let path: String
    let mode: UInt32
    let gid: gid_t?

    public init(path: String, mode: UInt32 = 0o644, gid: gid_t? = nil) {
        self.path = path
        self.mode = mode
        self.gid = gid
    }

    /// Appends the envelopes of `events` and makes them durable.
    public func append(_ events: [Event]) throws {
        guard !events.isEmpty else { return }
        let fd = try sysCall("open", path: path) { open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, mode_t(mode)) }
        defer { close(fd) }
        var st = stat()
        try sysCall("fstat", path: path) { fstat(fd, &st) }
        if st.st_size == 0 {
            try sysCall("fchmod", path: path) { fchmod(fd, mode_t(mode)) }
            if let gid { try sysCall("fchown", path: path) { fchown(fd, uid_t.max, gid) } }
        }
        let whole = try cutPartialTail(fd, size: Int64(st.st_size))
        // The dispatcher reads a batch from its cursor: when an earlier append of it got in
        // and the cursor did not move, the file ends with one of these events.
        var fresh = events[...]
        if let last = try lastLineID(fd, size: whole), let index = events.firstIndex(where: { $0.id == last }) {
            fresh = events[(index + 1)...]
        }
        guard !fresh.isEmpty else { return }
        var bytes: [UInt8] = []
        for event in fresh {
            bytes += Array(event.envelopeJSON.utf8)
            bytes.append(0x0A)
        }
        do {
            try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
            try fsyncOnce(fd, path: path)
        } catch {
            // Whatever part of the batch got in is cut off again; the batch is redone whole.
            _ = ftruncate(fd, off_t(whole))
            throw error
        }
    }

    /// The id of the envelope on the file's last line (which ends at `size` with a newline);
    /// nil for an empty file or a last line longer than 64 KiB or not an envelope.
    func lastLineID(_ fd: Int32, size: Int64) throws -> String? {
        guard size > 1 else { return nil }
        let start = max(0, size - 65536)
        var chunk = [UInt8](repeating: 0, count: Int(size - start))
        let n = try chunk.withUnsafeMutableBytes { raw in
            try sysCall("pread", path: path) { pread(fd, raw.baseAddress, raw.count, off_t(start)) }
        }
        guard n == chunk.count, chunk.last == 0x0A else { return nil }
        let body = chunk[0..<(n - 1)]
        guard let newline = body.lastIndex(of: 0x0A) ?? (start == 0 ? -1 : nil) else { return nil }
        // An envelope starts {"event":"…","id":"…" (Event.envelopeJSON); ids need no escapes.
        let line = String(decoding: body[(newline + 1)...], as: UTF8.self)
        guard let open = line.range(of: "\",\"id\":\"") else { return nil }
        let rest = line[open.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// Truncates the file after its last newline when it does not end with one; returns the size kept.
    func cutPartialTail(_ fd: Int32, size: Int64) throws -> Int64 {
        guard size > 0 else { return 0 }
        var last: UInt8 = 0
        _ = try sysCall("pread", path: path) { pread(fd, &last, 1, off_t(size - 1)) }
        if last == 0x0A { return size }
        var end = size
        var chunk = [UInt8](repeating: 0, count: 65536)
        while end > 0 {
            let start = max(0, end - Int64(chunk.count))
            let count = Int(end - start)
            let n = try chunk.withUnsafeMutableBytes { raw in
                try sysCall("pread", path: path) { pread(fd, raw.baseAddress, count, off_t(start)) }
            }
            if let index = chunk[0..<n].lastIndex(of: 0x0A) {
                let keep = start + Int64(index) + 1
                try sysCall("ftruncate", path: path) { ftruncate(fd, off_t(keep)) }
                return keep
            }
            end = start
        }
        try sysCall("ftruncate", path: path) { ftruncate(fd, 0) }
        return 0
    }
}
