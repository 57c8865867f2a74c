// DepotGenerate: study material from what the extract job found — summary, chapters, quiz
// and keywords — by one of two engines behind one interface: the builtin engine (Builtin/:
// deterministic, offline, pure Swift) and an OpenAI-compatible chat-completions backend over
// libcurl (OpenAI/: templates, structured output, validation and repair, retries, a circuit
// breaker). Source/ turns text.txt + structure.json (or a timed transcript) into paragraphs
// with anchors; Text/ cuts sentences and words for any script; Output/ holds the artifacts'
// Codable shapes (docs/schemas). It owns no table and touches no catalog: the generate
// processor in a worker process calls it with files and writes files.
import Foundation

/// What to make, from the job's parameters (`[generate]` in config, per collection, per request).
public struct GenerationOptions: Sendable, Equatable {
    public enum Difficulty: String, Sendable, CaseIterable { case easy, medium, hard }
    /// Words of the short summary; the long one has four times as many.
    public var summaryWords: Int
    /// When set, the short summary has this many sentences instead (and the long one three times as many).
    public var summarySentences: Int?
    public var questions: Int
    public var difficulty: Difficulty
    /// "auto" (detected from the text) or an ISO 639-1 code.
    public var language: String
    public var keywords: Int
    /// A subfolder of the prompts folder whose templates come first ("": none).
    public var prompts: String = ""

    public init(summaryWords: Int = 120, summarySentences: Int? = nil, questions: Int = 10, difficulty: Difficulty = .medium,
                language: String = "auto", keywords: Int = 15) {
        self.summaryWords = summaryWords
        self.summarySentences = summarySentences
        self.questions = questions
        self.difficulty = difficulty
        self.language = language
        self.keywords = keywords
    }

    /// The options as generation.json records them.
    public var recorded: [String: String] {
        var r = ["summary_words": "\(summaryWords)", "questions": "\(questions)", "difficulty": difficulty.rawValue,
                 "language": language, "keywords": "\(keywords)"]
        if let summarySentences { r["summary_sentences"] = "\(summarySentences)" }
        if !prompts.isEmpty { r["prompts"] = prompts }
        return r
    }
}

/// One way of generating. Both engines pass one shared test suite
/// (Tests/DepotGenerateTests/EngineContractTests.swift).
public protocol GenerationEngine: Sendable {
    /// "builtin", "openai".
    var name: String { get }
    /// - Throws: `GenerationInputError` for a source with nothing to generate from; an
    ///   engine's own error (`ChatError`) when it cannot answer.
    func generate(_ source: SourceDocument, options: GenerationOptions) throws -> GenerationOutput
}
