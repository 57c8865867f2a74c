import DepotCore
import DepotGenerate
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Synchronization
import Testing

/// The generate processor: it reads the extract's artifacts it is handed, uses the engine
/// the job names, and falls back to the builtin engine only when configured to.
@Suite struct GenerateProcessorTests {
    let dir = TemporaryDirectory()

    func input(_ parameters: [String: ParameterValue], folder: String) throws -> ProcessorInput {
        let text = try dir.write("text.txt", "# Tides\n\nThe moon pulls the oceans. The water rises twice a day on every coast.\n")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return ProcessorInput(path: "/nonexistent", mediaType: "text/markdown", name: "tides.md", parameters: parameters,
                              outputDirectory: folder, inputs: ["text.txt": text])
    }

    /// An openai engine whose server refuses connections (nothing listens on port 1).
    var unreachable: OpenAIEngine {
        var settings = OpenAISettings()
        settings.baseURL = "http://127.0.0.1:1/v1"
        settings.model = "m"
        settings.maxAttempts = 1
        return OpenAIEngine(settings: settings, promptsFolder: nil, breaker: CircuitBreaker(failureThreshold: 10, cooldown: .seconds(1)))
    }

    @Test func aFailedModelFailsTheJobTransientlyUnlessTheBuiltinEngineStandsIn() throws {
        let failing = GenerateProcessor(engines: [unreachable], fallback: false)
        let error = #expect(throws: (any Error).self) { try failing.process(try input(["engine": .string("openai")], folder: dir.path + "/a")) }
        #expect(error.map { ProcessorFailure.isTransient($0) } == true)
        #expect(error.map { "\($0)".hasPrefix("openai engine: no answer from the model server") } == true)

        let standing = GenerateProcessor(engines: [unreachable], fallback: true)
        let artifacts = try standing.process(try input(["engine": .string("openai")], folder: dir.path + "/b"))
        #expect(artifacts.map(\.producer).allSatisfy { $0 == "depot-generate-builtin" })
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/b/generation.json"))) as? [String: Any])
        #expect(info["engine"] as? String == "builtin")
        #expect((info["fallback_reason"] as? String)?.hasPrefix("openai: no answer from the model server") == true)
    }

    /// The job says what it did in figures (the analytics' generation series): which engine
    /// stood in for which, requests and fallbacks; a failure says which engine failed.
    @Test func theJobReportsItsEngineAndFigures() throws {
        let said = Mutex<[JobReport]>([])
        func reporting(_ i: ProcessorInput) -> ProcessorInput {
            var i = i
            i.report = { r in said.withLock { $0.append(r) } }
            return i
        }
        _ = try GenerateProcessor(engines: [unreachable], fallback: true)
            .process(reporting(try input(["engine": .string("openai")], folder: dir.path + "/r1")))
        let fellBack = try #require(said.withLock { $0.last })
        #expect(fellBack.labels == ["engine": "builtin", "fallback_from": "openai"])
        #expect(fellBack.values["fallbacks"] == 1 && fellBack.values["requests"] == 0 && fellBack.values["chunks"] == 1)
        #expect(throws: (any Error).self) {
            try GenerateProcessor(engines: [unreachable], fallback: false)
                .process(reporting(try input(["engine": .string("openai")], folder: dir.path + "/r2")))
        }
        let failed = try #require(said.withLock { $0.last })
        #expect(failed.labels == ["engine": "openai"] && failed.values == ["failures": 1, "breaker_opens": 0])
        #expect(said.withLock { $0.count } == 2)
    }

    @Test func anEngineThatIsNotConfiguredIsAPermanentError() throws {
        let error = #expect(throws: DocumentError.self) {
            try GenerateProcessor().process(try input(["engine": .string("openai")], folder: dir.path + "/c"))
        }
        #expect(error?.description.contains("not configured here") == true)
        // Without text.txt there is nothing to read: a clear error.
        let bare = ProcessorInput(path: "/nonexistent", mediaType: "text/plain", name: "x", outputDirectory: dir.path)
        #expect(throws: DocumentError.self) { try GenerateProcessor().process(bare) }
    }
}
