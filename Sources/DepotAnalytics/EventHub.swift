import DepotCore
import DepotStore
import Foundation
import Synchronization

/// The live event feed: one thread follows the event log (woken by this process's commits,
/// and every `interval` for other processes', only while someone listens) and hands each new event to every subscriber whose filter passes it.
/// A subscriber that names where it stopped (SSE's `Last-Event-ID`, `--after`) first gets
/// what it missed, read from the log, then the live events, none twice and none lost. The
/// SSE stream and `depot events --follow` both read from one of these.
///
/// An SSE stream (`frames`) gets text straight from the feed's thread: each event is framed
/// once for all streams, and the events of one poll that a stream wants go to it as one piece
/// of text, so a hundred streams cost a hundred hand-overs per poll, not three per event each.
public final class EventHub: Sendable {
    private enum Sink {
        case events(AsyncStream<FeedEvent>.Continuation)
        case frames(AsyncStream<String>.Continuation, named: Bool)
    }

    private struct Subscriber {
        var filter: EventFilter
        /// Live events from after this sequence number go to it (earlier ones it reads itself).
        var liveFrom: Int64
        var sink: Sink
        /// While it reads what it missed from the log: the live events that came meanwhile,
        /// handed over once it has read up to `liveFrom`.
        var held: [FeedEvent]?
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
        var cursor: Int64 = 0
        var running = false
    }

    private let database: any CatalogDatabase
    private let interval: Duration
    /// How long the feed waits after a commit woke it before it reads (see `follow`).
    static let grouping = Duration.milliseconds(2)
    private let state = Mutex(State())

    public init(database: any CatalogDatabase, interval: Duration = .milliseconds(10)) {
        self.database = database
        self.interval = interval
    }

    /// The events after `after` (nil: from now on) that `filter` passes, oldest first, until
    /// the stream is dropped.
    /// - Throws: what the catalog throws reading where the log ends.
    public func subscribe(after: Int64?, filter: EventFilter) throws -> AsyncStream<FeedEvent> {
        let (stream, continuation) = AsyncStream<FeedEvent>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        try add(.events(continuation), after: after, filter: filter, onEnd: { end in continuation.onTermination = { _ in end() } })
        return stream
    }

    /// The text/event-stream of the events after `after` (nil: from now on) that `filter`
    /// passes: the preamble, the frames (`named`: with `event:`), and a heartbeat whenever
    /// `heartbeat` passes; ends when the consumer stops reading.
    /// - Throws: what the catalog throws reading where the log ends.
    public func frames(after: Int64?, filter: EventFilter, named: Bool = true, heartbeat: Duration) throws -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        continuation.yield(ServerSentEvents.preamble)
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                if Task.isCancelled { break }
                continuation.yield(ServerSentEvents.heartbeat())
            }
        }
        do {
            try add(.frames(continuation, named: named), after: after, filter: filter, onEnd: { end in
                continuation.onTermination = { _ in
                    beat.cancel()
                    end()
                }
            })
        } catch {
            beat.cancel()
            continuation.finish()
            throw error
        }
        return stream
    }

    /// Registers a subscriber; `onEnd` is given what to do when its stream ends (forget it,
    /// stop reading its backlog) to install as the stream's termination handler.
    private func add(_ sink: Sink, after: Int64?, filter: EventFilter, onEnd: (@escaping @Sendable () -> Void) -> Void) throws {
        let last = try database.read { tx in try EventLog.lastSequence(in: tx) }
        let (id, liveFrom, start) = state.withLock { s -> (UInt64, Int64, Bool) in
            let start = !s.running
            if start {
                s.cursor = last
                s.running = true
            }
            let id = s.nextID
            s.nextID += 1
            let behind = after.map { $0 < s.cursor } ?? false
            s.subscribers[id] = Subscriber(filter: filter, liveFrom: s.cursor, sink: sink, held: behind ? [] : nil)
            return (id, s.cursor, start)
        }
        let database = self.database
        let backlog: Task<Void, Never>? = after.flatMap { after in
            guard after < liveFrom else { return nil }
            return Task { [weak self] in
                var cursor = after
                while cursor < liveFrom, !Task.isCancelled {
                    let from = cursor
                    guard let page = try? await offPool({
                        try database.read { tx in try EventLog.feed(after: from, limit: 500, filter: filter, in: tx) }
                    }) else { break }
                    Self.deliver(page.events.filter { $0.event.sequence <= liveFrom }, to: sink)
                    if page.lastRead <= cursor { break }
                    cursor = page.lastRead
                }
                self?.state.withLock { s in
                    guard let held = s.subscribers[id]?.held else { return }
                    Self.deliver(held, to: sink)
                    s.subscribers[id]?.held = nil
                }
            }
        }
        onEnd { [weak self] in
            backlog?.cancel()
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        if start { startThread() }
    }

    private static func deliver(_ items: [FeedEvent], to sink: Sink) {
        guard !items.isEmpty else { return }
        switch sink {
        case .events(let c): for item in items { c.yield(item) }
        case .frames(let c, let named): c.yield(items.map { ServerSentEvents.frame($0, named: named) }.joined())
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
            // Taken before the read: a commit after it wakes the wait below even if it came
            // before the wait began.
            let commits = EventLog.commits.current
            var page: [FeedEvent] = []
            if let read = try? database.read({ tx in try EventLog.feed(after: cursor, limit: 1000, in: tx) }) {
                page = read.events
            }
            if let last = page.last {
                // Each event framed once (with and without its type, as the streams want it),
                // outside the lock.
                var framed: [Bool: [String]] = [:]
                let modes = state.withLock { s in Set(s.subscribers.values.compactMap { sub -> Bool? in
                    if case .frames(_, let named) = sub.sink { return named }
                    return nil
                }) }
                for named in modes { framed[named] = page.map { ServerSentEvents.frame($0, named: named) } }
                state.withLock { s in
                    for id in s.subscribers.keys {
                        let sub = s.subscribers[id]!
                        let wanted = page.indices.filter { i in
                            page[i].event.sequence > sub.liveFrom
                                && sub.filter.matches(type: page[i].event.type, collection: page[i].collection)
                        }
                        guard !wanted.isEmpty else { continue }
                        if sub.held != nil {
                            s.subscribers[id]!.held!.append(contentsOf: wanted.map { page[$0] })
                            continue
                        }
                        switch sub.sink {
                        case .events(let c):
                            for i in wanted { c.yield(page[i]) }
                        case .frames(let c, let named):
                            // A stream that came after framing (rare) frames its own.
                            let frames = framed[named] ?? page.map { ServerSentEvents.frame($0, named: named) }
                            c.yield(wanted.map { frames[$0] }.joined())
                        }
                    }
                    s.cursor = last.event.sequence
                }
                if page.count == 1000 { continue }
            }
            // Woken by this process's next commit with events, or at the interval for those of
            // other processes (the CLI, other nodes). After a wake, a moment for the commits
            // that come with it (a file's events are several transactions): its events then go
            // to each stream as one write, not one write per commit.
            if EventLog.commits.wait(after: commits, timeout: interval) != commits {
                Thread.sleep(forTimeInterval: Double(Self.grouping.nanosecondsValue) / 1e9)
            }
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
}
