import Foundation

/// A key term of the document and where it first appears.
struct KeyTerm {
    /// As the document writes it most often ("Fourier transform").
    var text: String
    /// Lower-case stems, joined by spaces: the term's identity.
    var key: String
    var words: Int
    /// YAKE's score: lower is more important.
    var score: Double
    var count: Int
    var firstSentence: Int
    /// Written with a capital inside sentences most of the time: a name.
    var isProperName: Bool
    var isNumeric: Bool
}

/// Keywords without a model or a collection (YAKE, Campos et al. 2020): each word is scored
/// by its casing, its position, its frequency, how many different words stand beside it (a
/// word with many different neighbours is a function word, whatever the language) and how
/// many sentences it is in; a phrase of up to three words by its words' scores and its own
/// frequency. Phrases do not start or end with a stop word of the document's language, and
/// near-duplicates (the same stems) are kept once.
enum Keywords {
    static func extract(_ analysis: Analysis, limit: Int, maxWords: Int = 3) -> [KeyTerm] {
        let language = analysis.language
        struct WordStats {
            var tf = 0, upper = 0, acronym = 0
            var sentences: [Int] = []
            var left: [Int: Int] = [:], right: [Int: Int] = [:]
        }
        // Each stem gets a number the first time it is seen (one lookup per word: a lower-case
        // word's stem number); the tables are arrays and neighbour counts keyed by number,
        // updated in place.
        var stems: [String] = []
        var stats: [WordStats] = []
        var stemNumbers: [String: Int] = [:]
        var wordNumbers: [String: (stem: Int, content: Bool)] = [:]
        func number(_ lower: String) -> (stem: Int, content: Bool) {
            if let known = wordNumbers[lower] { return known }
            let stem = language.stem(lower)
            let n: Int
            if let known = stemNumbers[stem] { n = known } else {
                n = stems.count
                stemNumbers[stem] = n
                stems.append(stem)
                stats.append(WordStats())
            }
            let answer = (n, isContent(lower, language))
            wordNumbers[lower] = answer
            return answer
        }
        // Phrase candidates: within punctuation-free chunks of each sentence.
        struct Candidate { var count = 0; var forms: [String: Int] = [:]; var first = Int.max; var upper = 0 }
        var candidates: [[Int]: Candidate] = [:]
        for sentence in analysis.sentences {
            let sentenceChunks = chunks(sentence.text)
            for chunk in sentenceChunks {
                // The sentence's first chunk starts with a capital whatever the word is.
                let opensSentence = chunk == sentenceChunks[0]
                let tokens = TextBreaks.tokens(chunk)
                let lower = tokens.map { $0.lowercased() }
                let numbered = lower.map(number)
                for i in lower.indices {
                    let n = numbered[i].stem
                    let token = tokens[i]
                    stats[n].tf += 1
                    if token.count > 1, token.allSatisfy({ !$0.isLetter || $0.isUppercase }), token.contains(where: \.isLetter) {
                        stats[n].acronym += 1
                    } else if token.first?.isUppercase == true && !(i == 0 && opensSentence) {
                        stats[n].upper += 1
                    }
                    if stats[n].sentences.last != sentence.index { stats[n].sentences.append(sentence.index) }
                    if i > 0 { stats[n].left[numbered[i - 1].stem, default: 0] += 1 }
                    if i + 1 < numbered.count { stats[n].right[numbered[i + 1].stem, default: 0] += 1 }
                }
                let wordLike = lower.map { word in word.contains(where: \.isLetter) || word.contains(where: \.isNumber) }
                for start in lower.indices {
                    guard numbered[start].content else { continue }
                    for length in 1...maxWords where start + length <= lower.count {
                        let end = start + length - 1
                        // No function word anywhere in a phrase ("licht in chemische" is no term).
                        if !numbered[end].content { break }
                        if !wordLike[start...end].allSatisfy({ $0 }) { break }
                        let key = numbered[start...end].map(\.stem)
                        let capitalised = tokens[start...end].allSatisfy({ $0.first?.isUppercase == true }) && !(start == 0 && opensSentence)
                        candidates[key, default: Candidate()].count += 1
                        candidates[key]!.forms[tokens[start...end].joined(separator: " "), default: 0] += 1
                        candidates[key]!.first = min(candidates[key]!.first, sentence.index)
                        if capitalised { candidates[key]!.upper += 1 }
                    }
                }
            }
        }
        guard !stats.isEmpty else { return [] }
        let contentTF = stats.indices.filter { !language.isStop(stems[$0]) }.map { Double(stats[$0].tf) }
        let meanTF = contentTF.isEmpty ? 1 : contentTF.reduce(0, +) / Double(contentTF.count)
        let sdTF = contentTF.isEmpty ? 0 : (contentTF.reduce(0) { $0 + ($1 - meanTF) * ($1 - meanTF) } / Double(contentTF.count)).squareRoot()
        let maxTF = Double(stats.map(\.tf).max() ?? 1)
        let sentenceCount = Double(max(1, analysis.sentences.count))
        let wordScore = stats.map { s -> Double in
            let tf = Double(s.tf)
            let casing = Double(max(s.upper, s.acronym)) / (1 + log(tf))
            let median = Double(s.sentences[s.sentences.count / 2])
            let position = log(log(3 + median))
            let frequency = tf / (meanTF + sdTF)
            let dl = s.left.isEmpty ? 0 : Double(s.left.count) / Double(s.left.values.reduce(0, +))
            let dr = s.right.isEmpty ? 0 : Double(s.right.count) / Double(s.right.values.reduce(0, +))
            let relatedness = 1 + (dl + dr) * tf / maxTF
            let spread = Double(s.sentences.count) / sentenceCount
            return relatedness * position / (casing + frequency / relatedness + spread / relatedness)
        }
        var terms: [KeyTerm] = []
        for (numbers, c) in candidates {
            let scores = numbers.map { wordScore[$0] }
            let product = scores.reduce(1, *)
            let sum = scores.reduce(0, +)
            let score = product / (Double(c.count) * (1 + sum))
            let form = c.forms.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!.key
            let numeric = numbers.allSatisfy { !stems[$0].contains(where: \.isLetter) }
            let key = numbers.map { stems[$0] }.joined(separator: " ")
            terms.append(KeyTerm(text: form, key: key, words: numbers.count, score: score, count: c.count, firstSentence: c.first,
                                 isProperName: c.upper * 2 > c.count, isNumeric: numeric))
        }
        terms.sort { $0.score != $1.score ? $0.score < $1.score : $0.key < $1.key }
        var kept: [KeyTerm] = []
        for term in terms where !term.isNumeric && term.text.count >= 3 {
            if kept.contains(where: { similar($0.key, term.key) }) { continue }
            kept.append(term)
            if kept.count >= limit { break }
        }
        return kept
    }

    static func isContent(_ word: String, _ language: Language) -> Bool {
        word.count > 1 && !language.isStop(word) && !language.isStop(word.replacingOccurrences(of: "'", with: "")) && word.contains(where: \.isLetter)
    }

    /// A sentence's runs between punctuation (commas, colons, brackets, quotes, dashes).
    static func chunks(_ text: String) -> [String] {
        text.split(whereSeparator: { chunkBreaks.contains($0) }).map(String.init).filter { !$0.isEmpty }
    }

    private static let chunkBreaks = Set<Character>(",;:()[]{}\"“”«»„!?.…—–/|")

    /// The same stems, or one differing from the other by little (YAKE's near-duplicate
    /// filter: a normalised edit distance under 0.2).
    static func similar(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let x = Array(a), y = Array(b)
        let longest = max(x.count, y.count)
        guard longest > 0, abs(x.count - y.count) * 5 < longest else { return false }
        var previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + [Int](repeating: 0, count: y.count)
            for j in 1...max(1, y.count) where y.count > 0 {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return Double(previous[y.count]) / Double(longest) < 0.2
    }
}
