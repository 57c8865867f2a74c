import DepotCore
@testable import DepotGenerate
import DepotTestSupport
import Foundation
import Testing

/// The OpenAI-compatible backend against a chat-completions server started by the test,
/// which checks nothing itself: every request it got is read back and checked here.
@Suite("openai backend", .serialized)
struct OpenAIEngineTests {
    let dir = TemporaryDirectory()

    func source() throws -> SourceDocument {
        try SourceDocument.fromExtract(text: BuiltinEngineTests.markdown, structure: nil)
    }

    func engine(_ server: FakeChatServer, breaker: CircuitBreaker? = nil, change: (inout OpenAISettings) -> Void = { _ in }) throws -> (OpenAIEngine, SleepLog) {
        var settings = OpenAISettings()
        settings.baseURL = server.baseURL
        settings.model = "test-model"
        settings.apiKeyFile = try dir.write("key", "sk-test-123\n")
        settings.retryInitial = .milliseconds(10)
        settings.retryMax = .milliseconds(100)
        settings.timeout = .seconds(20)
        change(&settings)
        let engine = OpenAIEngine(settings: settings, promptsFolder: nil,
                                  breaker: breaker ?? CircuitBreaker(failureThreshold: 50, cooldown: .seconds(60)))
        let sleeps = SleepLog()
        engine.sleep = { sleeps.append($0) }
        engine.warn = { _ in }
        return (engine, sleeps)
    }

    @Test func eachOutputIsOneStructuredRequestWithTheKeyAndTheSchema() throws {
        let server = try FakeChatServer([["reply": "auto"]])
        let (engine, _) = try engine(server)
        let output = try engine.generate(try source(), options: GenerationOptions(questions: 3))
        let requests = try server.requests()
        #expect(requests.count == 4)
        var names: [String] = []
        for request in requests {
            #expect(request["path"] as? String == "/v1/chat/completions")
            #expect(request["auth"] as? String == "Bearer sk-test-123")
            let body = try #require(request["body"] as? [String: Any])
            #expect(body["model"] as? String == "test-model")
            #expect(body["max_tokens"] as? Int == 2048)
            #expect(body["stream"] as? Bool == false)
            let messages = try #require(body["messages"] as? [[String: Any]])
            #expect(messages.map { $0["role"] as? String } == ["system", "user"])
            #expect((messages[1]["content"] as? String)?.contains("thylakoid membranes") == true)
            let format = try #require(body["response_format"] as? [String: Any])
            #expect(format["type"] as? String == "json_schema")
            let schema = try #require(format["json_schema"] as? [String: Any])
            #expect(schema["strict"] as? Bool == true)
            #expect((schema["schema"] as? [String: Any])?["type"] as? String == "object")
            names.append(schema["name"] as? String ?? "")
        }
        #expect(names == ["summary", "chapters", "quiz", "keywords"])
        #expect(output.info.engine == "openai" && output.info.model == "test-model")
        #expect(output.info.tokens == GenerationInfo.Tokens(prompt: 400, completion: 80))
        #expect(output.info.requests == 4 && output.info.chunks == 1)
        #expect(output.info.templates["quiz"]?.hasPrefix("builtin:quiz@sha256:") == true)
        // Validated against the source: every quote is in it and holds the answer; a keyword
        // the document does not use is dropped.
        let flat = BuiltinEngineTests.markdown.collapsingWhitespace().lowercased()
        #expect(!output.quiz.questions.isEmpty)
        for q in output.quiz.questions {
            #expect(flat.contains(q.source.text.lowercased()))
            #expect(q.source.text.lowercased().contains(q.answer.lowercased()))
            #expect(q.source.anchor.line != nil)
        }
        #expect(!output.keywords.keywords.contains { $0.term == "notinthetext" })
        #expect(!output.summary.short.text.isEmpty)
        #expect(output.chapters.chapters.allSatisfy { $0.anchor.line != nil })
    }

    @Test func retryAfterOn429And503IsHonoured() throws {
        let server = try FakeChatServer([["status": 429, "retry_after": 3], ["status": 503, "retry_after": 1], ["reply": "auto"]])
        let (engine, sleeps) = try engine(server)
        _ = try engine.generate(try source(), options: GenerationOptions(questions: 2))
        #expect(sleeps.values.count == 2)
        #expect(sleeps.values[0] >= .seconds(3) && sleeps.values[0] < .seconds(4))
        #expect(sleeps.values[1] >= .seconds(1) && sleeps.values[1] < .seconds(2))
        #expect(try server.requests().count == 6)
    }

