import Foundation

/// A count of commits that waiters can sleep on: `signal()` after a commit, `wait(after:timeout:)`
/// until one comes (or the timeout passes). Waking is what it is for; nothing is handed over,
/// so a waiter reads what it wants afterwards and a missed wake costs at most one timeout.
public final class CommitSignal: @unchecked Sendable {
    // @unchecked: `count` is only touched under `condition`'s lock.
    private let condition = NSCondition()
    private var count: UInt64 = 0

    public init() {}

    /// Commits signalled so far.
    public var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    public func signal() {
        condition.lock()
        count &+= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the count is past `seen` or `timeout` has passed; returns the count then.
    @discardableResult
    public func wait(after seen: UInt64, timeout: Duration) -> UInt64 {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while count == seen {
            if !condition.wait(until: deadline) { break }
        }
        return count
    }
}
