@testable import DepotGenerate
import DepotTestSupport
import Foundation
import Testing

/// The builtin engine on fixtures built here: deterministic output, answers found in the
/// source, chapters matching the headings, segment boundaries on concatenated texts.
@Suite("builtin engine")
struct BuiltinEngineTests {
    static let markdown = """
        # Photosynthesis

        Photosynthesis is the process by which green plants turn light into chemical energy. The chlorophyll in the leaves \
        absorbs red and blue light. Oxygen is released as a by-product of photosynthesis.

        ## Light reactions

        The light reactions take place in the thylakoid membranes of the chloroplast. Water molecules are split by light, \
        and the thylakoid membranes pump protons. The energy carriers ATP and NADPH are made during the light reactions.

        ## Calvin cycle

        The Calvin cycle runs in the stroma of the chloroplast. The enzyme Rubisco fixes carbon dioxide from the air. \
        The Calvin cycle uses ATP and NADPH to build glucose from carbon dioxide.

        ## Respiration

        Cellular respiration breaks glucose down again in the mitochondria. Respiration releases carbon dioxide and water. \
        The mitochondria make ATP for the work of the cell.

        """

    func markdownSource() throws -> SourceDocument {
        let headings: [[String: Any]] = [["level": 1, "title": "Photosynthesis", "line": 1], ["level": 2, "title": "Light reactions", "line": 5],
                                         ["level": 2, "title": "Calvin cycle", "line": 9], ["level": 2, "title": "Respiration", "line": 13]]
        let structure = try JSONSerialization.data(withJSONObject: ["schema": "depot.structure.text/1", "media_type": "text/markdown",
                                                                    "line_count": 16, "headings": headings])
        return try SourceDocument.fromExtract(text: Self.markdown, structure: structure)
    }

    @Test func chaptersFollowTheHeadingsOfTheCommonestLevel() throws {
        let output = try BuiltinEngine().generate(try markdownSource(), options: GenerationOptions())
        #expect(output.chapters.source == "structure")
        // The lone H1 is the title; the H2s are the chapters, after the text before them.
        #expect(output.chapters.chapters.map(\.title).suffix(3) == ["Light reactions", "Calvin cycle", "Respiration"])
        #expect(output.chapters.chapters.last?.anchor.line == 13)
        #expect(output.chapters.chapters.last?.summary.contains("mitochondria") == true)
        // The text before them is a chapter too, under the title it starts with.
        #expect(output.chapters.chapters.first?.anchor.line == 1)
        #expect(output.chapters.chapters.first?.title == "Photosynthesis")
    }

    @Test func outputIsDeterministic() throws {
        let a = try BuiltinEngine().generate(try markdownSource(), options: GenerationOptions(questions: 6))
        let b = try BuiltinEngine().generate(try markdownSource(), options: GenerationOptions(questions: 6))
        #expect(a == b)
        let dirA = TemporaryDirectory(), dirB = TemporaryDirectory()
        let names = try a.write(to: dirA.path)
        _ = try b.write(to: dirB.path)
        for name in names {
            #expect(try Data(contentsOf: URL(fileURLWithPath: dirA.path + "/" + name)) == Data(contentsOf: URL(fileURLWithPath: dirB.path + "/" + name)))
        }
    }

    @Test func summariesAreWholeSentencesOfTheSourceWithinTheirLength() throws {
        let source = try markdownSource()
        let output = try BuiltinEngine().generate(source, options: GenerationOptions(summaryWords: 30))
        let flat = Self.markdown.collapsingWhitespace()
        #expect(!output.summary.short.sentences.isEmpty)
        for quote in output.summary.short.sentences + output.summary.long.sentences {
            #expect(flat.contains(quote.text), "\(quote.text)")
            #expect(quote.text.last == ".")
            #expect(quote.text.first?.isUppercase == true)
        }
        let shortWords = output.summary.short.sentences.reduce(0) { $0 + TextBreaks.words($1.text).count }
        #expect(shortWords <= 30 || output.summary.short.sentences.count == 1)
        #expect(output.summary.long.sentences.count > output.summary.short.sentences.count)
        #expect(output.summary.markdown().hasPrefix("# Summary\n\n"))
    }

