import Foundation

/// A key term of the document and where it first appears.
struct KeyTerm {
    /// As the document writes it most often ("Fourier transform").
    var text: String
    /// Lower-case stems, joined by spaces: the term's identity.
    var key: String
    /// The same stems by number (`Analysis.stems`).
    var stems: [Int]
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
        let spellings = analysis.spellings
        let stems = analysis.stems
        struct WordStats {
            var tf = 0, upper = 0, acronym = 0
            var sentences: [Int] = []
            /// Uses with a word before (after) it in the chunk, and how many different words those were.
            var left = 0, right = 0, differentLeft = 0, differentRight = 0
        }
        // By stem number (the analysis numbers stems in the order this pass meets them).
        var stats = [WordStats](repeating: WordStats(), count: stems.count)
        var leftPairs = Set<Pair>(), rightPairs = Set<Pair>()
        // Phrase candidates: within punctuation-free chunks of each sentence.
        struct Candidate {
            var stems: [Int]
            var count = 0
            /// Spellings → (uses, the words as the first use wrote them).
            var forms: [Triple: (count: Int, text: String)] = [:]
            var first = Int.max
            var upper = 0
        }
        var candidates: [Candidate] = []
        var candidateNumbers: [Triple: Int] = [:]
        for sentence in analysis.sentences {
            let words = sentence.spellings
            for chunk in chunks(sentence) {
                // The sentence's first chunk starts with a capital whatever the word is.
                let opensSentence = chunk.opensSentence
                let lo = chunk.tokens.lowerBound, hi = chunk.tokens.upperBound
                for i in lo..<hi {
                    let word = spellings[words[i]]
                    let n = word.stem
                    stats[n].tf += 1
                    if word.isAcronym {
                        stats[n].acronym += 1
                    } else if word.startsUpper && !(i == lo && opensSentence) {
                        stats[n].upper += 1
                    }
                    if stats[n].sentences.last != sentence.index { stats[n].sentences.append(sentence.index) }
                    if i > lo {
                        stats[n].left += 1
                        if leftPairs.insert(Pair(n, sentence.stems[i - 1])).inserted { stats[n].differentLeft += 1 }
                    }
                    if i + 1 < hi {
                        stats[n].right += 1
                        if rightPairs.insert(Pair(n, sentence.stems[i + 1])).inserted { stats[n].differentRight += 1 }
                    }
                }
                for start in lo..<hi {
                    guard spellings[words[start]].isContent else { continue }
                    var capitalised = !(start == lo && opensSentence)
                    for length in 1...maxWords where start + length <= hi {
                        let end = start + length - 1
                        let last = spellings[words[end]]
                        // No function word anywhere in a phrase ("licht in chemische" is no term).
                        if !last.isContent { break }
                        // (The words before `end` passed these tests in the rounds before.)
                        if !last.isWordLike { break }
                        capitalised = capitalised && last.startsUpper
                        let key = Triple(sentence.stems[start...end])
                        let number: Int
                        if let known = candidateNumbers[key] { number = known } else {
                            number = candidates.count
                            candidateNumbers[key] = number
                            candidates.append(Candidate(stems: Array(sentence.stems[start...end])))
                        }
                        candidates[number].count += 1
                        let form = Triple(words[start...end])
                        if let known = candidates[number].forms[form] {
                            candidates[number].forms[form] = (known.count + 1, known.text)
                        } else {
                            candidates[number].forms[form] = (1, sentence.tokens[start...end].joined(separator: " "))
                        }
                        candidates[number].first = min(candidates[number].first, sentence.index)
                        if capitalised { candidates[number].upper += 1 }
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
            let dl = s.left == 0 ? 0 : Double(s.differentLeft) / Double(s.left)
            let dr = s.right == 0 ? 0 : Double(s.differentRight) / Double(s.right)
            let relatedness = 1 + (dl + dr) * tf / maxTF
            let spread = Double(s.sentences.count) / sentenceCount
            return relatedness * position / (casing + frequency / relatedness + spread / relatedness)
        }
        var terms: [KeyTerm] = []
        for c in candidates {
            let numbers = c.stems
            let scores = numbers.map { wordScore[$0] }
            let product = scores.reduce(1, *)
            let sum = scores.reduce(0, +)
            let score = product / (Double(c.count) * (1 + sum))
            let form = c.forms.values.max { $0.count != $1.count ? $0.count < $1.count : $0.text > $1.text }!.text
            let numeric = numbers.allSatisfy { !stems[$0].contains(where: \.isLetter) }
            let key = numbers.map { stems[$0] }.joined(separator: " ")
            terms.append(KeyTerm(text: form, key: key, stems: numbers, words: numbers.count, score: score, count: c.count, firstSentence: c.first,
                                 isProperName: c.upper * 2 > c.count, isNumeric: numeric))
        }
        terms.sort { $0.score != $1.score ? $0.score < $1.score : $0.key < $1.key }
        var kept: [KeyTerm] = []
        var keptCharacters: [[Character]] = []  // each kept key's characters, for `similar`
        for term in terms where !term.isNumeric && term.text.count >= 3 {
            let characters = Array(term.key)
            if kept.indices.contains(where: { similar(kept[$0].key, keptCharacters[$0], term.key, characters) }) { continue }
            kept.append(term)
            keptCharacters.append(characters)
            if kept.count >= limit { break }
        }
        return kept
    }

    static func isContent(_ word: String, _ language: Language) -> Bool {
        // Without an apostrophe's byte there is nothing to replace (and no search through Foundation).
        let unquoted = word.utf8.contains(0x27) ? word.replacingOccurrences(of: "'", with: "") : word
        return word.count > 1 && !language.isStop(word) && !language.isStop(unquoted) && word.contains(where: \.isLetter)
    }

    /// A sentence's runs between punctuation (commas, colons, brackets, quotes, dashes) that
    /// have words in them, as ranges of its tokens (no token holds such a mark, so each is in
    /// one run), and whether the run's text is that of the sentence's first run.
    static func chunks(_ sentence: Sentence) -> [(tokens: Range<Int>, opensSentence: Bool)] {
        let text = sentence.text
        var runs: [Range<String.Index>] = []
        if let bytes = TextBreaks.asciiBytes(text) {
            // Each byte a character: the runs between break bytes.
            let utf8 = text.utf8
            var runStart = 0
            for (k, byte) in bytes.enumerated() where chunkBreaks.asciiMembers[Int(byte)] {
                if runStart < k { runs.append(utf8.index(utf8.startIndex, offsetBy: runStart)..<utf8.index(utf8.startIndex, offsetBy: k)) }
                runStart = k + 1
            }
            if runStart < bytes.count { runs.append(utf8.index(utf8.startIndex, offsetBy: runStart)..<text.endIndex) }
        } else {
            var runStart = text.startIndex
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(after: index)
                if chunkBreaks.contains(text[index]) {
                    if runStart < index { runs.append(runStart..<index) }
                    runStart = next
                }
                index = next
            }
            if runStart < text.endIndex { runs.append(runStart..<text.endIndex) }
        }
        var result: [(tokens: Range<Int>, opensSentence: Bool)] = []
        var run = 0
        var k = 0
        let ranges = sentence.tokenRanges
        while k < ranges.count {
            while runs[run].upperBound <= ranges[k].lowerBound { run += 1 }
            var end = k + 1
            while end < ranges.count, ranges[end].lowerBound < runs[run].upperBound { end += 1 }
            result.append((k..<end, run == 0 || text[runs[run]] == text[runs[0]]))
            k = end
        }
        return result
    }

    /// Two stem numbers, for the sets of neighbours.
    struct Pair: Hashable {
        var word: Int, neighbour: Int
        init(_ word: Int, _ neighbour: Int) {
            self.word = word
            self.neighbour = neighbour
        }
    }

    /// Up to three numbers (stems or spellings of a phrase), as a key.
    struct Triple: Hashable {
        var a: Int32 = -1, b: Int32 = -1, c: Int32 = -1
        init(_ numbers: ArraySlice<Int>) {
            var it = numbers.makeIterator()
            if let x = it.next() { a = Int32(x) }
            if let x = it.next() { b = Int32(x) }
            if let x = it.next() { c = Int32(x) }
            precondition(it.next() == nil, "a phrase of more than three words")
        }
    }

    private static let chunkBreaks = CharacterClass.Members(Set<Character>(",;:()[]{}\"“”«»„!?.…—–/|"))

    /// The same stems, or one differing from the other by little (YAKE's near-duplicate
    /// filter: a normalised edit distance under 0.2). `x` and `y` are the characters of `a` and
    /// `b`, made once per key by the caller.
    static func similar(_ a: String, _ x: [Character], _ b: String, _ y: [Character]) -> Bool {
        if a == b { return true }
        let longest = max(x.count, y.count)
        guard longest > 0, abs(x.count - y.count) * 5 < longest else { return false }
        // Levenshtein's table row by row, two rows reused.
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...max(1, y.count) where y.count > 0 {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return Double(previous[y.count]) / Double(longest) < 0.2
    }
}
