import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The prompt templates: one editable file per output (config/prompts/NAME.md), a system
/// part and a user part separated by a line `----`, with `{{placeholders}}`.
public struct PromptTemplates: Sendable, Equatable {
    public static let names = ["summary", "chapters", "quiz", "keywords", "reduce"]
    /// name → (file it came from, its text).
    public var templates: [String: (source: String, text: String)]

    public static func == (a: PromptTemplates, b: PromptTemplates) -> Bool {
        a.templates.mapValues { $0.source + "\u{0}" + $0.text } == b.templates.mapValues { $0.source + "\u{0}" + $0.text }
    }

    /// The templates of `set` (a subfolder of `folder`), else of `folder`, else built in.
    /// - Throws: `ChatError.configuration` for a set name that is not a plain folder name,
    ///   or a file that cannot be read.
    public static func load(folder: String?, set: String = "") throws -> PromptTemplates {
        guard set.isEmpty || (set.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } && set.count <= 64) else {
            throw ChatError.configuration("prompts must name a subfolder of the prompts folder (letters, digits, - and _), not '\(set)'")
        }
        var templates: [String: (String, String)] = [:]
        for name in names {
            let candidates = folder.map { f in (set.isEmpty ? [] : [f + "/" + set + "/" + name + ".md"]) + [f + "/" + name + ".md"] } ?? []
            if let file = candidates.first(where: { (try? statIfExists($0)) != nil }) {
                do { templates[name] = (file, try readTextFile(file)) } catch {
                    throw ChatError.configuration("prompt template \(file) cannot be read: \(error)")
                }
            } else {
                templates[name] = ("builtin:" + name, DefaultPrompts.text[name]!)
            }
        }
        return PromptTemplates(templates: templates)
    }

    /// "file@sha256:12hex", what generation.json records for each template used.
    public func identity(_ name: String) -> String {
        let t = templates[name]!
        return t.source + "@sha256:" + String(SHA256Hasher.digest(Array(t.text.utf8)).hex.prefix(12))
    }

    /// The system and user messages with the values filled in.
    func render(_ name: String, _ values: [String: String]) -> (system: String, user: String) {
        var text = templates[name]!.text
        for (key, value) in values { text = text.replacingOccurrences(of: "{{\(key)}}", with: value) }
        let parts = text.components(separatedBy: "\n----\n")
        return parts.count >= 2 ? (parts[0].trimmingWhitespace(), parts[1...].joined(separator: "\n----\n").trimmingWhitespace())
                                : ("", text.trimmingWhitespace())
    }
}

/// The OpenAI-compatible backend: each output is one chat completion (POST base_url +
/// /chat/completions) asked for JSON matching a schema (`response_format`), its reply
/// repaired where safe, validated against the source (a quiz quote must be in the document,
/// its answer in the quote), else asked again. A document larger than the model's context
/// is cut into chunks by a token budget: each chunk is summarised and quizzed (map), then the
/// chunk summaries summarised (reduce); generation.json says how many chunks.
public final class OpenAIEngine: GenerationEngine, @unchecked Sendable {
    public let name = "openai"
    public static let version = "1"
    let settings: OpenAISettings
    let promptsFolder: String?
    let breaker: CircuitBreaker
    /// The job's templates (its `prompts` set), loaded when it starts.
    private var templates = PromptTemplates(templates: [:])
    /// Sleeps between attempts (tests shorten it).
    var sleep: @Sendable (Duration) -> Void = { d in
        let ns = max(0, d.nanosecondsValue)
        var left = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var request = left
        while nanosleep(&request, &left) == -1 && errno == EINTR { request = left }
    }
    /// Where warnings go besides generation.json (the worker's stderr, the journal).
    var warn: @Sendable (String) -> Void = { message in FileHandle.standardError.write(Data("depot generate: \(message)\n".utf8)) }
    /// `@unchecked Sendable`: one job at a time uses an engine (a worker runs one job); the
    /// per-job counters below are reset by `generate`.
    private var usage = GenerationInfo.Tokens()
    private var requests = 0
    private var latency = 0.0
    /// Times a failed request of the last `generate` opened the breaker (read after it
    /// returns or throws: the job's report).
    public private(set) var breakerOpens = 0
    private var warnings: [String] = []