    @Test func serverErrorsAreRetriedWithGrowingBackoff() throws {
        let server = try FakeChatServer([["status": 500], ["status": 502], ["status": 500], ["reply": "auto"]])
        let (engine, sleeps) = try engine(server) { $0.retryInitial = .milliseconds(100); $0.retryMax = .seconds(10) }
        _ = try engine.generate(try source(), options: GenerationOptions(questions: 2))
        #expect(sleeps.values.count == 3)
        // Full jitter over half the window: attempt n waits between base/2 and base, base = 100 ms × 2^(n−1).
        for (n, slept) in sleeps.values.enumerated() {
            let base = Duration.milliseconds(100 << n)
            #expect(slept >= base / 2 && slept <= base, "attempt \(n + 1): \(slept)")
        }
    }

    @Test func attemptsRunOutIntoAnErrorThatSaysWhy() throws {
        let server = try FakeChatServer([["status": 500]])
        let (engine, _) = try engine(server) { $0.maxAttempts = 3 }
        #expect(throws: ChatError.status(500, "injected 500")) { try engine.generate(try source(), options: GenerationOptions()) }
        #expect(try server.requests().count == 3)
    }

    @Test func aRequestThatTimesOutIsRetried() throws {
        let server = try FakeChatServer([["delay": 3, "reply": "auto"], ["reply": "auto"]])
        let (engine, _) = try engine(server) { $0.timeout = .seconds(1) }
        let started = Date()
        let output = try engine.generate(try source(), options: GenerationOptions(questions: 2))
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(output.info.requests == 5)
    }

