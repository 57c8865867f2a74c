import Foundation

/// One sentence of the source with what the builtin engine measures on it.
struct Sentence {
    var index: Int
    var text: String
    var paragraph: Int
    var anchor: Anchor
    /// Words as written (case kept), in order.
    var tokens: [String]
    /// The stems of its content words (no stop words, no bare numbers): what similarity counts.
    var terms: [String]
    /// Ends with a terminal mark and starts as a sentence does: fit to be quoted whole.
    var isComplete: Bool
}

/// The source cut into sentences and words once, for every generator of the builtin engine.
struct Analysis {
    let document: SourceDocument
    let language: Language
    let sentences: [Sentence]
    /// Paragraph index → its sentences' range.
    let sentencesOfParagraph: [Range<Int>]
    /// Inverse sentence frequency of each term: log(N / df).
    let idf: [String: Double]

    init(_ document: SourceDocument, language code: String? = nil) {
        self.document = document
        // The language from a sample of the words (the first 5000 are plenty).
        var sample: [String] = []
        var sampleSentences: [[String]] = []
        for paragraph in document.paragraphs where sample.count < 5000 {
            let words = TextBreaks.words(paragraph.text)
            sample += words
            sampleSentences.append(words)
        }
        let language = code.flatMap { $0 == "auto" ? nil : Language.named($0) } ?? Language.detect(words: sample, sentences: sampleSentences)
        self.language = language
        var sentences: [Sentence] = []
        var ranges: [Range<Int>] = []
        for (p, paragraph) in document.paragraphs.enumerated() {
            let start = sentences.count
            if !paragraph.isHeading {
                for text in TextBreaks.sentences(paragraph.text, abbreviations: language.abbreviations) {
                    let tokens = TextBreaks.tokens(text)
                    let terms = tokens.compactMap { token -> String? in
                        let word = token.lowercased()
                        guard word.count > 1, !language.isStop(word), word.contains(where: \.isLetter) else { return nil }
                        return language.stem(word)
                    }
                    let first = text.first(where: { !TextBreaks.openers.contains($0) || $0.isLetter || $0.isNumber })
                    let last = text.last(where: { !TextBreaks.closers.contains($0) })
                    let complete = (first.map { $0.isUppercase || $0.isNumber || ($0.isLetter && !$0.isLowercase) } ?? false)
                        && (last.map { TextBreaks.terminals.contains($0) } ?? false) && tokens.count >= 4
                    sentences.append(Sentence(index: sentences.count, text: text, paragraph: p, anchor: paragraph.anchor,
                                              tokens: tokens, terms: terms, isComplete: complete))
                }
            }
            ranges.append(start..<sentences.count)
        }
        self.sentences = sentences
        self.sentencesOfParagraph = ranges
        var df: [String: Int] = [:]
        for sentence in sentences { for term in Set(sentence.terms) { df[term, default: 0] += 1 } }
        let n = Double(max(1, sentences.count))
        idf = df.mapValues { log(n / Double($0)) + 1 }
    }

    /// A sentence's TF-IDF vector, as sorted (term, weight) pairs for a quick cosine.
    func vector(_ terms: [String]) -> [String: Double] {
        var tf: [String: Double] = [:]
        for term in terms { tf[term, default: 0] += 1 }
        for (term, count) in tf { tf[term] = count * (idf[term] ?? 1) }
        return tf
    }
}

func cosine(_ a: [String: Double], _ b: [String: Double]) -> Double {
    guard !a.isEmpty, !b.isEmpty else { return 0 }
    let (small, large) = a.count <= b.count ? (a, b) : (b, a)
    var dot = 0.0
    for (term, weight) in small { if let other = large[term] { dot += weight * other } }
    guard dot > 0 else { return 0 }
    let na = a.values.reduce(0) { $0 + $1 * $1 }, nb = b.values.reduce(0) { $0 + $1 * $1 }
    return dot / (na.squareRoot() * nb.squareRoot())
}