    /// - Parameter promptsFolder: where the templates are (`[generate] prompts`).
    public init(settings: OpenAISettings, promptsFolder: String?, breaker: CircuitBreaker) {
        self.settings = settings
        self.promptsFolder = promptsFolder
        self.breaker = breaker
    }

    /// The key: from the config, else the credential file (read now, so a rotated key is used
    /// by the next job). Never logged.
    func apiKey() throws -> String? {
        if let key = settings.apiKey { return key }
        guard let file = settings.apiKeyFile else { return nil }
        do {
            return try readTextFile(file).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ChatError.configuration("the API key file \(file) cannot be read")
        }
    }

    public func generate(_ source: SourceDocument, options: GenerationOptions) throws -> GenerationOutput {
        guard settings.isConfigured else { throw ChatError.configuration("[generate.openai] needs base_url and model") }
        usage = GenerationInfo.Tokens(); requests = 0; latency = 0; breakerOpens = 0; warnings = []
        templates = try PromptTemplates.load(folder: promptsFolder, set: options.prompts)
        let analysis = Analysis(source, language: options.language)
        guard !analysis.sentences.isEmpty else { throw GenerationInputError("the document has no text to generate from") }
        let language = analysis.language.code
        let key = try apiKey()
        let chunks = self.chunks(source)
        var values: [String: String] = [
            "language": languageName(language), "summary_words": "\(options.summaryWords)", "long_words": "\(options.summaryWords * 4)",
            "questions": "\(options.questions)", "difficulty": options.difficulty.rawValue, "keywords": "\(options.keywords)",
            "title": source.title ?? "",
        ]
        var shortSummary = "", longSummary = ""
        var chapters: [ChaptersDocument.Chapter] = []
        var questions: [QuizDocument.Question] = []
        var terms: [String] = []
        var partSummaries: [String] = []
        let perChunkQuestions = max(1, (options.questions + chunks.count - 1) / chunks.count)
        for (index, chunk) in chunks.enumerated() {
            values["text"] = chunk
            values["part"] = chunks.count == 1 ? "" : "This is part \(index + 1) of \(chunks.count) of the document."
            let summary = try ask("summary", values, schema: ReplySchemas.summary, key: key) { object in
                guard let s = object["short"] as? String, let l = object["long"] as? String, !s.isEmpty, !l.isEmpty else {
                    throw ChatError.invalidReply("summary needs non-empty short and long")
                }
                return (s, l)
            }
            partSummaries.append(summary.1)
            if chunks.count == 1 { (shortSummary, longSummary) = summary }
            chapters += try ask("chapters", values, schema: ReplySchemas.chapters, key: key) { object in
                try self.chapters(object, analysis: analysis, offset: chapters.count)
            }
            var quizValues = values
            quizValues["questions"] = "\(min(options.questions, perChunkQuestions))"
            if options.questions > 0 {
                questions += try ask("quiz", quizValues, schema: ReplySchemas.quiz, key: key) { object in
                    try self.questions(object, analysis: analysis, existing: questions)
                }
            }
            terms += try ask("keywords", values, schema: ReplySchemas.keywords, key: key) { object in
                guard let list = object["keywords"] as? [String] else { throw ChatError.invalidReply("keywords must be a list of strings") }
                return list
            }
        }
        if chunks.count > 1 {
            values["text"] = partSummaries.enumerated().map { "Part \($0.offset + 1): \($0.element)" }.joined(separator: "\n\n")
            (shortSummary, longSummary) = try ask("reduce", values, schema: ReplySchemas.summary, key: key) { object in
                guard let s = object["short"] as? String, let l = object["long"] as? String, !s.isEmpty, !l.isEmpty else {
                    throw ChatError.invalidReply("summary needs non-empty short and long")
                }
                return (s, l)
            }
        }
        let keywords = keywordsDocument(terms, analysis: analysis, limit: options.keywords)
        let info = GenerationInfo(engine: name, engineVersion: Self.version, model: settings.model,
                                  templates: Dictionary(uniqueKeysWithValues: (chunks.count > 1 ? PromptTemplates.names : Array(PromptTemplates.names.dropLast()))
                                      .map { ($0, templates.identity($0)) }),
                                  parameters: options.recorded, language: language, chunks: chunks.count, requests: requests,
                                  tokens: usage, latencyMs: (latency * 10).rounded() / 10, warnings: warnings)
        return GenerationOutput(
            summary: SummaryDocument(language: language, title: source.title, short: .init(text: shortSummary, sentences: []),
                                     long: .init(text: longSummary, sentences: [])),
            chapters: ChaptersDocument(language: language, source: "model", chapters: chapters),
            quiz: QuizDocument(language: language, difficulty: options.difficulty.rawValue, questions: Array(questions.prefix(options.questions))),
            keywords: keywords, info: info)
    }