    @Test func newsLikeTextKeepsItsLead() throws {
        let news = """
            The city council approved a new tram line to the harbour on Tuesday after a two-year debate.
            The line will cost 120 million euros and should open in 2029.
            Supporters say the tram will cut car traffic in the old town by a fifth.
            Critics argued that buses would serve the harbour at a lower cost.
            Construction is planned to start next spring, the mayor said.
            Local shops fear the works will keep customers away for months.
            The council promised compensation for businesses along the route.
            """
        let output = try BuiltinEngine().generate(try SourceDocument.fromExtract(text: news, structure: nil),
                                                  options: GenerationOptions(summarySentences: 2))
        #expect(output.summary.short.sentences.first?.text.hasPrefix("The city council approved") == true)
        #expect(output.summary.short.sentences.count == 2)
    }

    @Test func quizAnswersAreInTheirQuotedPassagesAndNeverRepeat() throws {
        let source = try markdownSource()
        for difficulty in GenerationOptions.Difficulty.allCases {
            let quiz = try BuiltinEngine().generate(source, options: GenerationOptions(questions: 8, difficulty: difficulty)).quiz
            #expect(quiz.questions.count >= 4, "\(difficulty): \(quiz.questions.count)")
            let flat = Self.markdown.collapsingWhitespace()
            for q in quiz.questions {
                #expect(flat.contains(q.source.text))
                #expect(q.source.text.contains(q.answer))
                #expect(q.question.contains("_____"))
                #expect(!q.question.contains(q.answer) || q.source.text.components(separatedBy: q.answer).count > 2)
                #expect(q.source.anchor.line != nil)
                if q.type == "multiple_choice" {
                    let choices = try #require(q.choices)
                    #expect(choices.count == 4 && choices.contains(q.answer))
                    #expect(Set(choices.map { $0.lowercased() }).count == 4)
                    for distractor in choices where distractor != q.answer {
                        #expect(!q.source.text.lowercased().contains(distractor.lowercased()), "\(distractor) is in the passage")
                    }
                } else {
                    #expect(q.type == "cloze" && q.choices == nil)
                }
            }
            #expect(Set(quiz.questions.map(\.answer)).count == quiz.questions.count)
            #expect(Set(quiz.questions.map(\.source.text)).count == quiz.questions.count)
        }
    }

