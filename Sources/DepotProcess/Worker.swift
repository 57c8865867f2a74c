import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon → worker message: one job. One JSON object per line on the worker's stdin.
public struct WorkerRequest: Codable, Sendable, Equatable {
    public var jobID: Int64
    /// The stored blob to read.
    public var blobPath: String
    /// The type the daemon detected from the bytes.
    public var mediaType: String
    /// The document's file name (never used to detect the type).
    public var name: String
    /// An empty folder for the artifacts.
    public var outputDirectory: String

    public init(jobID: Int64, blobPath: String, mediaType: String, name: String, outputDirectory: String) {
        self.jobID = jobID
        self.blobPath = blobPath
        self.mediaType = mediaType
        self.name = name
        self.outputDirectory = outputDirectory
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", blobPath = "blob_path", mediaType = "media_type", name
        case outputDirectory = "output_dir"
    }
}

/// A worker → daemon message, one JSON object per line on the worker's stdout: "ready" once
/// the worker is set up, "progress" while a job runs, and one "result" per job.
public struct WorkerMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case ready, progress, result }
    public enum Status: String, Codable, Sendable {
        /// Artifacts were written.
        case processed
        /// No processor handles the type: recorded, not failed.
        case unsupported
        /// The processor threw; the job fails (and is retried).
        case error
    }

    public var type: Kind
    public var jobID: Int64?
    public var pid: Int32?
    /// Wall clock of the message (ns since the epoch).
    public var timestampNanoseconds: Int64
    public var progress: Int?
    public var message: String?
    public var status: Status?
    public var processor: String?
    public var processorVersion: String?
    /// Time spent inside the processor (monotonic).
    public var processingNanoseconds: Int64?
    public var artifacts: [ProducedArtifact]?
    public var error: String?

    public init(type: Kind, jobID: Int64? = nil) {
        self.type = type
        self.jobID = jobID
        timestampNanoseconds = wallClockNanoseconds()
    }

    enum CodingKeys: String, CodingKey {
        case type, pid, progress, message, status, processor, artifacts, error
        case jobID = "job_id", timestampNanoseconds = "t"
        case processorVersion = "processor_version", processingNanoseconds = "processing_ns"
    }
}

/// Resource limits a worker sets on itself before it takes any job.
public struct WorkerLimits: Sendable, Equatable {
    /// RLIMIT_AS: address space in bytes (0: unlimited).
    public var addressSpaceBytes: Int64 = 0
    /// CPU seconds per job (RLIMIT_CPU, re-armed before each job; 0: unlimited).
    public var cpuSecondsPerJob: Int = 0
    /// RLIMIT_NOFILE.
    public var openFiles: Int = 256
    /// Added niceness (setpriority), so that processing yields to ingest and HTTP.
    public var nice: Int = 10

    public init(addressSpaceBytes: Int64 = 0, cpuSecondsPerJob: Int = 0, openFiles: Int = 256, nice: Int = 10) {
        self.addressSpaceBytes = addressSpaceBytes
        self.cpuSecondsPerJob = cpuSecondsPerJob
        self.openFiles = openFiles
        self.nice = nice
    }

    /// Applies the limits to this process.
    public func apply() throws {
        // No core dumps: writing one for a worker near its memory limit would take long and fill the disk.
        try setLimit(RLIMIT_CORE, soft: 0, hard: 0)
        if openFiles > 0 { try setLimit(RLIMIT_NOFILE, soft: UInt64(openFiles), hard: UInt64(openFiles)) }
        if addressSpaceBytes > 0 {
            try setLimit(RLIMIT_AS, soft: UInt64(addressSpaceBytes), hard: UInt64(addressSpaceBytes))
        }
        if nice != 0 {
            errno = 0
            try sysCall("setpriority") { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(nice)) }
        }
    }

    /// Re-arms RLIMIT_CPU so that this job gets `cpuSecondsPerJob` more seconds; past them the
    /// kernel sends SIGXCPU, which ends the worker.
    public func armCPULimit() throws {
        guard cpuSecondsPerJob > 0 else { return }
        var usage = rusage()
        try sysCall("getrusage") { getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) }
        let used = Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec) + 1
        try setLimit(RLIMIT_CPU, soft: UInt64(used + cpuSecondsPerJob), hard: UInt64.max)
    }

    private func setLimit(_ resource: __rlimit_resource, soft: UInt64, hard: UInt64) throws {
        var current = rlimit()
        try sysCall("getrlimit") { getrlimit(__rlimit_resource_t(resource.rawValue), &current) }
        // An unprivileged process cannot raise its hard limit: stay within the one it has.
        var limit = rlimit(rlim_cur: rlim_t(min(soft, UInt64(current.rlim_max))),
                           rlim_max: rlim_t(min(hard, UInt64(current.rlim_max))))
        try sysCall("setrlimit") { setrlimit(__rlimit_resource_t(resource.rawValue), &limit) }
    }
}

/// The worker's main loop: reads job lines on stdin, runs the chosen processor, answers on
/// stdout. It never touches the catalog or the store; it exits at end of input, or as soon
/// as its parent is gone (so an orphan never keeps running after a `kill -9` of the daemon).
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
                try? limits.armCPULimit()
                send(handle(request, registry: registry))
                continue
            }
            let n = chunk.withUnsafeMutableBytes { raw in (try? sysCall("read") { read(0, raw.baseAddress!, raw.count) }) ?? 0 }
            if n <= 0 { return 0 }
            buffer += chunk[0..<n]
        }
    }

    /// Runs one job and returns its result message.
    static func handle(_ request: WorkerRequest, registry: ProcessorRegistry) -> WorkerMessage {
        var result = WorkerMessage(type: .result, jobID: request.jobID)
        let started = monotonicNanoseconds()
        let jobID = request.jobID
        do {
            let head = try ReadOnlyFile(path: request.blobPath).read(at: 0, count: 64)
            guard let processor = registry.select(mediaType: request.mediaType, head: head) else {
                result.status = .unsupported
                result.artifacts = []
                result.processingNanoseconds = monotonicNanoseconds() - started
                result.timestampNanoseconds = wallClockNanoseconds()
                return result
            }
            result.processor = processor.name
            result.processorVersion = processor.version
            let input = ProcessorInput(path: request.blobPath, mediaType: request.mediaType, name: request.name,
                                       outputDirectory: request.outputDirectory) { percent, message in
                var progress = WorkerMessage(type: .progress, jobID: jobID)
                progress.progress = max(0, min(100, percent))
                progress.message = message
                send(progress)
            }
            result.artifacts = try processor.process(input)
            result.status = .processed
        } catch {
            result.status = .error
            result.error = "\(error)"
        }
        result.processingNanoseconds = monotonicNanoseconds() - started
        result.timestampNanoseconds = wallClockNanoseconds()
        return result
    }

    private static let outputLock = NSLock()

    /// Writes one message line on stdout.
    static func send(_ message: WorkerMessage) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(message) else { return }
        data.append(0x0A)
        outputLock.withLock {
            data.withUnsafeBytes { _ = try? writeFully(1, $0) }
        }
    }
}

/// Writes a line to stderr (fd 2) without stdio, which is safe from any thread.
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != 0x0A { bytes.append(0x0A) }
    bytes.withUnsafeBytes { _ = try? writeFully(2, $0) }
}
