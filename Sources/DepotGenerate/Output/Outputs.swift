import DepotCore
import Foundation
import Glibc

// The generated artifacts as Codable types, defined once: the builtin engine fills them, the
// OpenAI-compatible backend decodes a model's reply into them, the processor writes them.
// Their shapes are docs/schemas/{summary,chapters,quiz,keywords,generation}.schema.json.

/// A sentence of the source quoted in an output, with where it is.
public struct Quote: Codable, Sendable, Equatable {
    public var text: String
    public var anchor: Anchor
    public init(text: String, anchor: Anchor) {
        self.text = text
        self.anchor = anchor
    }
}

/// summary.json (`depot.summary/1`), rendered as summary.md.
public struct SummaryDocument: Codable, Sendable, Equatable {
    public struct Form: Codable, Sendable, Equatable {
        public var text: String
        /// The source sentences it is made of (the builtin engine's are extractive; a model's
        /// summary is its own words and lists none).
        public var sentences: [Quote]
        public init(text: String, sentences: [Quote]) {
            self.text = text
            self.sentences = sentences
        }
    }
    public var schema = "depot.summary/1"
    public var language: String
    public var title: String?
    public var short: Form
    public var long: Form

    public init(language: String, title: String?, short: Form, long: Form) {
        self.language = language
        self.title = title
        self.short = short
        self.long = long
    }

    /// summary.md: the short form, then the long one, under headings in the document's language.
    public func markdown() -> String {
        let (heading, more) = Self.headings[language] ?? Self.headings["en"]!
        var out = "# \(heading)\(title.map { ": \($0)" } ?? "")\n\n\(short.text)\n"
        if long.text != short.text { out += "\n## \(more)\n\n\(long.text)\n" }
        return out
    }

    static let headings: [String: (String, String)] = [
        "en": ("Summary", "In more detail"), "de": ("Zusammenfassung", "Ausführlicher"), "fr": ("Résumé", "Plus en détail"),
    ]
}

/// chapters.json (`depot.chapters/1`).
public struct ChaptersDocument: Codable, Sendable, Equatable {
    public struct Chapter: Codable, Sendable, Equatable {
        public var number: Int
        public var title: String
        public var anchor: Anchor
        public var summary: String
        public var keywords: [String]
        public init(number: Int, title: String, anchor: Anchor, summary: String, keywords: [String]) {
            self.number = number
            self.title = title
            self.anchor = anchor
            self.summary = summary
            self.keywords = keywords
        }
    }
    public var schema = "depot.chapters/1"
    public var language: String
    /// "structure": the document's own outline, headings or slides; "segmentation": found
    /// in flat text by lexical cohesion; "model": a model's reply.
    public var source: String
    public var chapters: [Chapter]

    public init(language: String, source: String, chapters: [Chapter]) {
        self.language = language
        self.source = source
        self.chapters = chapters
    }
}

/// quiz.json (`depot.quiz/1`).
public struct QuizDocument: Codable, Sendable, Equatable {
    public struct Question: Codable, Sendable, Equatable {
        public var id: String
        /// "multiple_choice" or "cloze".
        public var type: String
        public var question: String
        /// The choices of a multiple-choice question (the answer among them); none for a cloze.
        public var choices: [String]?
        public var answer: String
        public var explanation: String
        /// The passage of the source that proves the answer (it contains the answer).
        public var source: Quote

        public init(id: String, type: String, question: String, choices: [String]?, answer: String, explanation: String, source: Quote) {
            self.id = id
            self.type = type
            self.question = question
            self.choices = choices
            self.answer = answer
            self.explanation = explanation
            self.source = source
        }
    }
    public var schema = "depot.quiz/1"
    public var language: String
    public var difficulty: String
    public var questions: [Question]

    public init(language: String, difficulty: String, questions: [Question]) {
        self.language = language
        self.difficulty = difficulty
        self.questions = questions
    }
}

/// keywords.json (`depot.keywords/1`).
public struct KeywordsDocument: Codable, Sendable, Equatable {
    public struct Keyword: Codable, Sendable, Equatable {
        public var term: String
        /// Higher is more important, in (0, 1].
        public var score: Double
        public var count: Int
        /// Where it first appears.
        public var anchor: Anchor
        public init(term: String, score: Double, count: Int, anchor: Anchor) {
            self.term = term
            self.score = score
            self.count = count
            self.anchor = anchor
        }
    }
    public var schema = "depot.keywords/1"
    public var language: String
    /// "yake" (builtin) or "model".
    public var method: String
    public var keywords: [Keyword]