    // MARK: chunking

    /// Tokens of `text`, estimated without the model's tokenizer: about four characters a
    /// token for Latin scripts, one a token for CJK, never fewer than the words.
    static func estimateTokens(_ text: String) -> Int {
        var ascii = 0, other = 0
        for scalar in text.unicodeScalars { if scalar.isASCII { ascii += 1 } else { other += 1 } }
        return max(ascii / 4 + other, TextBreaks.words(text).count * 4 / 3) + 1
    }

    /// The document's paragraphs in chunks that fit the context with the largest template
    /// and the reply (headings kept with what follows them).
    func chunks(_ source: SourceDocument) -> [String] {
        let templateTokens = templates.templates.values.map { Self.estimateTokens($0.text) }.max() ?? 0
        let budget = max(256, settings.contextTokens - settings.maxOutputTokens - templateTokens - 64)
        var chunks: [String] = []
        var current = "", tokens = 0
        for paragraph in source.paragraphs {
            let t = Self.estimateTokens(paragraph.text)
            if tokens + t > budget && !current.isEmpty {
                chunks.append(current)
                current = ""; tokens = 0
            }
            current += (current.isEmpty ? "" : "\n\n") + paragraph.text
            tokens += t
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks.isEmpty ? [""] : chunks
    }

    // MARK: one request

    /// Asks with template `name` until a reply passes `accept`, within the attempts.
    func ask<T>(_ name: String, _ values: [String: String], schema: [String: Any], key: String?,
                accept: ([String: Any]) throws -> T) throws -> T {
        let (system, user) = templates.render(name, values)
        let promptTokens = Self.estimateTokens(system) + Self.estimateTokens(user) + 16
        if promptTokens + settings.maxOutputTokens > settings.contextTokens {
            let message = "the \(name) prompt is about \(promptTokens) tokens, more than the configured context of "
                + "\(settings.contextTokens) leaves beside \(settings.maxOutputTokens) for the reply; Ollama truncates such a prompt silently"
            if !warnings.contains(message) { warnings.append(message); warn(message) }
        }
        var body: [String: Any] = [
            "model": settings.model,
            "messages": (system.isEmpty ? [] : [["role": "system", "content": system]]) + [["role": "user", "content": user]],
            "temperature": settings.temperature,
            "max_tokens": settings.maxOutputTokens,
            "stream": false,
        ]
        if settings.structuredOutput {
            body["response_format"] = ["type": "json_schema", "json_schema": ["name": name, "strict": true, "schema": schema]]
        }
        let bytes = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        let transport = try ChatTransport()
        var lastError = ChatError.transport("not asked")
        for attempt in 1...settings.maxAttempts {
            try breaker.admit()
            let started = DispatchTime.now().uptimeNanoseconds
            let result = transport.post(url: settings.baseURL + "/chat/completions", body: bytes, apiKey: key,
                                        timeout: settings.timeout, connectTimeout: settings.connectTimeout)
            latency += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            requests += 1
            var retryAfter: Int64?
            switch result {
            case .transportError(let detail, let timedOut):
                if breaker.failed() { breakerOpens += 1 }
                lastError = .transport(timedOut ? "timed out after \(formatDuration(settings.timeout))" : detail)
            case .response(let status, let reply, let after) where status == 200:
                do {
                    let value = try accept(try content(of: reply))
                    breaker.succeeded()
                    return value
                } catch let error as ChatError {
                    // The server works; the model's answer did not do. Not the breaker's business.
                    breaker.succeeded()
                    lastError = error
                }
                _ = after
            case .response(let status, let reply, let after):
                let detail = Self.errorMessage(reply)
                lastError = .status(status, detail)
                if status == 429 || status >= 500 || status == 408 {
                    if breaker.failed() { breakerOpens += 1 }
                    if status == 429 || status == 503 { retryAfter = after }
                } else {
                    // 400, 401, 404: asking again gives the same answer.
                    breaker.succeeded()
                    throw status == 401 || status == 403 ? ChatError.configuration("the server refused the key (\(status))") : lastError
                }
            }
            guard attempt < settings.maxAttempts else { break }
            sleep(delay(attempt: attempt, retryAfter: retryAfter))
        }
        throw lastError
    }

    /// Exponential backoff with full jitter (retry_initial × 2^(n−1), at most retry_max), or
    /// the server's Retry-After when it sent one (RFC 9110 §10.2.3), whichever is longer.
    func delay(attempt: Int, retryAfter: Int64?) -> Duration {
        let base = min(settings.retryMax.nanosecondsValue, settings.retryInitial.nanosecondsValue << min(30, attempt - 1))
        let jittered = base / 2 + Int64.random(in: 0...max(1, base / 2))
        if let retryAfter { return .nanoseconds(max(jittered, retryAfter * 1_000_000_000)) }
        return .nanoseconds(jittered)
    }

    /// The JSON object in a chat-completions reply's first choice: its content, repaired
    /// where safe; when the content is empty, the last JSON object in a separate reasoning
    /// field (`reasoning_content`, `reasoning`).
    func content(of reply: [UInt8]) throws -> [String: Any] {
        guard let top = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: Any] else {
            throw ChatError.invalidReply("the body is not a JSON object")
        }
        if let u = top["usage"] as? [String: Any] {
            usage.prompt += (u["prompt_tokens"] as? Int) ?? 0
            usage.completion += (u["completion_tokens"] as? Int) ?? 0
        }
        guard let choice = (top["choices"] as? [[String: Any]])?.first, let message = choice["message"] as? [String: Any] else {
            throw ChatError.invalidReply("no choices[0].message")
        }
        let content = message["content"] as? String ?? ""
        var candidates = [content]
        if content.trimmingWhitespace().isEmpty {
            for key in ["reasoning_content", "reasoning"] { if let r = message[key] as? String { candidates.append(r) } }
        }
        for text in candidates {
            if let repaired = ReplyRepair.object(from: text) {
                for repair in repaired.repairs where !warnings.contains("reply repaired: \(repair)") { warnings.append("reply repaired: \(repair)") }
                return repaired.object
            }
        }
        let finish = choice["finish_reason"] as? String
        throw ChatError.invalidReply("no JSON object in the reply" + (finish == "length" ? " (cut at max_tokens)" : ""))
    }