    @Test func keywordsOfAGermanTextHoldNoGermanFunctionWords() throws {
        let text = """
            Die Photosynthese ist der Vorgang, bei dem grüne Pflanzen Licht in chemische Energie umwandeln.
            Das Chlorophyll in den Blättern nimmt rotes und blaues Licht auf. Bei der Photosynthese wird Sauerstoff frei.
            Die Lichtreaktionen finden in den Thylakoidmembranen der Chloroplasten statt. Das Wasser wird durch Licht gespalten.
            Der Calvin-Zyklus läuft im Stroma der Chloroplasten ab. Das Enzym Rubisco bindet Kohlendioxid aus der Luft.
            Der Calvin-Zyklus baut mit ATP und NADPH Glukose aus Kohlendioxid auf.
            """
        let output = try BuiltinEngine().generate(try SourceDocument.fromExtract(text: text, structure: nil), options: GenerationOptions())
        #expect(output.keywords.language == "de")
        let terms = output.keywords.keywords.map { $0.term.lowercased() }
        #expect(terms.contains { $0.contains("photosynthese") })
        #expect(terms.contains("licht"), "\(terms)")
        for term in terms { for word in TextBreaks.words(term) { #expect(!Language.german.isStop(word), "\(term)") } }
        #expect(output.quiz.questions.allSatisfy { $0.question.hasPrefix("Welcher Begriff") || $0.question.hasPrefix("Ergänzen Sie") })
        #expect(output.summary.markdown().hasPrefix("# Zusammenfassung"))
    }

    @Test func slidesArePPTXChaptersWithTheirNumbers() throws {
        let slides: [[String: Any]] = [
            ["number": 1, "part": "ppt/slides/slide1.xml", "title": "Planets", "body": "The solar system has eight planets.", "notes": "", "hidden": false],
            ["number": 2, "part": "ppt/slides/slide2.xml", "title": NSNull(), "body": "Jupiter\nJupiter is the largest planet of the solar system.", "notes": "Mention the moons.", "hidden": false],
        ]
        let structure = try JSONSerialization.data(withJSONObject: ["schema": "depot.structure.pptx/2", "media_type": "x", "slide_count": 2, "slides": slides])
        let source = try SourceDocument.fromExtract(text: "Planets\nThe solar system has eight planets.\n\u{0C}Jupiter\n\u{0C}", structure: structure)
        let chapters = try BuiltinEngine().generate(source, options: GenerationOptions()).chapters.chapters
        #expect(chapters.map(\.title) == ["Planets", "Jupiter"])
        #expect(chapters.map(\.anchor.slide) == [1, 2])
    }

    @Test func pdfOutlineGivesChaptersWithPages() throws {
        let text = "Preface words come first here.\n\u{0C}Methods\nWe measured the samples twice with care.\n\u{0C}Results\nThe samples agreed within one percent.\n\u{0C}"
        let structure = try JSONSerialization.data(withJSONObject: ["schema": "depot.structure.pdf/2", "media_type": "application/pdf", "page_count": 3,
                                                                    "outline": [["title": "Methods", "page": 2], ["title": "Results", "page": 3]]])
        let chapters = try BuiltinEngine().generate(try SourceDocument.fromExtract(text: text, structure: structure), options: GenerationOptions()).chapters
        #expect(chapters.chapters.map(\.title) == ["Methods", "Results"])
        #expect(chapters.chapters.map(\.anchor.page) == [2, 3])
        #expect(chapters.chapters[1].summary == "The samples agreed within one percent.")
    }

    @Test func transcriptChaptersKeepTheirTimes() throws {
        var vtt = "WEBVTT\n\n"
        var t = 0.0
        for (topic, words) in [("ocean", Self.ocean), ("engine", Self.engine)] {
            for sentence in words {
                vtt += "\(stamp(t)) --> \(stamp(t + 4))\n\(sentence)\n\n"
                t += 4
            }
            _ = topic
        }
        let source = SourceDocument.fromWebVTT(vtt)
        #expect(source.kind == .transcript)
        #expect(source.paragraphs.first?.anchor.start == 0)
        let chapters = try BuiltinEngine().generate(source, options: GenerationOptions()).chapters.chapters
        #expect(chapters.count >= 2)
        #expect(chapters.first?.anchor.start == 0)
        #expect(chapters.allSatisfy { $0.anchor.start != nil && $0.anchor.end != nil })
        // The second topic starts where the engine sentences start (± one cue).
        let switchAt = Double(Self.ocean.count) * 4
        #expect(chapters.contains { abs(($0.anchor.start ?? -100) - switchAt) <= 4 }, "\(chapters.map(\.anchor))")
    }

    /// A recording with chapters of its own (a container's, in its metadata.json): they are
    /// the transcript's chapters, with their titles and the times of their first words; one
    /// without a title is numbered.
    @Test func aRecordingsOwnChaptersAreTheTranscriptsChapters() throws {
        var vtt = "WEBVTT\n\n"
        var t = 0.0
        for sentence in Self.ocean.prefix(10) + Self.engine.prefix(10) {
            vtt += "\(stamp(t)) --> \(stamp(t + 4))\n\(sentence)\n\n"
            t += 4
        }
        let source = SourceDocument.fromWebVTT(vtt, chapters: [(start: 40, title: nil), (start: 0, title: " The  sea\n")])
        #expect(source.sections.map(\.title) == ["The sea", "Chapter 2"])
        #expect(source.sections.map(\.firstParagraph) == [0, 10])
        let chapters = try BuiltinEngine().generate(source, options: GenerationOptions()).chapters.chapters
        #expect(chapters.map(\.title) == ["The sea", "Chapter 2"])
        #expect(chapters.map(\.anchor.start) == [0, 40])
        #expect(chapters.map(\.anchor.end) == [40, 80])
        #expect(chapters[1].summary.contains("engine") || chapters[1].summary.contains("piston"), "\(chapters[1].summary)")
    }

    func stamp(_ seconds: Double) -> String {
        let s = Int(seconds)
        return String(format: "%02d:%02d:%02d.000", s / 3600, s / 60 % 60, s % 60)
    }

    static let ocean = (1...30).map { i in
        ["The ocean tides rise and fall with the pull of the moon on the sea.", "Waves carry salt water and sand along the coast of the sea.",
         "Fish and whales swim in the deep ocean water near coral reefs.", "The sea floor holds coral, sand and salt deposits from the ocean."][i % 4]
    }
    static let engine = (1...30).map { i in
        ["The petrol engine burns fuel in each cylinder to push the piston.", "A crankshaft turns the motion of the piston into rotation of the wheels.",
         "The gearbox and clutch pass engine torque to the driven wheels.", "Spark plugs ignite the fuel mixture inside the engine cylinder."][i % 4]
    }
}
