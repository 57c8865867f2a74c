import Foundation

/// Questions from key sentences and key terms: a key term is blanked in the best-ranked
/// complete sentence that uses it. Multiple-choice questions offer as distractors other key
/// terms of the same kind from the same document (as many words, a name for a name), none
/// of which the sentence uses; a cloze asks for the term itself. Each question quotes the
/// sentence, with its anchor, so that its answer can be checked in the source. No two
/// questions share a sentence or an answer.
struct QuizMaker {
    let analysis: Analysis
    let scores: [Double]
    let terms: [KeyTerm]
    let options: GenerationOptions

    func make() -> QuizDocument {
        let phrases = Phrases.of(analysis.language.code)
        var questions: [QuizDocument.Question] = []
        var usedSentences = Set<Int>(), usedAnswers = Set<String>()
        for term in terms where questions.count < options.questions {
            guard !usedAnswers.contains(term.key), !term.isNumeric else { continue }
            let termStems = term.stems
            // The best-ranked complete sentence of fit length that uses the term.
            var best: (Int, Int)?  // sentence, token offset
            for (i, s) in analysis.sentences.enumerated() where !usedSentences.contains(i) {
                guard s.isComplete, (8...45).contains(s.tokens.count), let at = find(termStems, in: s.stems) else { continue }
                if best == nil || scores[i] > scores[best!.0] { best = (i, at) }
            }
            guard let (index, at) = best else { continue }
            let sentence = analysis.sentences[index]
            let ranges = sentence.tokenRanges
            guard at + termStems.count <= ranges.count else { continue }
            let span = ranges[at].lowerBound..<ranges[at + termStems.count - 1].upperBound
            let answer = String(sentence.text[span])
            let blanked = sentence.text.replacingCharacters(in: span, with: "_____")
            let multipleChoice: Bool
            switch options.difficulty {
            case .easy: multipleChoice = true
            case .medium: multipleChoice = questions.count % 3 != 2
            case .hard: multipleChoice = questions.count % 2 == 0
            }
            var choices: [String]?
            if multipleChoice {
                let distractors = pickDistractors(for: term, answer: answer, sentence: sentence.stems)
                if distractors.count == 3 { choices = ordered([answer] + distractors, seed: term.key) }
            }
            let id = "q\(questions.count + 1)"
            let question = choices != nil ? phrases.multipleChoice(blanked) : phrases.cloze(blanked)
            let explanation = phrases.explanation(answer, where: describe(sentence.anchor, phrases), quote: sentence.text)
            questions.append(QuizDocument.Question(id: id, type: choices != nil ? "multiple_choice" : "cloze", question: question,
                                                   choices: choices, answer: answer, explanation: explanation,
                                                   source: Quote(text: sentence.text, anchor: sentence.anchor)))
            usedSentences.insert(index)
            usedAnswers.insert(term.key)
        }
        return QuizDocument(language: analysis.language.code, difficulty: options.difficulty.rawValue, questions: questions)
    }

    /// Where `needle` starts in `haystack` (whole words), if it does.
    func find(_ needle: [Int], in haystack: [Int]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        return nil
    }

    /// Three other key terms of the same kind, none in the sentence, none overlapping the
    /// answer: for a hard question the ones ranked next to it, for an easy one the ones
    /// ranked farthest, in between for medium.
    func pickDistractors(for term: KeyTerm, answer: String, sentence: [Int]) -> [String] {
        let answerStems = Set(term.stems)
        let sentenceStems = Set(sentence)
        let rank = terms.firstIndex { $0.key == term.key } ?? 0
        var pool = terms.enumerated().filter { (_, other) in
            other.key != term.key && other.isProperName == term.isProperName && !other.isNumeric
                && abs(other.words - term.words) <= (options.difficulty == .hard ? 0 : 1)
                && answerStems.isDisjoint(with: other.stems)
                && sentenceStems.isDisjoint(with: other.stems)
                && other.text.lowercased() != answer.lowercased()
        }
        switch options.difficulty {
        case .hard: pool.sort { abs($0.offset - rank) < abs($1.offset - rank) }
        case .easy: pool.sort { abs($0.offset - rank) > abs($1.offset - rank) }
        case .medium: break
        }
        var picked: [String] = []
        for (_, other) in pool where picked.count < 3 {
            let form = matchCase(other.text, like: answer)
            if !picked.contains(where: { $0.lowercased() == form.lowercased() }) { picked.append(form) }
        }
        return picked
    }

    /// A distractor written as the answer is: lower-case when the answer is.
    func matchCase(_ text: String, like answer: String) -> String {
        if answer.first?.isLowercase == true, text.dropFirst().allSatisfy({ !$0.isUppercase }) { return text.lowercased() }
        return text
    }

    /// The choices in an order that depends on the question only (not where the answer was).
    func ordered(_ choices: [String], seed: String) -> [String] {
        choices.sorted { fnv1a(seed + "\u{1}" + $0) < fnv1a(seed + "\u{1}" + $1) }
    }

    func describe(_ anchor: Anchor, _ phrases: Phrases) -> String {
        if let start = anchor.start { return phrases.at(formatTime(start)) }
        if let slide = anchor.slide { return phrases.slide(slide) }
        if let page = anchor.page { return phrases.page(page) }
        if let heading = anchor.heading { return phrases.section(heading) }
        if let line = anchor.line { return phrases.line(line) }
        return ""
    }
}

func formatTime(_ seconds: Double) -> String {
    let s = Int(seconds.rounded(.down))
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// 64-bit FNV-1a of the UTF-8 bytes: a stable hash (Swift's `hashValue` changes per process).
func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf29ce484222325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100000001b3
    }
    return hash
}

/// The quiz's own words in the document's language (English for a language without an entry).
struct Phrases {
    var multipleChoice: (String) -> String
    var cloze: (String) -> String
    var explanation: (String, String, String) -> String
    var page: (Int) -> String
    var slide: (Int) -> String
    var line: (Int) -> String
    var section: (String) -> String
    var at: (String) -> String

    func explanation(_ answer: String, where place: String, quote: String) -> String { explanation(answer, place, quote) }

    static func of(_ language: String) -> Phrases {
        switch language {
        case "de":
            return Phrases(multipleChoice: { "Welcher Begriff ergänzt den Satz? „\($0)“" }, cloze: { "Ergänzen Sie die Lücke: „\($0)“" },
                           explanation: { "„\($0)“ – so steht es \($1): „\($2)“" }, page: { "auf Seite \($0)" }, slide: { "auf Folie \($0)" },
                           line: { "in Zeile \($0)" }, section: { "im Abschnitt „\($0)“" }, at: { "bei \($0)" })
        case "fr":
            return Phrases(multipleChoice: { "Quel terme complète la phrase ? « \($0) »" }, cloze: { "Complétez le blanc : « \($0) »" },
                           explanation: { "« \($0) » : c’est ce que dit le texte \($1) : « \($2) »" }, page: { "à la page \($0)" },
                           slide: { "à la diapositive \($0)" }, line: { "à la ligne \($0)" }, section: { "dans la section « \($0) »" },
                           at: { "à \($0)" })
        default:
            return Phrases(multipleChoice: { "Which term completes the sentence? “\($0)”" }, cloze: { "Fill in the blank: “\($0)”" },
                           explanation: { "“\($0)”: so the source says \($1): “\($2)”" }, page: { "on page \($0)" }, slide: { "on slide \($0)" },
                           line: { "at line \($0)" }, section: { "in the section “\($0)”" }, at: { "at \($0)" })
        }
    }
}
