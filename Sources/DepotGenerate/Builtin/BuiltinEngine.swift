import Foundation

/// The default engine: deterministic (the same input gives the same bytes), offline, and
/// fast enough to run on every document. Summary by LexRank, chapters from the structure or
/// by TextTiling-style segmentation, keywords by YAKE, a quiz from key sentences and key terms.
public struct BuiltinEngine: GenerationEngine {
    public let name = "builtin"
    public static let version = "1"

    public init() {}

    public func generate(_ source: SourceDocument, options: GenerationOptions) throws -> GenerationOutput {
        let started = DispatchTime.now().uptimeNanoseconds
        let analysis = Analysis(source, language: options.language)
        guard !analysis.sentences.isEmpty else {
            throw GenerationInputError("the document has no text to generate from")
        }
        let language = analysis.language.code
        let scores = Summarizer.rank(analysis)
        let terms = Keywords.extract(analysis, limit: max(options.keywords, 60))
        let summary = makeSummary(analysis, scores: scores, options: options)
        let chapters = makeChapters(analysis, scores: scores, terms: terms)
        let quiz = QuizMaker(analysis: analysis, scores: scores, terms: terms, options: options).make()
        let keywords = KeywordsDocument(language: language, method: "yake", keywords: terms.prefix(options.keywords).map { term in
            KeywordsDocument.Keyword(term: term.text, score: (1 / (1 + term.score * 100) * 1e6).rounded() / 1e6, count: term.count,
                                     anchor: analysis.sentences[term.firstSentence].anchor)
        })
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        _ = elapsed
        // No latency in generation.json: the builtin engine's bytes depend on the input only.
        let info = GenerationInfo(engine: name, engineVersion: Self.version, parameters: options.recorded, language: language)
        return GenerationOutput(summary: summary, chapters: chapters, quiz: quiz, keywords: keywords, info: info)
    }

    func makeSummary(_ analysis: Analysis, scores: [Double], options: GenerationOptions) -> SummaryDocument {
        func form(words: Int, sentences: Int?) -> SummaryDocument.Form {
            let chosen = Summarizer.select(analysis, scores: scores, words: words, sentences: sentences)
            let quotes = chosen.map { Quote(text: analysis.sentences[$0].text, anchor: analysis.sentences[$0].anchor) }
            // Sentences of one paragraph stay together; a new paragraph of the source starts a new one.
            var text = ""
            var lastParagraph: Int?
            for i in chosen {
                let s = analysis.sentences[i]
                if let lastParagraph { text += lastParagraph == s.paragraph || options.summarySentences != nil ? " " : "\n\n" }
                text += s.text
                lastParagraph = s.paragraph
            }
            return SummaryDocument.Form(text: text, sentences: quotes)
        }
        let short = form(words: options.summaryWords, sentences: options.summarySentences)
        let long = form(words: options.summaryWords * 4, sentences: options.summarySentences.map { $0 * 3 })
        return SummaryDocument(language: analysis.language.code, title: analysis.document.title, short: short, long: long)
    }

    func makeChapters(_ analysis: Analysis, scores: [Double], terms: [KeyTerm]) -> ChaptersDocument {
        let document = analysis.document
        var starts: [(paragraph: Int, title: String?, anchor: Anchor?)] = []
        let fromStructure = !document.sections.isEmpty
        if fromStructure {
            if let first = document.sections.first?.firstParagraph, first > 0,
               analysis.sentencesOfParagraph[0..<first].reduce(0, { $0 + $1.count }) >= 3 {
                starts.append((0, nil, nil))  // text before the first heading: a chapter of its own
            }
            for section in document.sections { starts.append((section.firstParagraph, section.title, section.anchor)) }
        } else {
            starts.append((0, nil, nil))
            for p in Segmenter.boundaries(analysis) { starts.append((p, nil, nil)) }
        }
        var chapters: [ChaptersDocument.Chapter] = []
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1].paragraph : document.paragraphs.count
            guard end > start.paragraph else { continue }
            let sentenceRange = (analysis.sentencesOfParagraph[start.paragraph].lowerBound)..<(end < analysis.sentencesOfParagraph.count
                ? analysis.sentencesOfParagraph[end].lowerBound : analysis.sentences.count)
            let local = chapterTerms(analysis, sentenceRange, terms)
            var anchor = start.anchor ?? document.paragraphs[start.paragraph].anchor
            if document.kind == .transcript {
                anchor.start = document.paragraphs[start.paragraph].anchor.start
                anchor.end = document.paragraphs[end - 1].anchor.end
            }
            var summary = ""
            if !sentenceRange.isEmpty {
                let chosen = Summarizer.select(analysis, scores: Array(scores[sentenceRange]), within: sentenceRange, words: 45)
                summary = chosen.map { analysis.sentences[$0].text }.joined(separator: " ")
            }
            // Untitled: the heading it starts with (a title above the chapter headings), else its key terms.
            let heading = document.paragraphs[start.paragraph].isHeading ? document.paragraphs[start.paragraph].text : nil
            let title = start.title ?? heading ?? local.prefix(2).map { capitalizedFirst($0) }.joined(separator: " · ")
            chapters.append(ChaptersDocument.Chapter(number: chapters.count + 1,
                                                     title: title.isEmpty ? String(summary.prefix(60)) : title,
                                                     anchor: anchor, summary: summary, keywords: Array(local.prefix(5))))
        }
        return ChaptersDocument(language: analysis.language.code, source: fromStructure ? "structure" : "segmentation", chapters: chapters)
    }

    /// The document's key terms that this part of it uses most, weighted by their rank.
    func chapterTerms(_ analysis: Analysis, _ range: Range<Int>, _ terms: [KeyTerm]) -> [String] {
        let sentences = range.map { analysis.sentences[$0].stems }
        // Each term's uses in the part, counted within sentences and without overlaps (a use
        // of "a a" in "a a a" is one).
        var starts: [Int: [(Int, Int)]] = [:]
        for (s, stems) in sentences.enumerated() {
            for (i, stem) in stems.enumerated() { starts[stem, default: []].append((s, i)) }
        }
        var weighted: [(String, Double)] = []
        for (rank, term) in terms.enumerated() {
            let words = term.stems
            guard let first = words.first, let places = starts[first] else { continue }
            var count = 0
            var next = (-1, 0)
            for (s, i) in places where s > next.0 || i >= next.1 {
                let stems = sentences[s]
                guard i + words.count <= stems.count, stems[i..<(i + words.count)].elementsEqual(words) else { continue }
                count += 1
                next = (s, i + words.count + 1)
            }
            if count > 0 { weighted.append((term.text, Double(count) / Double(rank + 3))) }
        }
        weighted.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return weighted.map(\.0)
    }
}

func capitalizedFirst(_ s: String) -> String {
    guard let first = s.first else { return s }
    return first.uppercased() + s.dropFirst()
}
