import ArgumentParser
import DepotCore
import DepotOutbox
import DepotStore
import Foundation
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
        let publisher = try context.outboxPublisher(catalog: try context.openCatalog(), logger: Logger(label: "depot.outbox"))
        var progress: Progress?
        let started = monotonicNanoseconds()
        let report = try publisher.rebuild { done, total in
            if progress == nil { progress = Progress(label: "rebuild", total: Int64(total)) }
            progress?.update(done: Int64(done), detail: "\(done)/\(total) documents")
        }
        progress?.finish()
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        if output.json {
            try printJSON(["published": report.published, "removed": report.removed, "failed": report.failed,
                           "seconds": seconds, "outbox": context.layout.outbox])
        } else {
            print("published \(report.published) documents, removed \(report.removed) stale folders"
                  + (report.failed > 0 ? ", \(report.failed) failed" : "") + " in \(context.layout.outbox)")
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}

/// `depot events`: the event log, oldest first.
struct EventsCommand: ParsableCommand {
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

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let catalog = try context.openCatalog()
        if deliveries {
            let rows = try EventDispatcher.deliveries(catalog: catalog, limit: limit)
            if output.json {
                try printJSON(rows.map { d -> [String: Any] in
                    var o: [String: Any] = ["webhook": d.webhook, "seq": d.eventSequence, "event_id": d.eventID, "state": d.state,
                                            "attempts": d.attempts, "next_attempt": timestamp(d.nextAttemptNanoseconds),
                                            "updated_at": timestamp(d.updatedAtNanoseconds)]
                    if let s = d.lastStatus { o["last_status"] = s }
                    if let e = d.lastError { o["last_error"] = e }
                    return o
                })
            } else {
                printTable(["SEQ", "EVENT", "WEBHOOK", "STATE", "ATTEMPTS", "LAST"], rows.map {
                    ["\($0.eventSequence)", $0.eventID, $0.webhook, $0.state, "\($0.attempts)",
                     $0.lastError ?? $0.lastStatus.map { "HTTP \($0)" } ?? ""]
                })
            }
            return
        }
        let events = try catalog.withConnection { db in try EventLog.events(after: after, limit: limit, in: db) }
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
    func outboxPublisher(catalog: SQLiteCatalog, logger: Logger) throws -> OutboxPublisher {
        try makeDirectories(layout.outbox)
        return try OutboxPublisher(root: layout.outbox, catalog: catalog, store: try openStore(),
                                   settings: config.outbox, logger: logger)
    }

    /// The event dispatcher of `depot serve`, on its own catalog connection (so that it never
    /// waits for the ingest's lock; WAL lets both work).
    func eventDispatcher(logger: Logger) throws -> EventDispatcher {
        let catalog = try openCatalog()
        return try EventDispatcher(catalog: catalog, publisher: try outboxPublisher(catalog: catalog, logger: logger),
                                   settings: config.outbox, webhooks: config.webhooks, logger: logger)
    }
}
