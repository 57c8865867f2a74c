import DepotCore
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `[scrub]`: the incremental scrub inside `depot serve`, and the second copy it (and
/// `depot verify`) heals damaged blobs from.
public struct ScrubSettings: ConfigSection {
    public static let key = "scrub"
    /// Every blob is read once in this long ("0s": no scrub).
    public var period: Duration = .seconds(30 * 86_400)
    /// How often a slice runs: each reads the share of the store that keeps `period`.
    public var interval: Duration = .seconds(86_400)
    /// The most the scrub reads, MiB per second.
    public var mibPerSecond: Int = 16
    /// A folder laid out as a local blob store (`sha256/ab/cd/<hex>`, e.g. a copy of
    /// `store/blobs` on another disk) that a damaged blob is restored from when its copy
    /// there hashes right. Read only: depot never writes there.
    public var secondCopy: String?

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["period", "interval", "mib_per_second", "second_copy"])
        if let v = try r.duration("period") { period = v }
        if let v = try r.duration("interval") { interval = v }
        if let v = try r.int("mib_per_second", min: 1, max: 100_000) { mibPerSecond = v }
        if let v = try r.string("second_copy") {
            guard v.hasPrefix("/") else { throw r.fail("second_copy", "must be an absolute path (a folder laid out like store/blobs)") }
            secondCopy = v
        }
        guard period >= .zero else { throw r.fail("period", "must not be negative") }
        guard interval > .zero else { throw r.fail("interval", "must be positive") }
    }

    /// Whether `depot serve` scrubs at all.
    public var enabled: Bool { period > .zero }
}

/// A folder laid out as a local blob store, opened for reading only (`[scrub] second_copy`).
public final class SecondCopy: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// The copy's file of a blob, when it is there.
    func path(of digest: Digest) -> String {
        let hex = digest.hex
        return "\(root)/sha256/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
    }
}

/// The one check of a stored blob, what `depot verify` and the scrub both run: re-hash it,
/// record what was found (a damaged blob is marked — an event, the metric — and never served;
/// one found intact again is served again), and heal a damaged one from the second copy
/// when its bytes there hash right.
public final class BlobChecker: Sendable {
    public enum Outcome: Sendable, Equatable {
        case intact
        /// Missing or damaged, and not healed; the problem.
        case damaged(String)
        /// Was damaged (the problem), and its bytes are back from the second copy.
        case healed(String)
    }

    let catalog: Catalog
    let store: any BlobStore
    let secondCopy: SecondCopy?
    let who: String

    /// - Parameter who: what found it, for the healed event ("depot verify", "the scrub").
    public init(catalog: Catalog, store: any BlobStore, secondCopy: SecondCopy?, who: String) {
        self.catalog = catalog
        self.store = store
        self.secondCopy = secondCopy
        self.who = who
    }

    /// Checks one blob the catalog knows with `size` bytes. `progress` is told of every chunk
    /// read; what it throws (a stop) is thrown on, and nothing is recorded then. Any other
    /// error reading the blob is a problem with it.
    public func check(_ digest: Digest, size: Int64, progress: (Int) throws -> Void = { _ in }) throws -> Outcome {
        let problem: String?
        do {
            problem = try store.check(digest, size: size, progress: progress)
        } catch let stop as CancellationError {
            throw stop
        } catch {
            problem = "\(error)"
        }
        guard let problem else {
            // A read first: most blobs were never marked, and a write per blob would cost a commit each.
            if try catalog.database.read({ try catalog.isDamaged(digest, in: $0) }) {
                try catalog.markIntact([digest], how: "\(who) found it intact")
            }
            return .intact
        }
        try catalog.markDamaged(digest, reason: problem)
        if let how = try heal(digest, size: size) {
            try catalog.markIntact([digest], how: how)
            return .healed(problem)
        }
        return .damaged(problem)
    }

