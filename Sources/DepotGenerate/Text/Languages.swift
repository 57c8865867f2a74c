/// What the builtin engine knows of a language: its function words (to leave out of terms and
/// of sentence similarity), the abbreviations after which a dot ends no sentence, and a light
/// suffix stripper so that "Segment" and "segments" count as one term. A document in a
/// language with no entry here gets stop words measured from the document itself (the words
/// that appear in most of its sentences), never the English list.
public struct Language: Sendable, Equatable {
    /// ISO 639-1 code ("en"), or "und" when the document's language is none of those known.
    public let code: String
    public let stopWords: Set<String>
    public let abbreviations: Set<String>

    public static let english = Language(code: "en", stopWords: Set("""
        a about above after again against all almost also although always am among an and another any are aren't around as at
        be because been before being below between both but by can can't cannot could couldn't did didn't do does doesn't
        doing don't done down during each either else enough even ever every few first for from further had hadn't has hasn't
        have haven't having he he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm
        i've if in into is isn't it it's its itself just least less let's like made make many may me might more most much must
        mustn't my myself neither never no nor not now of off often on once one only or other others otherwise ought our ours
        ourselves out over own per perhaps quite rather same several shall shan't she she'd she'll she's should shouldn't since
        so some still such than that that's the their theirs them themselves then there there's therefore these they they'd
        they'll they're they've this those though through thus to too toward towards under until up upon us use used using
        very via was wasn't we we'd we'll we're we've well were weren't what what's when when's where where's whether which
        while who who's whom whose why why's will with within without won't would wouldn't yet you you'd you'll you're you've
        your yours yourself yourselves two three also e.g i.e etc
        """.split(whereSeparator: \.isWhitespace).map(String.init)),
        abbreviations: ["mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "cf", "fig", "figs", "no", "nos", "vol", "vols",
                        "pp", "p", "ed", "eds", "jr", "sr", "inc", "ltd", "co", "corp", "dept", "univ", "jan", "feb", "mar", "apr", "jun",
                        "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "al", "eq", "eqs", "sec", "ch", "resp", "ref", "refs"])

    public static let german = Language(code: "de", stopWords: Set("""
        aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anders auch auf aus bei
        beide beiden bin bis bist bereits da dabei dadurch daher damit dann das dass daß dazu dein deine dem den denen denn der
        deren des dessen deshalb dich die dies diese diesem diesen dieser dieses dir doch dort du durch ein eine einem einen
        einer eines einige einigen einiger einmal er es etwa etwas euch euer eure für gegen gewesen hab habe haben hat hatte
        hätte hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im immer in indem ins ist ja jede jedem jeden
        jeder jedes jedoch jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner können könnte machen man
        manche mehr mein meine mich mir mit muss musste nach nicht nichts noch nun nur ob oder ohne schon sehr sein seine seinem
        seinen seiner seines selbst sich sie sind so solche soll sollte sondern sowie über um und uns unser unsere unter viel
        vom von vor wann war waren warum was weil weiter welche welchem welchen welcher welches wenn wer werde werden wie wieder
        will wir wird wirst wo wurde wurden zu zum zur zwar zwischen wurde worden sowohl ab beim seit damals dort daran darauf
        darin darüber davon ebenso bzw usw
        """.split(whereSeparator: \.isWhitespace).map(String.init)),
        abbreviations: ["z.b", "d.h", "u.a", "usw", "bzw", "ca", "dr", "prof", "nr", "str", "vgl", "ggf", "evtl", "inkl", "zzgl", "bspw",
                        "hr", "fr", "jh", "jhd", "abb", "s", "bd", "aufl", "hrsg", "etc", "mio", "mrd", "sog", "usf", "z", "u", "v", "chr"])

    public static let french = Language(code: "fr", stopWords: Set("""
        a à afin ai aie aient aies ait alors as au aucun aucune aujourd auquel aussi autre autres aux auxquelles auxquels avaient
        avais avait avant avec avez aviez avions avoir avons ayant c' ce ceci cela celle celles celui cependant certains ces cet
        cette ceux chacun chaque chez ci comme comment contre d' dans de depuis des desquelles desquels dessous dessus deux doit
        donc dont du duquel durant elle elles en encore entre es est et étaient étais était étant été être eu eux fait faut
        fois font hors ici il ils j' je jusqu' l' la là laquelle le lequel les lesquelles lesquels leur leurs lors lorsqu' lui m'
        ma mais me même mêmes mes moi moins mon n' ne ni non nos notre nous on ont or ou où par parce pas peu peut plus plusieurs
        pour pourquoi puis qu' quand que quel quelle quelles quels qui quoi s' sa sans se selon ses si sien soi soit son sont sous
        souvent sur ta tandis te tel telle telles tels tes toi ton tous tout toute toutes très tu un une vers voici voilà vos
        votre vous y t' puisqu' quelque quelques sera seront serait aurait
        """.split(whereSeparator: \.isWhitespace).map(String.init)),
        abbreviations: ["m", "mm", "mme", "mmes", "mlle", "mlles", "dr", "pr", "st", "ste", "etc", "cf", "p", "pp", "vol", "chap", "fig",
                        "env", "av", "apr", "j.-c", "n°", "no", "éd", "ibid", "op", "cit", "janv", "févr", "avr", "juil", "sept", "oct",
                        "nov", "déc", "éds", "coll"])

    public static let known: [Language] = [english, german, french]

    public static func named(_ code: String) -> Language? { known.first { $0.code == code } }

    /// The known language whose function words make up most of `words` (at least a fifth of
    /// them, and two different ones: running text has 40–50 %), else an "und" language whose stop words are the document's own most widespread
    /// short words (in a quarter of its sentences or more) and no abbreviations but initials.
    public static func detect(words: [String], sentences: [[String]]) -> Language {
        var best: (Language, Int)?
        for language in known {
            let hits = words.filter { language.stopWords.contains($0) }
            if hits.count > (best?.1 ?? 0) && Set(hits).count >= 2 { best = (language, hits.count) }
        }
        if let best, !words.isEmpty, Double(best.1) / Double(words.count) >= 0.2 { return best.0 }
        return measured(sentences: sentences)
    }

    /// Stop words from the document itself: words of up to four letters in ≥ 25 % of its
    /// sentences (with at least eight sentences, else none).
    static func measured(sentences: [[String]]) -> Language {
        var stop: Set<String> = []
        if sentences.count >= 8 {
            var df: [String: Int] = [:]
            for sentence in sentences { for w in Set(sentence) { df[w, default: 0] += 1 } }
            stop = Set(df.filter { $0.key.count <= 4 && Double($0.value) >= Double(sentences.count) * 0.25 }.keys)
        }
        return Language(code: "und", stopWords: stop, abbreviations: [])
    }

    /// A word's stem for matching: lower-case, with the commonest inflection endings of the
    /// language taken off when at least four letters stay ("segments" → "segment",
    /// "Häusern" → "häus"). Unknown languages keep their words whole.
    public func stem(_ word: String) -> String {
        let suffixes: [String]
        switch code {
        case "en": suffixes = ["ies", "sses", "ing", "ed", "es", "s", "ly"]
        case "de": suffixes = ["ungen", "innen", "ern", "en", "er", "es", "em", "e", "n", "s"]
        case "fr": suffixes = ["ements", "ement", "ations", "ation", "euses", "euse", "eux", "es", "s", "e", "x"]
        default: return word
        }
        for suffix in suffixes where word.hasSuffix(suffix) && word.count - suffix.count >= 4 {
            if code == "en" && suffix == "ies" { return String(word.dropLast(3)) + "y" }
            if code == "en" && suffix == "sses" { return String(word.dropLast(2)) }
            if code == "en" && suffix == "s" && word.hasSuffix("ss") { return word }
            return String(word.dropLast(suffix.count))
        }
        return word
    }

    public func isStop(_ word: String) -> Bool { stopWords.contains(word) }
}
