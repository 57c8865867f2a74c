/// Where a job is in its life: the one vocabulary the queue, the runner, the API, the CLI,
/// the manifests and the metrics use.
public enum JobState: String, Sendable, CaseIterable, Codable, Comparable {
    /// Waits for the jobs it depends on to succeed.
    case waiting
    /// Ready to run.
    case queued
    /// A worker has it.
    case running
    /// Failed for a reason that may pass (a crash, a busy disk); runs again after a backoff.
    case retrying
    case succeeded
    /// Failed for a reason that will not pass by retrying (a damaged or refused file, a limit
    /// it ran out of): once, with the reason.
    case failed
    /// Retried `max_attempts` times and failed each time.
    case dead
    /// Not run, because a job it waits for did not succeed.
    case skipped
    /// Cancelled by a person.
    case cancelled

    /// Whether the job will not change again by itself.
    public var isFinished: Bool {
        switch self {
        case .succeeded, .failed, .dead, .skipped, .cancelled: return true
        case .waiting, .queued, .running, .retrying: return false
        }
    }

    /// Finished without success: what waits for it is skipped.
    public var endedWithoutSuccess: Bool { isFinished && self != .succeeded }

    public static func < (a: JobState, b: JobState) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Where processing of one version stands, from its jobs: the one rule the API's documents,
/// their `status` filter, the outbox's manifests and `depot jobs` share.
public enum ProcessingStatus: String, Sendable, CaseIterable, Codable {
    /// No job (yet).
    case none
    /// Some job waits or is queued, none runs.
    case queued
    case running
    /// Some job failed or died (and nothing is still to run).
    case failed
    /// Every job that ran succeeded.
    case succeeded
    /// Every job that ran found no processor for the file.
    case unsupported
    /// Nothing ran: its jobs were cancelled (or skipped after a cancellation).
    case cancelled

    /// The status of a version whose jobs are in `jobs` (state and outcome each).
    /// Precedence: running, then queued (waiting, queued, retrying), then failed (failed,
    /// dead), then what the finished jobs came to.
    public static func of(_ jobs: [(state: JobState, outcome: String?)]) -> ProcessingStatus {
        if jobs.isEmpty { return .none }
        let states = Set(jobs.map(\.state))
        if states.contains(.running) { return .running }
        if !states.isDisjoint(with: [.waiting, .queued, .retrying]) { return .queued }
        if !states.isDisjoint(with: [.failed, .dead]) { return .failed }
        let done = jobs.filter { $0.state == .succeeded }
        if done.isEmpty { return states.contains(.cancelled) ? .cancelled : .none }
        return done.allSatisfy({ $0.outcome == JobOutcome.unsupported }) ? .unsupported : .succeeded
    }

    /// Whether nothing is left to run.
    public var isFinished: Bool { self != .queued && self != .running }
}

/// What a succeeded job came to.
public enum JobOutcome {
    /// Its processor made its artifacts.
    public static let processed = "processed"
    /// No processor handles this kind of work for this media type.
    public static let unsupported = "unsupported"
}