    @Test func thinkBlocksProseAndReasoningFieldsAreRepaired() throws {
        for kind in ["think", "prose", "reasoning"] {
            let server = try FakeChatServer([["reply": kind]])
            let (engine, _) = try engine(server)
            let output = try engine.generate(try source(), options: GenerationOptions(questions: 2))
            #expect(output.info.requests == 4, "\(kind)")
            #expect(!output.summary.short.text.isEmpty && !output.summary.short.text.contains("<think>"), "\(kind)")
            if kind != "reasoning" { #expect(output.info.warnings.contains { $0.hasPrefix("reply repaired") }, "\(kind)") }
        }
    }

    @Test func malformedRepliesAreAskedAgainAndTruncatedOnesClosedWhereSafe() throws {
        let server = try FakeChatServer([["reply": "malformed"], ["reply": "auto"]])
        let (engine, _) = try engine(server)
        #expect(try engine.generate(try source(), options: GenerationOptions(questions: 2)).info.requests == 5)

        // Truncated: a summary cut inside "long" lacks it and is asked again; never guessed.
        #expect(ReplyRepair.object(from: #"{"short": "A.", "long": "B and"#) == nil
                || ReplyRepair.object(from: #"{"short": "A.", "long": "B and"#)?.object["long"] == nil)
        let quiz = try #require(ReplyRepair.object(from: #"{"questions": [{"q": 1, "a": "x"}, {"q": 2, "a": "y"}, {"q": 3, "a"#))
        // Cut back to the last complete member and closed: the third question lacks its
        // answer, which validation then refuses (`questions` keeps only complete ones).
        let items = try #require(quiz.object["questions"] as? [[String: Any]])
        #expect(items.count == 3 && items[2]["a"] == nil && items[1]["a"] as? String == "y")
        #expect(quiz.repairs == ["truncated JSON closed"])
        let think = try #require(ReplyRepair.object(from: "<think>{\"x\": 1} maybe</think>Sure! {\"ok\": true} done"))
        #expect(think.object["ok"] as? Bool == true && think.object["x"] == nil)
    }

    @Test func breakerOpensAfterFailuresThenProbesHalfOpenAndCloses() throws {
        let server = try FakeChatServer([["status": 500]])
        let file = dir.path + "/breaker.json"
        let breaker = CircuitBreaker(failureThreshold: 3, cooldown: .seconds(30), path: file)
        var clock = wallClockNanoseconds()
        let box = ClockBox(clock)
        breaker.now = { box.value }
        let (engine, _) = try engine(server, breaker: breaker) { $0.maxAttempts = 5 }
        #expect(throws: ChatError.self) { try engine.generate(try source(), options: GenerationOptions()) }
        // Open after 3 consecutive failures: the 4th attempt was never sent.
        #expect(try server.requests().count == 3)
        #expect(breaker.state == .open)
        #expect(engine.breakerOpens == 1, "the job's report counts the opening")
        // Another process naming the same file sees it open too, and sends nothing.
        let other = CircuitBreaker(failureThreshold: 3, cooldown: .seconds(30), path: file)
        other.now = { box.value }
        #expect(throws: ChatError.self) { try other.admit() }
        #expect(throws: ChatError.self) { try engine.generate(try source(), options: GenerationOptions()) }
        #expect(try server.requests().count == 3)
        // After the cooldown, half-open: one probe goes; it fails, so it opens again.
        clock += 31_000_000_000
        box.value = clock
        #expect(breaker.state == .halfOpen)
        #expect(throws: ChatError.self) { try engine.generate(try source(), options: GenerationOptions()) }
        #expect(try server.requests().count == 4)
        #expect(breaker.state == .open)
        #expect(engine.breakerOpens == 1, "a failed probe opens it again")
        // Half-open again with a working server: the probe succeeds and the breaker closes.
        clock += 31_000_000_000
        box.value = clock
        let good = try FakeChatServer([["reply": "auto"]])
        let (working, _) = try self.engine(good, breaker: breaker)
        try breaker.admit()  // the probe
        #expect(throws: ChatError.self) { try other.admit() }  // only one probe at a time
        breaker.succeeded()
        #expect(breaker.state == .closed)
        _ = try working.generate(try source(), options: GenerationOptions(questions: 2))
        #expect(try good.requests().count == 4)
    }

    @Test func longDocumentsAreMappedInChunksAndReducedWithAWarningPastTheContext() throws {
        var text = ""
        for i in 0..<40 { text += "Paragraph \(i) explains photosynthesis in the chloroplast membranes with sunlight energy.\n\n" }
        let source = try SourceDocument.fromExtract(text: text, structure: nil)
        let server = try FakeChatServer([["reply": "auto"]])
        let (engine, _) = try engine(server) { $0.contextTokens = 900; $0.maxOutputTokens = 200 }
        let output = try engine.generate(source, options: GenerationOptions(questions: 4))
        #expect(output.info.chunks > 1)
        let names = try server.requests().compactMap { (($0["body"] as? [String: Any])?["response_format"] as? [String: Any]).flatMap { ($0["json_schema"] as? [String: Any])?["name"] as? String } }
        #expect(names.filter { $0 == "summary" }.count == output.info.chunks)
        #expect(names.last == "reduce")
        #expect(output.info.templates["reduce"] != nil)
        // Each chunk's prompt fits; the context is too small for the template alone here.
        let (tiny, _) = try self.engine(server) { $0.contextTokens = 300; $0.maxOutputTokens = 200 }
        let warned = try tiny.generate(try self.source(), options: GenerationOptions(questions: 1))
        #expect(warned.info.warnings.contains { $0.contains("Ollama truncates") })
    }

    @Test func theShippedPromptTemplatesAreTheBuiltInCopies() throws {
        for name in PromptTemplates.names {
            let file = try String(contentsOfFile: repositoryRoot + "/config/prompts/\(name).md", encoding: .utf8)
            #expect(file.trimmingWhitespace() == DefaultPrompts.text[name]!.trimmingWhitespace(), "\(name)")
        }
        let custom = TemporaryDirectory()
        try custom.write("lectures/quiz.md", "System {{language}}\n----\nUser {{questions}} {{text}}")
        let t = try PromptTemplates.load(folder: custom.path, set: "lectures")
        #expect(t.render("quiz", ["language": "German", "questions": "3", "text": "T"]) == ("System German", "User 3 T"))
        #expect(t.templates["summary"]?.source == "builtin:summary")
        #expect(throws: ChatError.self) { try PromptTemplates.load(folder: custom.path, set: "../etc") }
    }
}

final class SleepLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Duration] = []
    func append(_ d: Duration) { lock.withLock { list.append(d) } }
    var values: [Duration] { lock.withLock { list } }
}

final class ClockBox: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Int64
    init(_ v: Int64) { self.v = v }
    var value: Int64 {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