    /// Restores a damaged blob from the second copy: only bytes that hash to its name get in
    /// (the copy is hashed, then hashed again on its way into the store, whose commit replaces
    /// the damaged file). nil when there is no copy or it is not intact.
    func heal(_ digest: Digest, size: Int64) throws -> String? {
        guard let secondCopy else { return nil }
        let path = secondCopy.path(of: digest)
        guard let st = try? statIfExists(path), Int64(st.st_size) == size else { return nil }
        let staged: StagedBlob
        do {
            staged = try store.stage(BlobSource(path: path, mayLink: false))
        } catch {
            return nil
        }
        guard staged.digest == digest, staged.size == size else {
            store.discard(staged)
            return nil
        }
        _ = try store.commit([staged])
        guard try store.check(digest, size: size) == nil else { return nil }
        return "restored from the second copy \(secondCopy.root)"
    }
}

/// Where the scrub is: the pass it is in, the last blob it checked (the cursor: the next
/// slice, also after a restart, goes on after it), and what the pass has found.
public struct ScrubState: Sendable, Equatable {
    /// Passes finished.
    public var passes: Int64 = 0
    public var passStartedAtNanoseconds: Int64
    /// The digest (hex) of the last blob checked in this pass; "" before the first.
    public var cursor: String = ""
    public var passBlobs: Int64 = 0
    public var passBytes: Int64 = 0
    public var passDamaged: Int64 = 0
    public var passHealed: Int64 = 0
    public var lastPassFinishedAtNanoseconds: Int64?
    public var lastSliceAtNanoseconds: Int64?

    public init(passStartedAtNanoseconds: Int64) { self.passStartedAtNanoseconds = passStartedAtNanoseconds }
}

/// The scrub's progress, as `depot status` and `GET /api/v1/status` show it.
public struct ScrubProgress: Sendable, Equatable, Codable {
    /// The pass under way (1 for the first).
    public var pass: Int64
    public var checkedBlobs: Int64
    public var checkedBytes: Int64
    public var totalBlobs: Int64
    public var totalBytes: Int64
    public var passStartedAt: Timestamp
    public var lastPassFinishedAt: Timestamp?
    public var lastSliceAt: Timestamp?
    public var damaged: Int64
    public var healed: Int64

    /// One line: "pass 2: 40% (2 of 5 blobs, 1.2 MiB of 3.0 MiB) since …; last full pass ended …; 1 damaged, 1 healed".
    public var summary: String {
        let share = totalBytes > 0 ? Int(Double(min(checkedBytes, totalBytes)) / Double(totalBytes) * 100) : 100
        var text = "pass \(pass): \(share)% (\(checkedBlobs) of \(totalBlobs) blobs, \(describeBytes(checkedBytes)) of "
            + "\(describeBytes(totalBytes))) since \(passStartedAt)"
        text += lastPassFinishedAt.map { "; last full pass ended \($0)" } ?? "; no full pass yet"
        if damaged > 0 || healed > 0 { text += "; this pass found \(damaged) damaged, \(healed) healed from the second copy" }
        return text
    }
}

extension Catalog {
    /// The scrub's state, nil before its first slice.
    public func scrubState() throws -> ScrubState? {
        try database.read { tx in
            try tx.query("""
                SELECT passes, pass_started_at_ns, cursor, pass_blobs, pass_bytes, pass_damaged, pass_healed,
                       last_pass_finished_at_ns, last_slice_at_ns FROM scrub_state WHERE id = 1
                """).first.map { row in
                var s = ScrubState(passStartedAtNanoseconds: row.int(1))
                s.passes = row.int(0)
                s.cursor = row.text(2)
                (s.passBlobs, s.passBytes, s.passDamaged, s.passHealed) = (row.int(3), row.int(4), row.int(5), row.int(6))
                s.lastPassFinishedAtNanoseconds = row.optionalInt(7)
                s.lastSliceAtNanoseconds = row.optionalInt(8)
                return s
            }
        }
    }

