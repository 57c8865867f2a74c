import DepotCore
import DepotDetect
import DepotTestSupport
import Foundation
import Testing

/// The `depot-worker` executable as `depot serve` and `depot extract` start it: its options,
/// the sections of the daemon's config it reads, and the job protocol on its stdin and stdout.
@Suite(.tags(.slow), .slowTest)
struct WorkerExecutableTests {
    let dir = TemporaryDirectory()

    /// The worker run to the end of `requests`, one JSON line each; its messages, decoded.
    func work(_ arguments: [String], _ requests: [WorkerRequest], environment: [String: String]? = nil)
        throws -> (result: RunResult, messages: [WorkerMessage]) {
        var input = Data()
        for request in requests {
            input += try JSONEncoder().encode(request) + Data("\n".utf8)
        }
        let result = try runBlocking(depotWorkerBinary, arguments, input: input, environment: environment)
        let messages = try result.stdout.split(separator: "\n").map {
            try JSONDecoder().decode(WorkerMessage.self, from: Data($0.utf8))
        }
        return (result, messages)
    }

    func request(_ id: Int64, _ choice: ProcessorChoice, _ path: String, mediaType: String,
                 parameters: [String: ParameterValue] = [:], inputs: [String: String] = [:]) throws -> WorkerRequest {
        let out = dir.path + "/job-\(id)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        return WorkerRequest(jobID: id, kind: choice.kind, processor: choice.name, parameters: parameters, blobPath: path,
                             mediaType: mediaType, name: (path as NSString).lastPathComponent, outputDirectory: out,
                             inputs: inputs)
    }

    @Test func itSaysReadyThenAnswersEachRequestAndExitsAtTheEndOfItsInput() throws {
        let notes = try dir.write("notes.md", "# Tides\n\nThe moon pulls the oceans.\n\n## Coasts\n\nTwice a day.\n")
        let (run, messages) = try work([], [
            try request(1, .text, notes, mediaType: "text/markdown"),
            try request(2, .pdf, notes, mediaType: TypeDetector.pdf),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let results = messages.filter { $0.type == .result }
        #expect(messages.first?.type == .ready && (messages.first?.pid ?? 0) > 0)
        #expect(results.map(\.jobID) == [1, 2])
        #expect(results[0].status == .processed && results[0].processor == "depot-text")
        let kinds = Set(results[0].artifacts?.map(\.kind) ?? [])
        #expect(kinds.isSuperset(of: ["text.txt", "structure.json"]))
        #expect(try String(contentsOfFile: dir.path + "/job-1/text.txt", encoding: .utf8).contains("The moon pulls the oceans."))
        // Markdown handed to the PDF processor: that one job fails, permanently; the worker goes on.
        #expect(results[1].status == .error && results[1].transient == false && results[1].error?.isEmpty == false)
    }

    @Test func itReadsItsSectionsOfTheDaemonsConfigAndPassesOverTheRest() throws {
        let text = try dir.write("text.txt", "# Tides\n\nThe moon pulls the oceans. The water rises twice a day on every coast.\n")
        // The whole file as `depot serve` has it: sections the worker has no use for, and
        // the model server it must reach (nothing listens on port 1).
        func config(fallback: Bool) throws -> String {
            try dir.write("depot-\(fallback).toml", """
                root = "\(dir.path)/root"

                [http]
                listen = "127.0.0.1:0"

                [jobs.kinds.generate]
                slots = 1

                [generate]
                fallback = \(fallback)

                [generate.openai]
                base_url = "http://127.0.0.1:1/v1"
                model = "m"
                max_attempts = 1
                """)
        }
        let generate = try request(3, .generate, "/nonexistent", mediaType: "text/markdown",
                                   parameters: ["engine": .string("openai")], inputs: ["text.txt": text])
        let (failing, failed) = try work(["--config", try config(fallback: false)], [generate])
        #expect(failing.status == 0, "\(failing.stderr)")
        let failure = try #require(failed.last)
        #expect(failure.status == .error && failure.transient == true)
        #expect(failure.error?.hasPrefix("openai engine: no answer from the model server") == true, "\(failure.error ?? "")")

        // The root's workers share the breaker's state once the root is laid out.
        #expect(try statIfExists(dir.path + "/root/state/generate-breaker.json") == nil)
        try FileManager.default.createDirectory(atPath: dir.path + "/root/state", withIntermediateDirectories: true)
        _ = try work(["--config", try config(fallback: false)], [generate])
        #expect(try statIfExists(dir.path + "/root/state/generate-breaker.json") != nil)

        let (standing, stood) = try work(["--config", try config(fallback: true)], [generate])
        #expect(standing.status == 0, "\(standing.stderr)")
        let success = try #require(stood.last)
        #expect(success.status == .processed, "\(success.error ?? "")")
        #expect(success.artifacts?.isEmpty == false && success.artifacts?.allSatisfy { $0.producer == "depot-generate-builtin" } == true)
    }

    @Test func aConfigItCannotUseIsAClearErrorBeforeAnyJob() throws {
        let missing = dir.path + "/nowhere.toml"
        let (absent, none) = try work(["--config", missing], [])
        #expect(absent.status != 0 && none.isEmpty)
        #expect(absent.stderr.contains("config file \(missing) does not exist"), "\(absent.stderr)")

        let bad = try dir.write("bad.toml", "[generate]\nfallback = \"yes\"\n")
        let (wrong, nothing) = try work(["--config", bad], [])
        #expect(wrong.status != 0 && nothing.isEmpty)
        #expect(wrong.stderr.contains("fallback"), "\(wrong.stderr)")
    }

    @Test func anUnreadableRequestLineEndsTheWorker() throws {
        let result = try runBlocking(depotWorkerBinary, [], input: Data("{\"job_id\": \"seven\"}\n".utf8))
        #expect(result.status == 2)
        #expect(result.stderr.contains("unreadable request line"))
        #expect(result.stdout.split(separator: "\n").count == 1)
    }

    @Test func theTestProcessorIsThereOnlyWhenItsEnvironmentAsksForIt() throws {
        let marked = try dir.write("crash.txt", "DEPOT-TEST-SLEEP 0\n")
        let job = try request(4, .test, marked, mediaType: TypeDetector.testMediaType)
        var environment = ProcessInfo.processInfo.environment
        environment["DEPOT_TEST_PROCESSORS"] = nil
        let (_, plain) = try work([], [job], environment: environment)
        #expect(plain.last?.error == "this worker has no processor named depot-test")
        environment["DEPOT_TEST_PROCESSORS"] = "1"
        let (_, testing) = try work([], [job], environment: environment)
        #expect(testing.last?.status == .processed, "\(testing.last?.error ?? "")")
    }
}
