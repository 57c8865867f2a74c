import ArgumentParser
import DepotAnalytics
import DepotCore
import DepotOutbox
import DepotQueue
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle

/// `depot outbox rebuild`: the outbox is a projection of the catalog; this recreates it.
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Work on the outbox (the published results).",
        subcommands: [OutboxRebuildCommand.self])
}

struct OutboxRebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Recreate outbox/ from the catalog: publish every document, remove folders of documents the catalog does not have.",
        discussion: "outbox/events.jsonl is kept. Safe to run while `depot serve` runs.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try Context.resolve(rootOptions)
        bootstrapLogging(level: logLevel(context.config.logLevel))
        try context.requireInitialised()
        let publisher = try context.outboxPublisher(queue: try context.openQueue(), logger: Logger(label: "depot.outbox"))
        var progress: Progress?
        let started = monotonicNanoseconds()
        let report = try publisher.rebuild { done, total in
            if progress == nil { progress = Progress(label: "rebuild", total: Int64(total)) }
            progress?.update(done: Int64(done), detail: "\(done)/\(total) documents")
        }
        progress?.finish()
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        if output.json {
            try printJSON(Report(published: report.published, removed: report.removed, failed: report.failed, seconds: seconds,
                                 outbox: context.layout.outbox))
        } else {
            print("published \(report.published) documents, removed \(report.removed) stale folders"
                  + (report.failed > 0 ? ", \(report.failed) failed" : "") + " in \(context.layout.outbox)")
        }
        if report.failed > 0 { throw ExitCode(1) }
    }

    struct Report: Encodable {
        var published, removed, failed: Int
        var seconds: Double
        var outbox: String
    }
}

/// `depot events`: the event log, oldest first; `--follow` goes on with new events as they
/// are committed (the same feed as GET /api/v1/events/stream).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List the event log (what outbox/events.jsonl and the webhooks receive).")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Only events after this sequence number.")
    var after: Int64 = 0

    @Option(name: .long, help: "At most this many events.")
    var limit: Int = 1000

    @Flag(name: .long, help: "List webhook deliveries (newest first) instead of events.")
    var deliveries = false

    @Flag(name: [.short, .long], help: "Keep printing events as they happen (from --after, else from now) until interrupted.")
    var follow = false

    @Option(name: .long, help: "Only events of this type, or family (job.*); may be given more than once.")
    var type: [String] = []

    @Option(name: .long, help: "Only events about documents of this collection.")
    var collection: String?

    func run() async throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let catalog = try context.openCatalog()
        if deliveries {
            let rows = try DispatchState.deliveries(database: catalog.database, limit: limit)
            if output.json {
                try printJSON(rows)
            } else {
                printTable(["SEQ", "EVENT", "WEBHOOK", "STATE", "ATTEMPTS", "LAST"], rows.map {
                    ["\($0.eventSequence)", $0.eventID, $0.webhook, $0.state, "\($0.attempts)",
                     $0.lastError ?? $0.lastStatus.map { "HTTP \($0)" } ?? ""]
                })
            }
            return
        }
        let filter = EventFilter(types: type.flatMap { $0.split(separator: ",").map(String.init) }, collection: collection)
        if follow {
            let hub = EventHub(database: catalog.database, interval: context.config[AnalyticsSettings.self].feedInterval)
            for await item in try hub.subscribe(after: after > 0 ? after : nil, filter: filter) {
                let event = item.event
                if output.json {
                    print("{\"seq\":\(event.sequence)," + event.envelopeJSON.dropFirst())
                } else {
                    print("\(event.sequence)  \(timestamp(event.timestampNanoseconds))  \(event.type)  \(event.id)  \(event.dataJSON.prefix(100))")
                }
                fflush(nil)  // every stream: a pipe reader sees each event at once
            }
            return
        }
        let events = try catalog.database.read { tx in
            try EventLog.feed(after: after, limit: limit, scan: max(limit, 2000), filter: filter, in: tx).events.map(\.event)
        }
        if events.count == limit, let last = events.last {
            printError("depot: \(limit) events are listed; more may follow (--after \(last.sequence) lists the next ones)")
        }
        if output.json {
            // One envelope per line, exactly as events.jsonl has them, with the sequence number.
            for event in events {
                print("{\"seq\":\(event.sequence)," + event.envelopeJSON.dropFirst())
            }
        } else {
            printTable(["SEQ", "TIME", "EVENT", "ID", "DATA"], events.map {
                ["\($0.sequence)", timestamp($0.timestampNanoseconds), $0.type, $0.id, String($0.dataJSON.prefix(100))]
            })
        }
    }
}

extension Context {
    /// The publisher for this root's outbox, with the configured modes and group.
    func outboxPublisher(queue: JobQueue, logger: Logger) throws -> OutboxPublisher {
        try makeDirectories(layout.outbox)
        return try OutboxPublisher(root: layout.outbox, queue: queue, store: try openStore(), settings: config.outbox, logger: logger)
    }

    /// The event dispatcher of `depot serve`, on its own catalog connection (so that it never
    /// waits for the ingest's lock; WAL lets both work).
    func eventDispatcher(logger: Logger) throws -> EventDispatcher {
        try EventDispatcher(publisher: try outboxPublisher(queue: try openQueue(), logger: logger),
                            settings: config.outbox, webhooks: config.webhooks, logger: logger)
    }
}
