import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// The worker's main loop: reads job lines on stdin, runs the processor each names within the
/// job's limits, answers on stdout. It never touches the catalog or the store; it exits at end
/// of input, or as soon as its parent is gone (so an orphan never keeps running after a
/// `kill -9` of the daemon).
public enum WorkerMain {
    public static func run(limits: WorkerLimits, registry: ProcessorRegistry) -> Int32 {
        let parent = getppid()
        do {
            try limits.apply()
        } catch {
            writeStandardError("depot worker: cannot set limits: \(error)\n")
            return 1
        }
        let watchdog = Thread {
            while getppid() == parent { usleep(200_000) }
            _exit(70)
        }
        watchdog.start()
        var ready = WorkerMessage(type: .ready)
        ready.pid = getpid()
        send(ready)

        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.isEmpty { continue }
                guard let request = try? JSONDecoder().decode(WorkerRequest.self, from: Data(line)) else {
                    writeStandardError("depot worker: unreadable request line\n")
                    return 2
                }
                let result: WorkerMessage
                do {
                    try limits.arm(memoryLimit: request.memoryLimit, cpuSeconds: request.cpuSeconds)
                    result = handle(request, registry: registry)
                } catch {
                    // Never run a job without the limits it was promised.
                    result = failure(of: request, WorkerError("cannot set the job's limits: \(error)"),
                                     started: monotonicNanoseconds())
                }
                try? limits.disarm()
                send(result)
                continue
            }
            let n = chunk.withUnsafeMutableBytes { raw in (try? sysCall("read") { read(0, raw.baseAddress!, raw.count) }) ?? 0 }
            if n <= 0 { return 0 }
            buffer += chunk[0..<n]
        }
    }

    /// Runs one job in this process (no limits: `run` arms them around it) and returns its
    /// result message: the processor the request names, never another; an error result,
    /// permanent, when this worker has no processor of that name or it does another kind.
    /// - Parameter report: where progress messages go (stdout in a worker).
    static func handle(_ request: WorkerRequest, registry: ProcessorRegistry,
                       report: @escaping @Sendable (WorkerMessage) -> Void = send) -> WorkerMessage {
        let started = monotonicNanoseconds()
        guard let processor = registry.processor(named: request.processor) else {
            return failure(of: request, WorkerError("this worker has no processor named \(request.processor)"), started: started)
        }
        var result = WorkerMessage(type: .result, jobID: request.jobID)
        result.processor = processor.name
        result.processorVersion = processor.version
        let jobID = request.jobID
        let said = Mutex<JobReport?>(nil)
        do {
            guard processor.kind == request.kind else {
                throw WorkerError("processor \(processor.name) does \(processor.kind) jobs, not \(request.kind)")
            }
            var input = ProcessorInput(path: request.blobPath, mediaType: request.mediaType, name: request.name,
                                       parameters: request.parameters, outputDirectory: request.outputDirectory,
                                       inputs: request.inputs) { percent, message in
                var progress = WorkerMessage(type: .progress, jobID: jobID)
                progress.progress = max(0, min(100, percent))
                progress.message = message
                report(progress)
            }
            input.report = { figures in said.withLock { $0 = figures } }
            result.artifacts = try processor.process(input)
            result.status = .processed
            result.transient = false
        } catch let unsupported as MediaUnsupported {
            // What this build cannot read: the job ends as unsupported, with the reason.
            result.status = .unsupported
            result.error = unsupported.description
            result.artifacts = []
            result.transient = false
        } catch {
            result.status = .error
            result.error = "\(error)"
            result.transient = ProcessorFailure.isTransient(error)
        }
        result.report = said.withLock { $0 }
        result.processingNanoseconds = monotonicNanoseconds() - started
        result.timestampNanoseconds = wallClockNanoseconds()
        return result
    }

    /// An error result for a job no processor ran.
    private static func failure(of request: WorkerRequest, _ error: Error, started: Int64) -> WorkerMessage {
        var result = WorkerMessage(type: .result, jobID: request.jobID)
        result.status = .error
        result.error = "\(error)"
        result.transient = ProcessorFailure.isTransient(error)
        result.processingNanoseconds = monotonicNanoseconds() - started
        return result
    }

    private static let outputLock = NSLock()

    /// Writes one message line on stdout.
    @Sendable static func send(_ message: WorkerMessage) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(message) else { return }
        data.append(0x0A)
        outputLock.withLock {
            data.withUnsafeBytes { _ = try? writeFully(1, $0) }
        }
    }
}

/// Why the worker itself could not run a job (as opposed to the processor failing on it).
struct WorkerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to stderr (fd 2) without stdio, which is safe from any thread.
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != 0x0A { bytes.append(0x0A) }
    bytes.withUnsafeBytes { _ = try? writeFully(2, $0) }
}