    public func saveScrubState(_ s: ScrubState) throws {
        _ = try database.write { tx in
            try tx.execute("""
                INSERT INTO scrub_state(id, passes, pass_started_at_ns, cursor, pass_blobs, pass_bytes, pass_damaged, pass_healed,
                                        last_pass_finished_at_ns, last_slice_at_ns)
                VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET passes = excluded.passes, pass_started_at_ns = excluded.pass_started_at_ns,
                    cursor = excluded.cursor, pass_blobs = excluded.pass_blobs, pass_bytes = excluded.pass_bytes,
                    pass_damaged = excluded.pass_damaged, pass_healed = excluded.pass_healed,
                    last_pass_finished_at_ns = excluded.last_pass_finished_at_ns, last_slice_at_ns = excluded.last_slice_at_ns
                """, [.integer(s.passes), .integer(s.passStartedAtNanoseconds), .text(s.cursor), .integer(s.passBlobs),
                      .integer(s.passBytes), .integer(s.passDamaged), .integer(s.passHealed),
                      .int(s.lastPassFinishedAtNanoseconds), .int(s.lastSliceAtNanoseconds)])
        }
    }

    /// The next `limit` blobs after `cursor` in digest order.
    func blobs(after cursor: String, limit: Int) throws -> [(digest: Digest, size: Int64)] {
        try database.read { tx in
            try tx.query("SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?",
                         [.text(cursor), .integer(Int64(limit))]).compactMap { row in
                Digest(hex: row.text(0)).map { ($0, row.int(1)) }
            }
        }
    }

    /// How many blobs the catalog knows, and their bytes.
    func blobTotals() throws -> (blobs: Int64, bytes: Int64) {
        try database.read { tx in
            let row = try tx.query("SELECT count(*), coalesce(sum(size), 0) FROM blobs")[0]
            return (row.int(0), row.int(1))
        }
    }

    /// The scrub's progress (nil before its first slice): the one source of `depot status`'s
    /// scrub line and the API's.
    public func scrubProgress() throws -> ScrubProgress? {
        guard let s = try scrubState() else { return nil }
        let totals = try blobTotals()
        return ScrubProgress(pass: s.passes + 1, checkedBlobs: s.passBlobs, checkedBytes: s.passBytes, totalBlobs: totals.blobs,
                             totalBytes: totals.bytes, passStartedAt: Timestamp(nanoseconds: s.passStartedAtNanoseconds),
                             lastPassFinishedAt: s.lastPassFinishedAtNanoseconds.map(Timestamp.init(nanoseconds:)),
                             lastSliceAt: s.lastSliceAtNanoseconds.map(Timestamp.init(nanoseconds:)),
                             damaged: s.passDamaged, healed: s.passHealed)
    }
}

/// What one slice did.
public struct ScrubSlice: Sendable, Equatable {
    public var blobs = 0
    public var bytes: Int64 = 0
    public var damaged: [Digest] = []
    public var healed: [Digest] = []
    /// The slice reached the end of the store: a pass finished.
    public var finishedPass = false
    /// Stopped before its share was read (the daemon is stopping).
    public var stopped = false
}

/// The incremental scrub: each slice re-hashes, in digest order from where the last one
/// stopped, the share of the store's bytes that reads it all once per `period`
/// (bytes × interval / period), at most `mibPerSecond`, through `BlobChecker`. The cursor is
/// saved at least every second, so a restart goes on where it was.
public final class Scrubber: Sendable {
    let catalog: Catalog
    let checker: BlobChecker
    let settings: ScrubSettings
    let logger: Logger

    public init(catalog: Catalog, store: any BlobStore, settings: ScrubSettings, logger: Logger) {
        self.catalog = catalog
        self.settings = settings
        self.logger = logger
        checker = BlobChecker(catalog: catalog, store: store, secondCopy: settings.secondCopy.map(SecondCopy.init(root:)),
                              who: "the scrub")
    }

