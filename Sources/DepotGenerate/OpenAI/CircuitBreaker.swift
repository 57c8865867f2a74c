import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A circuit breaker over the model server, shared by every worker process of one depot:
/// its state is a small file (locked with flock while read and changed), since each generate
/// job runs in whichever worker is free. Closed: requests go. After `failureThreshold`
/// consecutive failures it opens: requests fail at once for `cooldown`. Then it is half-open:
/// one request (the probe) goes; its success closes the breaker, its failure opens it again.
/// Without a file (tests of one process, `depot generate --file`) the state is in memory.
public final class CircuitBreaker: @unchecked Sendable {
    public enum State: String, Codable, Sendable { case closed, open, halfOpen = "half_open" }

    struct Stored: Codable, Equatable {
        var state: State = .closed
        var failures = 0
        /// When it opened (ns since the epoch); the cooldown counts from here.
        var openedAt: Int64 = 0
        /// When the half-open probe was let through; another waits until it ends (or is
        /// this old: a probe whose worker died must not hold the breaker forever).
        var probeAt: Int64 = 0
    }

    public let failureThreshold: Int
    public let cooldown: Duration
    let path: String?
    /// `@unchecked Sendable`: `memory` is only touched under `lock`.
    private let lock = NSLock()
    private var memory = Stored()
    /// The clock (ns since the epoch); tests move it.
    var now: @Sendable () -> Int64 = { wallClockNanoseconds() }

    public init(failureThreshold: Int, cooldown: Duration, path: String? = nil) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown
        self.path = path
    }

    public var state: State { (try? withState { s in Self.effective(s, now: now(), cooldown: cooldown) }) ?? .closed }

    /// May a request go now? Throws `ChatError.circuitOpen` when not; a half-open breaker
    /// lets exactly one request through (the probe).
    public func admit() throws {
        let t = now()
        let until: Int64? = try withState { s in
            switch Self.effective(s, now: t, cooldown: cooldown) {
            case .closed: return nil
            case .open: return s.openedAt + cooldown.nanosecondsValue
            case .halfOpen:
                if s.probeAt > s.openedAt && t - s.probeAt < max(cooldown.nanosecondsValue, 60_000_000_000) {
                    return t + cooldown.nanosecondsValue  // a probe is out
                }
                s.probeAt = t
                s.state = .halfOpen
                return nil
            }
        }
        if let until { throw ChatError.circuitOpen(until: until) }
    }

    /// A request that got a usable answer: the breaker closes.
    public func succeeded() {
        _ = try? withState { s in s = Stored() }
    }

    /// A request that failed (no answer, a 5xx, a 429, a timeout): counts towards opening;
    /// a failed probe opens the breaker again at once. True when this failure opened it.
    @discardableResult
    public func failed() -> Bool {
        let t = now()
        return (try? withState { s -> Bool in
            let current = Self.effective(s, now: t, cooldown: cooldown)
            s.failures += 1
            if current == .halfOpen || s.failures >= failureThreshold {
                s.state = .open
                s.openedAt = t
                s.probeAt = 0
                return current != .open
            }
            return false
        }) ?? false
    }

    static func effective(_ s: Stored, now: Int64, cooldown: Duration) -> State {
        switch s.state {
        case .closed: return .closed
        case .open, .halfOpen: return now - s.openedAt >= cooldown.nanosecondsValue ? .halfOpen : .open
        }
    }

    /// Runs `body` on the state, under the lock (and the file's flock), and saves what it changed.
    private func withState<T>(_ body: (inout Stored) throws -> T) throws -> T {
        try lock.withLock {
            guard let path else { return try body(&memory) }
            let fd = try sysCall("open", path: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
            defer { close(fd) }
            _ = try sysCall("flock", path: path) { flock(fd, LOCK_EX) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = try buffer.withUnsafeMutableBytes { raw in try sysCall("pread", path: path) { pread(fd, raw.baseAddress!, raw.count, 0) } }
            var stored = (try? JSONDecoder().decode(Stored.self, from: Data(buffer[0..<n]))) ?? Stored()
            let before = stored
            let result = try body(&stored)
            if stored != before {
                let data = Array(try JSONEncoder().encode(stored))
                _ = try sysCall("ftruncate", path: path) { ftruncate(fd, 0) }
                _ = try data.withUnsafeBytes { raw in try sysCall("pwrite", path: path) { pwrite(fd, raw.baseAddress!, raw.count, 0) } }
            }
            return result
        }
    }
}
