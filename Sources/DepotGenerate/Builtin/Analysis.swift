import Foundation

/// One sentence of the source with what the builtin engine measures on it.
struct Sentence {
    var index: Int
    var text: String
    var paragraph: Int
    var anchor: Anchor
    /// Words as written (case kept), in order.
    var tokens: [String]
    /// Where each token is in `text`.
    var tokenRanges: [Range<String.Index>]
    /// Each token's spelling (an index into `Analysis.spellings`).
    var spellings: [Int]
    /// Each token's stem (an index into `Analysis.stems`).
    var stems: [Int]
    /// The stems of its content words (no stop words, no bare numbers): what similarity counts.
    var terms: [Int]
    /// Ends with a terminal mark and starts as a sentence does: fit to be quoted whole.
    var isComplete: Bool
}

/// A word as the document writes it (’ as '), with what the generators ask of it, worked out
/// once for all its uses.
struct Spelling {
    var lower: String
    /// Its stem (an index into `Analysis.stems`).
    var stem: Int
    /// Counts for similarity: more than one character, no stop word, a letter in it.
    var isTerm: Bool
    /// May be in a key phrase (`Keywords.isContent`).
    var isContent: Bool
    /// Has a letter or a digit.
    var isWordLike: Bool
    /// Two characters or more, all its letters capitals: an acronym.
    var isAcronym: Bool
    var startsUpper: Bool
}

/// The source cut into sentences and words once, for every generator of the builtin engine.
/// Words and stems are numbered the first time they are seen (in the order of the sentences),
/// so that the generators count and compare numbers instead of strings.
struct Analysis {
    let document: SourceDocument
    let language: Language
    let sentences: [Sentence]
    /// Paragraph index → its sentences' range.
    let sentencesOfParagraph: [Range<Int>]
    let spellings: [Spelling]
    /// The stems, by number.
    let stems: [String]
    /// Inverse sentence frequency of each stem that is a term, log(N / df) + 1 (0 for the others).
    let idf: [Double]

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
        var spellings: [Spelling] = []
        var spellingNumbers: [String: Int] = [:]
        var stems: [String] = []
        var stemNumbers: [String: Int] = [:]
        func spelling(_ token: String) -> Int {
            if let known = spellingNumbers[token] { return known }
            let lower = token.lowercased()
            let stem = language.stem(lower)
            let stemNumber: Int
            if let known = stemNumbers[stem] { stemNumber = known } else {
                stemNumber = stems.count
                stemNumbers[stem] = stemNumber
                stems.append(stem)
            }
            let hasLetter = lower.contains(where: CharacterClass.isLetter)
            let tokenHasLetter = token.contains(where: CharacterClass.isLetter)
            let entry = Spelling(
                lower: lower, stem: stemNumber,
                isTerm: lower.count > 1 && !language.isStop(lower) && hasLetter,
                isContent: Keywords.isContent(lower, language),
                isWordLike: hasLetter || lower.contains(where: CharacterClass.isNumber),
                isAcronym: token.count > 1 && token.allSatisfy({ !CharacterClass.isLetter($0) || CharacterClass.isUppercase($0) }) && tokenHasLetter,
                startsUpper: token.first.map(CharacterClass.isUppercase) == true)
            let number = spellings.count
            spellings.append(entry)
            spellingNumbers[token] = number
            return number
        }
        var sentences: [Sentence] = []
        var ranges: [Range<Int>] = []
        for (p, paragraph) in document.paragraphs.enumerated() {
            let start = sentences.count
            if !paragraph.isHeading {
                for text in TextBreaks.sentences(paragraph.text, abbreviations: language.abbreviations) {
                    let tokenRanges = TextBreaks.tokenRanges(text)
                    let tokens = TextBreaks.tokens(text, at: tokenRanges)
                    let numbers = tokens.map(spelling)
                    let tokenStems = numbers.map { spellings[$0].stem }
                    var terms: [Int] = []
                    for (k, number) in numbers.enumerated() where spellings[number].isTerm { terms.append(tokenStems[k]) }
                    let first = text.first(where: { !TextBreaks.openers.contains($0) || CharacterClass.isLetter($0) || CharacterClass.isNumber($0) })
                    let last = text.last(where: { !TextBreaks.closers.contains($0) })
                    let complete = (first.map { CharacterClass.isUppercase($0) || CharacterClass.isNumber($0)
                        || (CharacterClass.isLetter($0) && !CharacterClass.isLowercase($0)) } ?? false)
                        && (last.map { TextBreaks.terminals.contains($0) } ?? false) && tokens.count >= 4
                    sentences.append(Sentence(index: sentences.count, text: text, paragraph: p, anchor: paragraph.anchor,
                                              tokens: tokens, tokenRanges: tokenRanges, spellings: numbers, stems: tokenStems,
                                              terms: terms, isComplete: complete))
                }
            }
            ranges.append(start..<sentences.count)
        }
        self.sentences = sentences
        self.sentencesOfParagraph = ranges
        self.spellings = spellings
        self.stems = stems
        var df = [Int](repeating: 0, count: stems.count)
        var seen = [Int](repeating: -1, count: stems.count)  // the last sentence that counted each stem
        for sentence in sentences {
            for term in sentence.terms where seen[term] != sentence.index {
                seen[term] = sentence.index
                df[term] += 1
            }
        }
        let n = Double(max(1, sentences.count))
        idf = df.map { $0 == 0 ? 0 : log(n / Double($0)) + 1 }
    }

    /// A sentence's TF-IDF vector.
    func vector(_ terms: [Int]) -> TermVector {
        var vector = TermVector()
        for term in terms.sorted() {
            if vector.ids.last == term { vector.weights[vector.weights.count - 1] += 1 } else {
                vector.ids.append(term)
                vector.weights.append(1)
            }
        }
        for k in vector.ids.indices { vector.weights[k] *= idf[vector.ids[k]] }
        return vector
    }
}

/// A sparse vector over stems: their numbers ascending, each with its weight.
struct TermVector {
    var ids: [Int] = []
    var weights: [Double] = []

    var isEmpty: Bool { ids.isEmpty }

    /// The same vector with length 1 (an empty or zero vector stays as it is).
    func normalized() -> TermVector {
        let norm = weights.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return self }
        return TermVector(ids: ids, weights: weights.map { $0 / norm })
    }
}

func cosine(_ a: TermVector, _ b: TermVector) -> Double {
    guard !a.isEmpty, !b.isEmpty else { return 0 }
    var dot = 0.0
    var i = 0, j = 0
    while i < a.ids.count && j < b.ids.count {
        let x = a.ids[i], y = b.ids[j]
        if x == y {
            dot += a.weights[i] * b.weights[j]
            i += 1
            j += 1
        } else if x < y {
            i += 1
        } else {
            j += 1
        }
    }
    guard dot > 0 else { return 0 }
    let na = a.weights.reduce(0) { $0 + $1 * $1 }, nb = b.weights.reduce(0) { $0 + $1 * $1 }
    return dot / (na.squareRoot() * nb.squareRoot())
}