    /// Whether a slice is due: none has run, or the last one began `interval` ago (wall
    /// clock, as saved: a restart does not reset it).
    public func isDue(now: Int64 = wallClockNanoseconds()) throws -> Bool {
        guard let last = try catalog.scrubState()?.lastSliceAtNanoseconds else { return true }
        return now - last >= settings.interval.nanosecondsValue
    }

    /// Runs one slice. `shouldStop` is asked between chunks (and while pacing).
    @discardableResult
    public func slice(shouldStop: @Sendable () -> Bool = { false }) throws -> ScrubSlice {
        let started = monotonicNanoseconds()
        var state = try catalog.scrubState() ?? ScrubState(passStartedAtNanoseconds: wallClockNanoseconds())
        state.lastSliceAtNanoseconds = wallClockNanoseconds()
        let totals = try catalog.blobTotals()
        let share = settings.interval.nanosecondsValue >= settings.period.nanosecondsValue ? 1.0
            : Double(settings.interval.nanosecondsValue) / Double(settings.period.nanosecondsValue)
        let budget = max(1, Int64((Double(totals.bytes) * share).rounded(.up)))
        let bytesPerSecond = Double(settings.mibPerSecond) * 1_048_576
        var result = ScrubSlice()
        var read: Int64 = 0
        var savedAt = monotonicNanoseconds()
        defer { try? catalog.saveScrubState(state) }

        /// Keeps the reading at the rate: after `read` bytes, at least read / rate seconds have gone.
        func pace() throws {
            while true {
                if shouldStop() { throw CancellationError() }
                let due = Double(read) / bytesPerSecond - Double(monotonicNanoseconds() - started) / 1e9
                if due <= 0 { return }
                usleep(useconds_t(min(due, 0.1) * 1e6))
            }
        }

        slice: while read < budget {
            let batch = try catalog.blobs(after: state.cursor, limit: 256)
            if batch.isEmpty {
                if totals.blobs > 0 || state.passBlobs > 0 {
                    logger.notice("scrub pass finished", metadata: [
                        "pass": "\(state.passes + 1)", "blobs": "\(state.passBlobs)", "bytes": "\(state.passBytes)",
                        "damaged": "\(state.passDamaged)", "healed": "\(state.passHealed)"])
                    let now = wallClockNanoseconds()
                    let passes = state.passes + 1
                    let lastSlice = state.lastSliceAtNanoseconds
                    state = ScrubState(passStartedAtNanoseconds: now)
                    (state.passes, state.lastPassFinishedAtNanoseconds, state.lastSliceAtNanoseconds) = (passes, now, lastSlice)
                    result.finishedPass = true
                }
                break
            }
            for blob in batch {
                if read >= budget { break slice }
                let outcome: BlobChecker.Outcome
                do {
                    outcome = try checker.check(blob.digest, size: blob.size) { n in
                        read += Int64(n)
                        try pace()
                    }
                } catch is CancellationError {
                    result.stopped = true
                    break slice
                }
                state.cursor = blob.digest.hex
                state.passBlobs += 1
                state.passBytes += blob.size
                result.blobs += 1
                result.bytes += blob.size
                switch outcome {
                case .intact:
                    break
                case .damaged(let problem):
                    state.passDamaged += 1
                    result.damaged.append(blob.digest)
                    logger.error("scrub: blob \(blob.digest.hex) is damaged (\(problem)); it is no longer served — `depot verify` names what it holds and how to repair it",
                                 metadata: ["sha256": "\(blob.digest.hex)", "problem": "\(problem)"])
                case .healed(let problem):
                    state.passDamaged += 1
                    state.passHealed += 1
                    result.healed.append(blob.digest)
                    logger.warning("scrub: blob \(blob.digest.hex) was damaged (\(problem)) and is restored from the second copy",
                                   metadata: ["sha256": "\(blob.digest.hex)", "problem": "\(problem)"])
                }
                if monotonicNanoseconds() - savedAt >= 1_000_000_000 {
                    try catalog.saveScrubState(state)
                    savedAt = monotonicNanoseconds()
                }
            }
        }
        return result
    }
}