    public init(language: String, method: String, keywords: [Keyword]) {
        self.language = language
        self.method = method
        self.keywords = keywords
    }
}

/// generation.json (`depot.generation/1`): which engine, model and templates made the other
/// four, with what parameters, and what it cost. The manifest lists it with them.
public struct GenerationInfo: Codable, Sendable, Equatable {
    public struct Tokens: Codable, Sendable, Equatable {
        public var prompt: Int
        public var completion: Int
        public init(prompt: Int = 0, completion: Int = 0) {
            self.prompt = prompt
            self.completion = completion
        }
    }
    public var schema = "depot.generation/1"
    /// "builtin" or "openai".
    public var engine: String
    public var engineVersion: String
    /// The model's name (openai only).
    public var model: String?
    /// Prompt template per output, as "file@sha256-prefix" (openai only).
    public var templates: [String: String]
    public var parameters: [String: String]
    public var language: String
    /// Chunks the input was cut into for a model's context (map-reduce); 1 when it fit.
    public var chunks: Int
    public var requests: Int
    public var tokens: Tokens
    public var latencyMs: Double
    /// Set when the openai backend failed and the builtin engine made the outputs instead.
    public var fallbackReason: String?
    public var warnings: [String]

    public init(engine: String, engineVersion: String, model: String? = nil, templates: [String: String] = [:],
                parameters: [String: String], language: String, chunks: Int = 1, requests: Int = 0, tokens: Tokens = Tokens(),
                latencyMs: Double = 0, fallbackReason: String? = nil, warnings: [String] = []) {
        self.engine = engine
        self.engineVersion = engineVersion
        self.model = model
        self.templates = templates
        self.parameters = parameters
        self.language = language
        self.chunks = chunks
        self.requests = requests
        self.tokens = tokens
        self.latencyMs = latencyMs
        self.fallbackReason = fallbackReason
        self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey {
        case schema, engine, model, templates, parameters, language, chunks, requests, tokens, warnings
        case engineVersion = "engine_version", latencyMs = "latency_ms", fallbackReason = "fallback_reason"
    }

    /// What generation.json says in figures, as the job's report for the analytics: the engine
    /// and model as labels; requests, tokens in and out, latency, chunks and fallbacks as values.
    public var report: JobReport {
        JobReport(labels: ["engine": engine, "model": model ?? ""],
                  values: ["requests": Double(requests), "tokens_in": Double(tokens.prompt), "tokens_out": Double(tokens.completion),
                           "latency_ms": latencyMs, "chunks": Double(chunks), "fallbacks": fallbackReason == nil ? 0 : 1])
    }
}

/// What one generation made.
public struct GenerationOutput: Sendable, Equatable {
    public var summary: SummaryDocument
    public var chapters: ChaptersDocument
    public var quiz: QuizDocument
    public var keywords: KeywordsDocument
    public var info: GenerationInfo

    public init(summary: SummaryDocument, chapters: ChaptersDocument, quiz: QuizDocument, keywords: KeywordsDocument, info: GenerationInfo) {
        self.summary = summary
        self.chapters = chapters
        self.quiz = quiz
        self.keywords = keywords
        self.info = info
    }

    /// Writes summary.md, summary.json, chapters.json, quiz.json, keywords.json and
    /// generation.json into `directory` and returns their names in that order.
    ///
    /// Plain writes, as the document processors' are: the runner makes the artifacts durable
    /// when it stores them (its commit fsyncs each file), so a flush here would only cost time
    /// (Foundation's `Data.write(to:)` fsyncs every file: about 40 ms a job of six files).
    public func write(to directory: String) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ value: T, _ name: String) throws -> String {
            var data = try encoder.encode(value)
            data.append(0x0A)
            try Self.writeFile(directory + "/" + name, data)
            return name
        }
        try Self.writeFile(directory + "/summary.md", Data(summary.markdown().utf8))
        return ["summary.md", try json(summary, "summary.json"), try json(chapters, "chapters.json"), try json(quiz, "quiz.json"),
                try json(keywords, "keywords.json"), try json(info, "generation.json")]
    }

    /// Creates or replaces the file at `path` with `bytes` (mode 0666 less the umask, as
    /// `Data.write(to:)` makes it).
    static func writeFile(_ path: String, _ bytes: Data) throws {
        let fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
    }

    /// Artifact kind → MIME type of what `write` makes.
    public static let artifactKinds = ["summary.md": "text/markdown; charset=utf-8", "summary.json": "application/json",
                                       "chapters.json": "application/json", "quiz.json": "application/json",
                                       "keywords.json": "application/json", "generation.json": "application/json"]
}
