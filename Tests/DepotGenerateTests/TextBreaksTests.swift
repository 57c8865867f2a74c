@testable import DepotGenerate
import Testing

@Suite("sentence and word breaks")
struct TextBreaksTests {
    @Test func sentencesEndAtTerminalsButNotAfterAbbreviationsOrInitials() {
        let en = TextBreaks.sentences("Dr. Smith met J. S. Bach in 1750. He said: \"Hello!\" Then, e.g. at noon, they left. The end",
                                      abbreviations: Language.english.abbreviations)
        #expect(en == ["Dr. Smith met J. S. Bach in 1750.", "He said: \"Hello!\"", "Then, e.g. at noon, they left.", "The end"])
    }

    @Test func germanAndFrenchAbbreviationsKeepTheirSentences() {
        let de = TextBreaks.sentences("Das gilt z.B. für Äpfel, vgl. Abb. 3. Übrigens ist es so. Danach kommt nichts.",
                                      abbreviations: Language.german.abbreviations)
        #expect(de == ["Das gilt z.B. für Äpfel, vgl. Abb. 3.", "Übrigens ist es so.", "Danach kommt nichts."])
        let fr = TextBreaks.sentences("M. Dupont arrive. « Bonjour ! » dit-il. Mme Curie répond.", abbreviations: Language.french.abbreviations)
        #expect(fr == ["M. Dupont arrive.", "« Bonjour ! » dit-il.", "Mme Curie répond."])
    }

    @Test func aDotInsideANumberOrBeforeLowerCaseEndsNoSentence() {
        #expect(TextBreaks.sentences("Version 3.11 is out. it was late", abbreviations: []) == ["Version 3.11 is out. it was late"])
    }

    @Test func wordsSplitFrenchElisionsAndKeepHyphensAndApostrophesInside() {
        #expect(TextBreaks.words("L'homme qu'il voit, c'est l’arbre.") == ["l'", "homme", "qu'", "il", "voit", "c'", "est", "l'", "arbre"])
        #expect(TextBreaks.words("Don't e-mail the Größenordnung (x2)!") == ["don't", "e-mail", "the", "größenordnung", "x2"])
    }

    @Test func languagesAreDetectedFromTheirFunctionWords() {
        let de = TextBreaks.words("Die Katze sitzt auf dem Dach und schaut in den Garten, weil sie dort einen Vogel sieht.")
        let fr = TextBreaks.words("Le chat est sur le toit et il regarde le jardin, parce qu'il y voit un oiseau.")
        let en = TextBreaks.words("The cat sits on the roof and looks into the garden, because it sees a bird there.")
        #expect(Language.detect(words: de, sentences: [de]).code == "de")
        #expect(Language.detect(words: fr, sentences: [fr]).code == "fr")
        #expect(Language.detect(words: en, sentences: [en]).code == "en")
        // Finnish is none of them: no list is applied, stop words come from the text itself.
        let fi = TextBreaks.words("Kissa istuu katolla ja katsoo puutarhaan, koska se näkee siellä linnun.")
        let unknown = Language.detect(words: fi, sentences: [fi])
        #expect(unknown.code == "und")
        #expect(!unknown.isStop("the") && !unknown.isStop("ja"))
    }
}
