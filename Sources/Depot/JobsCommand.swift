import ArgumentParser
import DepotCore
import DepotJobs
import DepotStore
import Foundation
import Logging
import ServiceLifecycle

/// `depot jobs`: the processing jobs — list, show, retry, cancel.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List and manage processing jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self],
        defaultSubcommand: List.self)

    /// Opens the root's job queue.
    static func openQueue(_ options: RootOptions) throws -> JobQueue {
        let context = try Context.resolve(options)
        try context.requireInitialised()
        return JobQueue(catalog: try context.openCatalog(), settings: context.config.jobs)
    }

    /// A job as JSON for `--json`.
    static func json(_ job: Job) -> [String: Any] {
        var object: [String: Any] = [
            "id": job.id, "kind": job.kind, "state": job.state.rawValue, "priority": job.priority,
            "attempts": job.attempts, "max_attempts": job.maxAttempts, "progress": job.progress,
            "document_id": job.documentID, "version_id": job.versionID, "version": job.versionNumber,
            "collection": job.collection, "path": job.path, "sha256": job.digest.hex,
            "media_class": job.mediaClass, "created_at": timestamp(job.createdAtNanoseconds),
            "updated_at": timestamp(job.updatedAtNanoseconds),
        ]
        object["media_type"] = job.mediaType ?? NSNull()
        object["processor"] = job.processor ?? NSNull()
        object["outcome"] = job.outcome ?? NSNull()
        object["last_error"] = job.lastError ?? NSNull()
        object["progress_message"] = job.progressMessage ?? NSNull()
        object["lease_owner"] = job.leaseOwner ?? NSNull()
        object["lease_expires_at"] = job.leaseExpiresNanoseconds.map(timestamp) ?? NSNull()
        object["run_after"] = job.runAfterNanoseconds > 0 ? timestamp(job.runAfterNanoseconds) : NSNull()
        object["started_at"] = job.startedAtNanoseconds.map(timestamp) ?? NSNull()
        object["finished_at"] = job.finishedAtNanoseconds.map(timestamp) ?? NSNull()
        object["processing_ms"] = job.processingNanoseconds.map { Double($0) / 1e6 } ?? NSNull()
        object["output_bytes"] = job.outputBytes ?? NSNull()
        return object
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first.")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: "Only jobs in this state (queued, running, succeeded, failed, dead, cancelled).")
        var state: String?

        @Option(name: .long, help: "Only jobs of this kind (process).")
        var kind: String?

        @Option(name: .long, help: "At most this many jobs.")
        var limit: Int = 1000

        func validate() throws {
            if let state, JobState(rawValue: state) == nil {
                throw ValidationError("unknown state '\(state)' (one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        func run() throws {
            let queue = try JobsCommand.openQueue(rootOptions)
            let jobs = try queue.jobs(state: state.flatMap(JobState.init(rawValue:)), kind: kind, limit: limit)
            if output.json {
                try printJSON(jobs.map(JobsCommand.json))
                return
            }
            printTable(["ID", "STATE", "KIND", "TRIES", "PROGRESS", "TYPE", "DOCUMENT", "ERROR"], jobs.map { job in
                ["\(job.id)", job.state.rawValue, job.kind, "\(job.attempts)/\(job.maxAttempts)", "\(job.progress)%",
                 job.mediaType ?? "-", "\(job.collection)/\(job.path) v\(job.versionNumber)", job.lastError ?? ""]
            })
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
            guard let job = try queue.job(id: id) else { throw NotFound("no job \(id)") }
            let artifacts = job.state == .succeeded ? try queue.catalog.artifacts(versionID: job.versionID) : []
            if output.json {
                var object = JobsCommand.json(job)
                object["artifacts"] = artifacts.map { a -> [String: Any] in
                    ["kind": a.kind, "mime_type": a.mimeType, "sha256": a.digest.hex, "size": a.size,
                     "producer": a.producer, "producer_version": a.producerVersion]
                }
                try printJSON(object)
                return
            }
            var lines: [(String, String)] = [
                ("job", "\(job.id)"), ("kind", job.kind), ("state", job.state.rawValue),
                ("document", "\(job.collection)/\(job.path)"), ("version", "\(job.versionNumber) (sha256 \(job.digest.hex))"),
                ("media type", "\(job.mediaType ?? "-") (\(job.mediaClass))"), ("processor", job.processor ?? "-"),
                ("attempts", "\(job.attempts) of \(job.maxAttempts)"), ("priority", "\(job.priority)"),
                ("progress", "\(job.progress)%" + (job.progressMessage.map { " — \($0)" } ?? "")),
                ("created", timestamp(job.createdAtNanoseconds)),
            ]
            if let v = job.startedAtNanoseconds { lines.append(("started", timestamp(v))) }
            if let v = job.finishedAtNanoseconds { lines.append(("finished", timestamp(v))) }
            if job.state == .failed { lines.append(("next try", timestamp(job.runAfterNanoseconds))) }
            if let v = job.leaseOwner { lines.append(("lease", "\(v) until \(timestamp(job.leaseExpiresNanoseconds ?? 0))")) }
            if let v = job.outcome { lines.append(("outcome", v)) }
            if let v = job.processingNanoseconds { lines.append(("processing", String(format: "%.1f ms", Double(v) / 1e6))) }
            if let v = job.lastError { lines.append(("last error", v)) }
            for a in artifacts { lines.append(("artifact", "\(a.kind) \(a.mimeType) \(humanBytes(a.size)) by \(a.producer) \(a.producerVersion)")) }
            let width = lines.map(\.0.count).max() ?? 0
            for (key, value) in lines { print(key + ":" + String(repeating: " ", count: width - key.count + 1) + value) }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "retry", abstract: "Queue a job again (or every dead job).")

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
                try queue.retry(id: id)
                print("job \(id) queued again")
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job that has not finished.")

        @OptionGroup var rootOptions: RootOptions

        @Argument(help: "The job's id.")
        var id: Int64

        func run() throws {
            try JobsCommand.openQueue(rootOptions).cancel(id: id)
            print("job \(id) cancelled")
        }
    }
}


extension Context {
    /// The daemon's job runner: its own catalog connection, so that jobs finishing never wait
    /// behind the ingest's lock, and workers that are this very binary (`depot worker`).
    func jobRunner(logger: Logger) throws -> JobRunner {
        let catalog = try openCatalog()
        // The runner's own transactions (leases, heartbeats, results) need not wait for an fsync
        // each: WAL keeps them atomic and in order, the next FULL commit of the ingest makes them
        // durable, and one lost in a power cut is only done again (a lease is recovered, a
        // result recomputed — events are at-least-once anyway). Artifact blobs are still fsynced
        // before the transaction that names them.
        try catalog.withConnection { try $0.execute("PRAGMA synchronous=NORMAL") }
        let queue = JobQueue(catalog: catalog, settings: config.jobs)
        // /proc/self/exe is this very binary even after an upgrade replaced the file on disk,
        // so daemon and workers always speak the same protocol.
        return JobRunner(queue: queue, store: try openStore(), layout: layout,
                         workerCommand: ["/proc/self/exe", "worker"] + JobRunner.workerArguments(config.jobs), logger: logger)
    }
}
