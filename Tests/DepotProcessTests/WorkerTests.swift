import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The worker's side of the protocol, run in this process (`WorkerMain.handle`, without the
/// limits `run` arms around it), and the rules it reports by.
@Suite("Worker protocol")
struct WorkerTests {
    let dir: TempDir
    let registry = ProcessorRegistry.standard(testProcessors: true)

    init() throws { dir = try TempDir() }

    func request(_ kind: String, _ processor: String, _ path: String, mediaType: String,
                 parameters: [String: ParameterValue] = [:]) throws -> WorkerRequest {
        WorkerRequest(jobID: 7, kind: kind, processor: processor, parameters: parameters, blobPath: path,
                      mediaType: mediaType, name: baseName(path), outputDirectory: try dir.folder("job-\(UUID().uuidString)"))
    }

    func marked(_ command: String) throws -> String {
        let path = dir.path + "/\(command.lowercased()).txt"
        try Data("DEPOT-TEST-\(command)\n".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func requestAndResultLinesHaveTheProtocolsFields() throws {
        let line = """
            {"job_id": 12, "kind": "thumbnail", "processor": "depot-pdf-thumbnail", "parameters": {"width": 480},
             "blob_path": "/store/ab/cd", "media_type": "application/pdf", "name": "a.pdf", "output_dir": "/work/job-12",
             "memory_limit": 1073741824, "cpu_seconds": 60}
            """
        let decoded = try JSONDecoder().decode(WorkerRequest.self, from: Data(line.utf8))
        #expect(decoded == WorkerRequest(jobID: 12, kind: "thumbnail", processor: "depot-pdf-thumbnail", parameters: ["width": .int(480)],
                                         blobPath: "/store/ab/cd", mediaType: "application/pdf", name: "a.pdf",
                                         outputDirectory: "/work/job-12", memoryLimit: 1 << 30, cpuSeconds: 60))
        let encoded = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded)) as? [String: Any])
        #expect(Set(encoded.keys) == ["job_id", "kind", "processor", "parameters", "blob_path", "media_type", "name",
                                      "output_dir", "memory_limit", "cpu_seconds", "inputs"])

        var result = WorkerMessage(type: .result, jobID: 12)
        result.status = .error
        result.error = "x"
        result.transient = true
        let message = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any])
        #expect(message["transient"] as? Bool == true && message["status"] as? String == "error")
    }

    @Test func theNamedProcessorRunsWithTheRequestsParameters() throws {
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["Introduction"]])
        let job = try request("thumbnail", "depot-pdf-thumbnail", pdf, mediaType: PDFProcessor.mediaType, parameters: ["width": .int(48)])
        let progress = Messages()
        let result = WorkerMain.handle(job, registry: registry) { progress.append($0) }
        #expect(result.type == .result && result.jobID == 7)
        #expect(result.status == .processed && result.transient == false && result.error == nil)
        #expect(result.processor == "depot-pdf-thumbnail" && result.processorVersion == "1")
        #expect(result.artifacts?.map(\.kind) == ["thumbnail.png"])
        #expect(try pngSize(contents(job.outputDirectory + "/thumbnail.png")).width == 48)
        #expect((result.processingNanoseconds ?? 0) > 0)
        #expect(progress.all.contains { $0.type == .progress && $0.jobID == 7 && $0.message == "rendering page 1" })
    }

    @Test func anUnknownProcessorNameIsAPermanentError() throws {
        let notes = dir.path + "/notes.md"
        try Data("# Notes\n".utf8).write(to: URL(fileURLWithPath: notes))
        // The worker never chooses another processor, even one that would do the job.
        let job = try request("extract", "depot-nope", notes, mediaType: "text/markdown")
        let result = WorkerMain.handle(job, registry: registry) { _ in }
        #expect(result.status == .error && result.transient == false)
        #expect(result.error == "this worker has no processor named depot-nope")
        #expect(result.processor == nil && result.artifacts == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: job.outputDirectory).isEmpty)
    }

    @Test func aProcessorOfAnotherKindIsAPermanentError() throws {
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["Introduction"]])
        let result = WorkerMain.handle(try request("extract", "depot-pdf-thumbnail", pdf, mediaType: PDFProcessor.mediaType),
                                       registry: registry) { _ in }
        #expect(result.status == .error && result.transient == false)
        #expect(result.error == "processor depot-pdf-thumbnail does thumbnail jobs, not extract")
    }

    @Test func failTransientIsReportedTransientAndFailPermanent() throws {
        let transient = WorkerMain.handle(try request("extract", "depot-test", marked("FAIL-TRANSIENT"), mediaType: TypeDetector.testMediaType),
                                          registry: registry) { _ in }
        #expect(transient.status == .error && transient.transient == true)
        #expect(transient.error == "the test processor was told to fail transiently")
        #expect(transient.processor == "depot-test")
        let permanent = WorkerMain.handle(try request("extract", "depot-test", marked("FAIL"), mediaType: TypeDetector.testMediaType),
                                          registry: registry) { _ in }
        #expect(permanent.status == .error && permanent.transient == false)
        #expect(permanent.error == "the test processor was told to fail")
    }

    @Test func aDocumentErrorIsPermanentAndAMissingBlobToo() throws {
        let fake = dir.path + "/fake.docx"
        try makeZip(fake, [("readme.txt", "not a package")])
        let refused = WorkerMain.handle(try request("extract", "depot-docx", fake, mediaType: TypeDetector.docx), registry: registry) { _ in }
        #expect(refused.status == .error && refused.transient == false)
        #expect(refused.error == "not a DOCX: missing word/document.xml")
        let missing = WorkerMain.handle(try request("extract", "depot-text", dir.path + "/gone.txt", mediaType: "text/plain"),
                                        registry: registry) { _ in }
        #expect(missing.status == .error && missing.transient == false)
        #expect(missing.error?.hasPrefix("open(\(dir.path)/gone.txt): No such file") == true)
    }

    @Test func transientAndPermanentFailures() {
        for code in [EIO, ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE, EAGAIN, EINTR, ESTALE, ETIMEDOUT] {
            #expect(ProcessorFailure.isTransient(SystemError(call: "read", errno: code, path: "/x")), "errno \(code)")
        }
        for code in [ENOENT, EACCES, EFBIG, EINVAL, ELOOP, EISDIR, EPERM] {
            #expect(!ProcessorFailure.isTransient(SystemError(call: "open", errno: code, path: "/x")), "errno \(code)")
        }
        #expect(!ProcessorFailure.isTransient(DocumentError("not a readable PDF: bad")))
        #expect(ProcessorFailure.isTransient(TestProcessor.Failure(description: "x", transient: true)))
        #expect(!ProcessorFailure.isTransient(TestProcessor.Failure(description: "x", transient: false)))
        #expect(!ProcessorFailure.isTransient(CocoaError(.fileReadCorruptFile)))
        #expect(!ProcessorFailure.isTransient(WorkerError("this worker has no processor named x")))
    }

    @Test func jobLimitsStayUnderTheWorkersHardLimit() {
        let gib: rlim_t = 1 << 30
        #expect(WorkerLimits.softAddressSpace(memoryLimit: 0, hard: gib) == gib)
        #expect(WorkerLimits.softAddressSpace(memoryLimit: 256 << 20, hard: gib) == 256 << 20)
        #expect(WorkerLimits.softAddressSpace(memoryLimit: 4 << 30, hard: gib) == gib)
        #expect(WorkerLimits.softAddressSpace(memoryLimit: 256 << 20, hard: rlim_t.max) == 256 << 20)
        #expect(WorkerLimits.softAddressSpace(memoryLimit: 0, hard: rlim_t.max) == rlim_t.max)
        // CPU: the seconds this job may use on top of what the worker used (rounded up).
        #expect(WorkerLimits.softCPU(seconds: 10, used: 5, hard: rlim_t.max) == 16)
        #expect(WorkerLimits.softCPU(seconds: 10, used: 5, hard: 12) == 12)
        #expect(WorkerLimits.softCPU(seconds: 0, used: 5, hard: rlim_t.max) == rlim_t.max)
    }
}

/// Messages a handler reported, from whichever thread.
final class Messages: @unchecked Sendable {
    // @unchecked: every access holds the lock.
    private let lock = NSLock()
    private var messages: [WorkerMessage] = []

    func append(_ message: WorkerMessage) { lock.withLock { messages.append(message) } }
    var all: [WorkerMessage] { lock.withLock { messages } }
}