    static func errorMessage(_ body: [UInt8]) -> String {
        if let top = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
           let error = top["error"] as? [String: Any], let message = error["message"] as? String { return String(message.prefix(200)) }
        return String(String(decoding: body.prefix(200), as: UTF8.self).collapsingWhitespace())
    }

    // MARK: validation against the source

    /// Where `quote` is in the document (whitespace and case aside), as the sentence's anchor.
    func locate(_ quote: String, _ analysis: Analysis) -> Anchor? {
        let needle = quote.collapsingWhitespace().lowercased()
        guard needle.count >= 3 else { return nil }
        for sentence in analysis.sentences where sentence.text.lowercased().contains(needle) || needle.contains(sentence.text.lowercased()) {
            return sentence.anchor
        }
        for paragraph in analysis.document.paragraphs where paragraph.text.lowercased().contains(needle) { return paragraph.anchor }
        return nil
    }

    func chapters(_ object: [String: Any], analysis: Analysis, offset: Int) throws -> [ChaptersDocument.Chapter] {
        guard let list = object["chapters"] as? [[String: Any]] else { throw ChatError.invalidReply("chapters must be a list") }
        var result: [ChaptersDocument.Chapter] = []
        for item in list {
            guard let title = item["title"] as? String, !title.isEmpty else { continue }
            let first = item["first_words"] as? String ?? ""
            let anchor = locate(first, analysis) ?? locate(title, analysis)
            guard let anchor else { continue }  // a chapter the document does not have
            result.append(.init(number: offset + result.count + 1, title: title, anchor: anchor, summary: item["summary"] as? String ?? "",
                                keywords: (item["keywords"] as? [String]) ?? []))
        }
        guard !result.isEmpty || list.isEmpty else { throw ChatError.invalidReply("no chapter starts with words found in the document") }
        return result
    }

