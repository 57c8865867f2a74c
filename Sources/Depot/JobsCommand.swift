import ArgumentParser
import DepotCore
import DepotQueue
import DepotRunner
import DepotStore
import Foundation
import Logging
import ServiceLifecycle

/// `depot jobs`: the processing jobs — list, show, add, retry, cancel. Each change is the
/// queue's one implementation, which the API calls too.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List and manage processing jobs.",
        subcommands: [List.self, Show.self, Add.self, Retry.self, Cancel.self],
        defaultSubcommand: List.self)

    /// Opens the root's job queue.
    static func openQueue(_ options: RootOptions) throws -> JobQueue {
        let context = try Context.resolve(options)
        try context.requireInitialised()
        return try context.openQueue()
    }

    /// The queue's refusals as the command's errors (no such job: 1; a change its state does
    /// not allow or a wrong kind or parameter: 64, without the usage text).
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as JobQueueError {
            throw CommandFailure(error.value == .notFound ? .notFound : .usage, error.message)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first.")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: "Only jobs in this state (\(JobState.allCases.map(\.rawValue).joined(separator: ", "))).")
        var state: String?

        @Option(name: .long, help: "Only jobs of this kind (\(JobKinds.all.map(\.name).joined(separator: ", "))).")
        var kind: String?

        @Option(name: .long, help: "At most this many jobs.")
        var limit: Int = 1000

        func validate() throws {
            if let state, JobState(rawValue: state) == nil {
                throw ValidationError("unknown state '\(state)' (one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let kind, JobKinds.named(kind) == nil {
                throw ValidationError("unknown kind '\(kind)' (one of \(JobKinds.all.map(\.name).joined(separator: ", ")))")
            }
        }

        func run() throws {
            let queue = try JobsCommand.openQueue(rootOptions)
            let jobs = try queue.records(try queue.jobs(state: state.flatMap(JobState.init(rawValue:)), kind: kind, limit: limit))
            if jobs.count == limit {
                // On stderr, so that --json stays parseable.
                printError("depot: the newest \(limit) jobs are listed; there may be more (--limit N lists more)")
            }
            if output.json {
                try printJSON(jobs)
                return
            }
            printTable(["ID", "STATE", "KIND", "TRIES", "PROGRESS", "TYPE", "DOCUMENT", "ERROR"], jobs.map { job in
                // A job that found the file unsupported is not shown as a success.
                let unsupported = job.state == .succeeded && job.outcome == JobOutcome.unsupported
                return ["\(job.id)", unsupported ? JobOutcome.unsupported : job.state.rawValue, job.kind, "\(job.attempts)/\(job.maxAttempts)", "\(job.progress)%",
                 job.mediaType, "\(job.collection ?? "?")/\(job.path ?? "?") v\(job.version ?? 0)",
                 job.lastError ?? (unsupported ? job.progressMessage ?? "" : "")]
            })
        }
    }

    /// A job with what it made, as `depot jobs show --json` prints it.
    struct Detail: Encodable {
        var job: JobRecord
        var artifacts: [ArtifactRecord]

        enum CodingKeys: String, CodingKey { case artifacts }

        func encode(to encoder: Encoder) throws {
            try job.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(artifacts, forKey: .artifacts)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one job.")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The job's id.")
        var id: Int64

        func run() throws {
            let queue = try JobsCommand.openQueue(rootOptions)
            guard let found = try queue.job(id: id) else { throw NotFound("no job \(id)") }
            let job = try queue.records([found])[0]
            let artifacts = job.state == .succeeded
                ? try queue.catalog.artifacts(versionID: job.versionID).map(ArtifactRecord.init) : []
            if output.json {
                try printJSON(Detail(job: job, artifacts: artifacts))
                return
            }
            var lines: [(String, String)] = [
                ("job", "\(job.id)"), ("kind", job.kind), ("state", job.state.rawValue),
                ("document", "\(job.collection ?? "?")/\(job.path ?? "?")"),
                ("version", "\(job.version ?? 0) (sha256 \(job.sha256?.hex ?? "?"))"),
                ("media type", "\(job.mediaType) (\(job.mediaClass))"), ("processor", job.processor ?? "-"),
                ("parameters", job.parameters.keys.sorted().map { "\($0)=\(job.parameters[$0]!)" }.joined(separator: " ")),
                ("queued by", job.queuedBy), ("attempts", "\(job.attempts) of \(job.maxAttempts)"), ("priority", "\(job.priority)"),
                ("progress", "\(job.progress)%" + (job.progressMessage.map { " — \($0)" } ?? "")),
                ("created", job.createdAt.description),
            ]
            if !job.waitsFor.isEmpty { lines.append(("waits for", job.waitsFor.map { "job \($0)" }.joined(separator: ", "))) }
            if let v = job.startedAt { lines.append(("started", v.description)) }
            if let v = job.finishedAt { lines.append(("finished", v.description)) }
            if let v = job.runAfter { lines.append(("next try", v.description)) }
            if let v = job.leaseOwner { lines.append(("lease", "\(v) until \(job.leaseExpiresAt?.description ?? "?")")) }
            if let v = job.outcome { lines.append(("outcome", v)) }
            if let v = job.processingMs { lines.append(("processing", String(format: "%.1f ms", v))) }
            if let v = job.lastError { lines.append(("last error", v)) }
            for a in artifacts { lines.append(("artifact", "\(a.kind) \(a.mimeType) \(humanBytes(a.size)) by \(a.producer) \(a.producerVersion)")) }
            let width = lines.map(\.0.count).max() ?? 0
            for (key, value) in lines { print(key + ":" + String(repeating: " ", count: width - key.count + 1) + value) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Queue a job of a kind for a document's version; it runs before background work.",
            discussion: "Kinds: " + JobKinds.all.map { kind in
                "\(kind.name) (\(kind.summary)" + (kind.parameters.isEmpty ? "" : "; " + kind.parameters.map {
                    "\($0.name): \($0.help), default \($0.defaultValue)"
                }.joined(separator: "; ")) + ")"
            }.joined(separator: ", ") + ".")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "COLLECTION/PATH of the document.")
        var path: String

        @Option(name: .long, help: "The kind of job (\(JobKinds.all.map(\.name).joined(separator: ", "))).")
        var kind: String

        @Option(name: .long, help: "The version number (default: the current one).")
        var version: Int?

        @Option(name: .customLong("param"), help: "A parameter NAME=VALUE (repeatable), e.g. --param width=640.")
        var parameters: [String] = []

        @Option(name: .long, help: "Its priority, -1000 to 1000 (default: \(JobQueue.personPriority), before background work).")
        var priority: Int?

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let given = try JobsCommand.parameters(parameters)
            let (queue, v, job) = try JobsCommand.enqueue(kind: kind, path: path, version: version, parameters: given, priority: priority,
                                                   context: context)
            if output.json {
                try printJSON(try queue.records([job])[0])
            } else {
                print("job \(job.id) queued: \(job.kind) of \(path) v\(v.number)"
                      + (job.waitsFor.isEmpty ? "" : " (after job \(job.waitsFor.map(String.init).joined(separator: ", ")))"))
            }
        }
    }

    /// `--param NAME=VALUE` options as parameters (text; the kind converts them).
    static func parameters(_ options: [String]) throws -> JobParameters {
        var given: JobParameters = [:]
        for text in options {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw ValidationError("--param takes NAME=VALUE (got '\(text)')")
            }
            given[String(text[..<equals])] = .string(String(text[text.index(after: equals)...]))
        }
        return given
    }

    /// Queues a person's job of `kind` for COLLECTION/PATH (its current version unless one is named).
    static func enqueue(kind: String, path: String, version: Int?, parameters: JobParameters, priority: Int?,
                        context: Context) throws -> (JobQueue, VersionInfo, Job) {
        let (collection, inside) = try splitDocumentPath(path)
        let queue = try context.openQueue()
        guard let v = try queue.catalog.version(collection: collection, path: inside, number: version) else {
            throw NotFound(version.map { "no version \($0) of \(path)" } ?? "no document \(path)")
        }
        let job = try JobsCommand.run {
            try queue.enqueue(kind: kind, versionID: v.id, parameters: parameters, priority: priority, queuedBy: "cli",
                              chooser: Context.chooseProcessor)
        }
        return (queue, v, job)
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Run a failed, dead, skipped or cancelled job again (or every dead job), with fresh attempts.")

        @OptionGroup var rootOptions: RootOptions

        @Argument(help: "The job's id.")
        var id: Int64?

        @Flag(name: .long, help: "Retry every dead job.")
        var dead = false

        func validate() throws {
            guard (id == nil) != (dead == false) else { throw ValidationError("give a job id or --dead (not both)") }
        }

        func run() throws {
            let queue = try JobsCommand.openQueue(rootOptions)
            if dead {
                let count = try queue.retryDead()
                print("queued \(count) dead job\(count == 1 ? "" : "s") again")
            } else if let id {
                let job = try JobsCommand.run { try queue.retry(id: id) }
                print("job \(id) \(job.state == .waiting ? "waits to run again" : "queued again")")
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job that has not finished.")

        @OptionGroup var rootOptions: RootOptions

        @Argument(help: "The job's id.")
        var id: Int64

        func run() throws {
            let queue = try JobsCommand.openQueue(rootOptions)
            _ = try JobsCommand.run { try queue.cancel(id: id) }
            print("job \(id) cancelled")
        }
    }
}

extension Context {
    /// The daemon's job runner: its own catalog connection, so that jobs finishing never wait
    /// behind the ingest's lock, and workers that are `depot-worker` processes.
    func jobRunner(logger: Logger) throws -> JobRunner {
        // The runner's own transactions (leases, heartbeats, results) need not wait for an fsync
        // each: WAL keeps them atomic and in order, the next full commit of the ingest makes them
        // durable, and one lost in a power cut is only done again (a lease is recovered, a
        // result recomputed — events are at-least-once anyway). Artifact blobs are still fsynced
        // before the transaction that names them.
        let queue = try openQueue(durability: .normal)
        return JobRunner(queue: queue, store: try openStore(), layout: layout,
                         workerCommand: [JobRunner.workerExecutable] + JobRunner.workerArguments(config.jobs) + workerRootArguments,
                         logger: logger)
    }

    /// What tells a worker the config its processors read ([generate], [speech]).
    var workerRootArguments: [String] {
        ["--root", layout.root] + (configPath.map { ["--config", $0] } ?? [])
    }

    /// One local file's jobs in a worker of their own, without limits or niceness (the
    /// commands and benchmarks that look at one file); `context` gives the config.
    static func localRun(_ context: Context?) -> LocalRun {
        LocalRun(workerCommand: [JobRunner.workerExecutable, "--nice", "0"] + (context?.workerRootArguments ?? []))
    }
}
