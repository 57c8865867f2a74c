import Foundation

/// One timed piece of text: a subtitle cue, a transcript segment, a storyboard tile's span.
public struct TimedText: Sendable, Equatable, Codable {
    /// Seconds from the start of the media.
    public var start: Double
    public var end: Double
    /// The cue's text, lines separated by "\n"; for a storyboard, the tile's URL fragment.
    public var text: String

    public init(start: Double, end: Double, text: String) {
        self.start = start
        self.end = end
        self.text = text
    }
}

/// Writes WebVTT (W3C WebVTT §4: "WEBVTT", a blank line, then cues of
/// `hh:mm:ss.ttt --> hh:mm:ss.ttt` and their text), the form browsers' `<track>` and web
/// players' seek previews read.
public enum WebVTT {
    /// `seconds` as a WebVTT timestamp, always with hours ("01:02:03.450"): §4.2 allows the
    /// short form, but players that read storyboards (Video.js, Plyr) expect one format.
    public static func timestamp(_ seconds: Double) -> String {
        let millis = Int64((max(0, seconds) * 1000).rounded())
        let h = millis / 3_600_000, m = millis / 60_000 % 60, s = millis / 1000 % 60, ms = millis % 1000
        return pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2) + "." + pad(ms, 3)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// The whole file for `cues`, in the order given. A cue's text never holds a blank line
    /// (§4.1: a blank line ends the cue), and "-->" in text is broken up, so any text is safe.
    /// A cue whose end is not after its start is given 1 ms, as a cue must last (§4.1).
    public static func document(_ cues: [TimedText]) -> String {
        var out = "WEBVTT\n"
        for cue in cues {
            let end = cue.end > cue.start ? cue.end : cue.start + 0.001
            let lines = cue.text.replacingOccurrences(of: "\r\n", with: "\n")
                .replacingOccurrences(of: "-->", with: "->")
                .split(separator: "\n", omittingEmptySubsequences: true)
            guard !lines.isEmpty else { continue }
            out += "\n" + timestamp(cue.start) + " --> " + timestamp(end) + "\n" + lines.joined(separator: "\n") + "\n"
        }
        return out
    }

    /// Text made safe for a cue when it came from a format without markup (ASS, a
    /// transcript): `&` and `<` are escaped (§4.2.2: they start entities and tags).
    public static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