    /// The reply's questions whose quote is in the document and holds the answer, whose
    /// choices hold the answer once; duplicates of earlier ones left out.
    func questions(_ object: [String: Any], analysis: Analysis, existing: [QuizDocument.Question]) throws -> [QuizDocument.Question] {
        guard let list = object["questions"] as? [[String: Any]] else { throw ChatError.invalidReply("questions must be a list") }
        var result: [QuizDocument.Question] = []
        var seen = Set(existing.map { $0.question.lowercased() })
        for item in list {
            guard let question = item["question"] as? String, let answer = item["answer"] as? String, let quote = item["quote"] as? String,
                  !answer.isEmpty, quote.lowercased().contains(answer.lowercased()), let anchor = locate(quote, analysis),
                  seen.insert(question.lowercased()).inserted else { continue }
            var choices = item["choices"] as? [String]
            if let c = choices, c.isEmpty { choices = nil }
            if let c = choices {
                guard c.filter({ $0 == answer }).count == 1, Set(c.map { $0.lowercased() }).count == c.count, c.count >= 2 else { continue }
            }
            result.append(.init(id: "q\(existing.count + result.count + 1)", type: choices == nil ? "cloze" : "multiple_choice",
                                question: question, choices: choices, answer: answer,
                                explanation: item["explanation"] as? String ?? "", source: Quote(text: quote.collapsingWhitespace(), anchor: anchor)))
        }
        guard !result.isEmpty || list.isEmpty else { throw ChatError.invalidReply("no question's answer is in a passage of the document") }
        return result
    }

    func keywordsDocument(_ terms: [String], analysis: Analysis, limit: Int) -> KeywordsDocument {
        var counts: [String: (term: String, count: Int, first: Int)] = [:]
        for (i, term) in terms.enumerated() {
            let key = term.lowercased().collapsingWhitespace()
            guard !key.isEmpty else { continue }
            counts[key] = (counts[key]?.term ?? term, (counts[key]?.count ?? 0) + 1, counts[key]?.first ?? i)
        }
        let ordered = counts.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.first < $1.first }
        var keywords: [KeywordsDocument.Keyword] = []
        for (rank, entry) in ordered.enumerated() where keywords.count < limit {
            guard let anchor = locate(entry.term, analysis) else { continue }  // a term the document does not use
            let count = analysis.sentences.filter { $0.text.lowercased().contains(entry.term.lowercased()) }.count
            keywords.append(.init(term: entry.term, score: (1 / Double(rank + 1) * 1e6).rounded() / 1e6, count: max(1, count), anchor: anchor))
        }
        return KeywordsDocument(language: analysis.language.code, method: "model", keywords: keywords)
    }

    func languageName(_ code: String) -> String {
        ["en": "English", "de": "German", "fr": "French"][code] ?? "the document's own language"
    }
}
