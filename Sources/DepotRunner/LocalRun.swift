import DepotCore
import DepotDetect
import Foundation

/// Jobs on one local file, outside any root's queue (`depot extract`, `depot render --file`,
/// `depot generate --file`/`--from`): each runs in a `depot-worker` process as the daemon's
/// jobs do, one kind after another, a later kind reading what the earlier ones wrote. The
/// command that asks never links a processor.
public struct LocalRun {
    /// The worker's command line, executable first (`JobRunner.workerExecutable` and its options).
    public let workerCommand: [String]
    public let environment: [String: String]

    public init(workerCommand: [String], environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.workerCommand = workerCommand
        var environment = environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        self.environment = environment
    }

    /// What one kind's job said when it did not write its artifacts.
    public struct Failure: Error, CustomStringConvertible {
        public let kind: String
        public let reason: String
        public var description: String { reason.hasPrefix(kind + ":") ? reason : "\(kind): \(reason)" }
    }

    /// Runs, for each of `kinds` that a processor does for `mediaType`, the processor the
    /// daemon would choose, all into `outputDirectory`, and returns what each wrote (or why it
    /// did not) in order; a kind no processor does is passed over. One worker does them all.
    /// - Parameter inputs: artifacts of earlier jobs the first kind reads (`generate --from`);
    ///   later kinds read the earlier kinds' artifacts too.
    /// - Throws: `SystemError` when no worker can be started.
    public func run(path: String, mediaType: String, name: String, kinds: [String], parameters: [String: ParameterValue],
                    outputDirectory: String, inputs: [String: String] = [:]) throws -> [Result<[ProducedArtifact], Failure>] {
        let choices = ProcessorChoices.standard(testProcessors: ProcessorChoices.testProcessorsEnabled)
        let chosen = kinds.compactMap { kind in choices.select(kind: kind, mediaType: mediaType).map { (kind, $0) } }
        guard !chosen.isEmpty else { return [] }
        let worker = try WorkerProcess(command: workerCommand, environment: environment) { line in
            FileHandle.standardError.write(Data("depot-worker: \(line)\n".utf8))
        }
        defer { worker.stop() }
        guard case .message(let ready) = worker.next(until: .max), ready.type == .ready else {
            let status = worker.waitForExit()
            throw Failure(kind: kinds[0], reason: "the worker did not start (\(worker.describeExit(status: status, memoryLimit: 0, cpuSeconds: 0).reason))")
        }
        var results: [Result<[ProducedArtifact], Failure>] = []
        var available = inputs
        for (index, (kind, choice)) in chosen.enumerated() {
            let request = WorkerRequest(jobID: Int64(index + 1), kind: kind, processor: choice.name, parameters: parameters,
                                        blobPath: path, mediaType: mediaType, name: name, outputDirectory: outputDirectory,
                                        inputs: available)
            guard worker.send(request) else {
                results.append(.failure(Failure(kind: kind, reason: "the worker is gone")))
                break
            }
            let (outcome, alive) = result(of: worker, kind: kind)
            if case .success(let artifacts) = outcome {
                for artifact in artifacts { available[artifact.kind] = outputDirectory + "/" + artifact.file }
            }
            results.append(outcome)
            if !alive { break }
        }
        return results
    }

    /// The job's result, and whether the worker lives on for the next one (a crash is this
    /// job's failure, with how the worker ended).
    private func result(of worker: WorkerProcess, kind: String) -> (Result<[ProducedArtifact], Failure>, Bool) {
        while true {
            switch worker.next(until: .max) {
            case .message(let message) where message.type == .result:
                if message.status == .processed { return (.success(message.artifacts ?? []), true) }
                return (.failure(Failure(kind: kind, reason: message.error ?? "failed")), true)
            case .message:
                continue
            case .closed, .timeout:
                let status = worker.waitForExit()
                let reason = worker.describeExit(status: status, memoryLimit: 0, cpuSeconds: 0).reason
                return (.failure(Failure(kind: kind, reason: reason)), false)
            }
        }
    }
}
