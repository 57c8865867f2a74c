import DepotCore
import DepotStore
import Foundation
import Synchronization

/// The live event feed: one thread follows the event log (every `interval`, only while
/// someone listens) and hands each new event to every subscriber whose filter passes it.
/// A subscriber that names where it stopped (SSE's `Last-Event-ID`, `--after`) first gets
/// what it missed, read from the log, then the live events, none twice and none lost. The
/// SSE stream and `depot events --follow` both read from one of these.
public final class EventHub: Sendable {
    private struct Subscriber {
        var filter: EventFilter
        /// Live events from after this sequence number go to it (earlier ones it reads itself).
        var liveFrom: Int64
        var continuation: AsyncStream<FeedEvent>.Continuation
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
        var cursor: Int64 = 0
        var running = false
    }

    private let database: any CatalogDatabase
    private let interval: Duration
    private let state = Mutex(State())

    public init(database: any CatalogDatabase, interval: Duration = .milliseconds(10)) {
        self.database = database
        self.interval = interval
    }

    /// The events after `after` (nil: from now on) that `filter` passes, oldest first, until
    /// the stream is dropped.
    /// - Throws: what the catalog throws reading where the log ends.
    public func subscribe(after: Int64?, filter: EventFilter) throws -> AsyncStream<FeedEvent> {
        let last = try database.read { tx in try EventLog.lastSequence(in: tx) }
        let (live, continuation) = AsyncStream<FeedEvent>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        let (id, liveFrom, start) = state.withLock { s -> (UInt64, Int64, Bool) in
            let start = !s.running
            if start {
                s.cursor = last
                s.running = true
            }
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = Subscriber(filter: filter, liveFrom: s.cursor, continuation: continuation)
            return (id, s.cursor, start)
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) } }
        if start { startThread() }
        let database = self.database
        return AsyncStream(bufferingPolicy: .bufferingNewest(100_000)) { outer in
            let task = Task {
                if let after, after < liveFrom {
                    var cursor = after
                    while cursor < liveFrom, !Task.isCancelled {
                        let from = cursor
                        guard let page = try? await offPool({
                            try database.read { tx in try EventLog.feed(after: from, limit: 500, filter: filter, in: tx) }
                        }) else { break }
                        for item in page.events where item.event.sequence <= liveFrom { outer.yield(item) }
                        if page.lastRead <= cursor { break }
                        cursor = page.lastRead
                    }
                }
                for await item in live { outer.yield(item) }
                outer.finish()
            }
            outer.onTermination = { _ in
                task.cancel()
                continuation.finish()
            }
        }
    }

    /// How many listen now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    private func startThread() {
        let thread = Thread { [self] in follow() }
        thread.name = "depot-event-feed"
        thread.start()
    }

    /// Polls the log while anyone listens; stops a second after the last one left.
    private func follow() {
        var idleSince: Int64?
        while true {
            let (cursor, empty) = state.withLock { ($0.cursor, $0.subscribers.isEmpty) }
            if empty {
                let now = monotonicNanoseconds()
                if let idle = idleSince, now - idle > 1_000_000_000 {
                    let stop = state.withLock { s -> Bool in
                        guard s.subscribers.isEmpty else { return false }
                        s.running = false
                        return true
                    }
                    if stop { return }
                }
                idleSince = idleSince ?? now
            } else {
                idleSince = nil
            }
            var page: [FeedEvent] = []
            if let read = try? database.read({ tx in try EventLog.feed(after: cursor, limit: 1000, in: tx) }) {
                page = read.events
            }
            if let last = page.last {
                state.withLock { s in
                    for item in page {
                        for sub in s.subscribers.values where item.event.sequence > sub.liveFrom
                            && sub.filter.matches(type: item.event.type, collection: item.collection) {
                            sub.continuation.yield(item)
                        }
                    }
                    s.cursor = last.event.sequence
                }
                if page.count == 1000 { continue }
            }
            Thread.sleep(forTimeInterval: Double(interval.nanosecondsValue) / 1e9)
        }
    }
}

/// The text/event-stream framing (WHATWG HTML §9.2): each event as `id:` (its sequence
/// number, what a client sends back as Last-Event-ID), `event:` (its type) and `data:` (its
/// envelope, one line); a comment line as the heartbeat.
public enum ServerSentEvents {
    /// The client's reconnection delay, sent once at the start.
    public static let preamble = "retry: 2000\n\n"

    /// One event; `named` adds its type as `event:` (a browser's `onmessage` sees unnamed ones only).
    public static func frame(_ item: FeedEvent, named: Bool = true) -> String {
        "id: \(item.event.sequence)\n" + (named ? "event: \(item.event.type)\n" : "") + "data: \(item.event.envelopeJSON)\n\n"
    }

    public static func heartbeat(now: Int64 = wallClockNanoseconds()) -> String { ": heartbeat \(formatTimestamp(now))\n\n" }

    /// Where a client resumes: a sequence number, or an event id ("evt_…") looked up in the log.
    public static func resumePoint(_ text: String?, database: any CatalogDatabase) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seq = Int64(text), seq >= 0 { return seq }
        return try database.read { tx in try EventLog.sequence(ofID: text, in: tx) }
    }

    /// The frames of a stream: the preamble, every event `events` gives, and a heartbeat
    /// whenever `heartbeat` passes; ends when the consumer stops reading.
    public static func stream(_ events: AsyncStream<FeedEvent>, heartbeat: Duration, named: Bool = true) -> AsyncStream<String> {
        AsyncStream(bufferingPolicy: .bufferingNewest(100_000)) { out in
            out.yield(preamble)
            let forward = Task {
                for await item in events { out.yield(frame(item, named: named)) }
                out.finish()
            }
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    out.yield(Self.heartbeat())
                }
            }
            out.onTermination = { _ in
                forward.cancel()
                beat.cancel()
            }
        }
    }
}
