/// Files dropped beside a recording that belong to it: `lecture.srt`, `lecture.en.vtt`,
/// `lecture.eng.ass` next to `lecture.mp4`, in the same folder of the same collection. A kind
/// that reads them (`JobKind.sidecars`) gets each one's current version as an input, and a
/// sidecar that arrives after its recording queues that kind again for the recording.
public enum Sidecars {
    /// The parts of a sidecar's name after the recording's stem: an optional tag (a language,
    /// "en", "pt-BR", "eng", or a word such as "forced"), then the extension.
    public struct Name: Sendable, Equatable {
        /// The tag between the stem and the extension, nil when there is none.
        public var tag: String?
        /// The extension, lowercased ("srt").
        public var fileExtension: String
    }

    /// Subtitle files larger than this are not read as sidecars (a subtitle file of a long
    /// film is well under 1 MiB).
    public static let maxBytes: Int64 = 16 << 20

    /// What the sidecar at `candidate` is to the recording at `recording`, nil when it is
    /// none of its sidecars: same folder, the recording's name without its extension, an
    /// optional tag, one of `extensions` (case does not matter).
    public static func match(recording: String, candidate: String, extensions: [String]) -> Name? {
        guard candidate != recording, let stem = stem(of: recording) else { return nil }
        let prefix = stem + "."
        guard candidate.hasPrefix(prefix) else { return nil }
        let rest = candidate.dropFirst(prefix.count)
        guard !rest.contains("/") else { return nil }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard let last = parts.last, extensions.contains(last.lowercased()) else { return nil }
        switch parts.count {
        case 1:
            return Name(tag: nil, fileExtension: last.lowercased())
        case 2 where isTag(parts[0]):
            return Name(tag: String(parts[0]), fileExtension: last.lowercased())
        default:
            return nil
        }
    }

    /// Whether `path` could be a sidecar at all (its extension is one of `extensions`).
    public static func isCandidate(_ path: String, extensions: [String]) -> Bool {
        guard let dot = fileName(path).lastIndex(of: ".") else { return false }
        return extensions.contains(fileName(path)[dot...].dropFirst().lowercased())
    }

    /// The path prefix every recording a sidecar at `path` may belong to begins with: its
    /// folder and its name up to the first dot ("talks/intro." for "talks/intro.en.srt").
    public static func recordingPrefix(ofSidecar path: String) -> String? {
        let name = fileName(path)
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return nil }
        return String(path.dropLast(name.count)) + name[..<dot] + "."
    }

    /// The path prefix every sidecar of the recording at `path` begins with ("talks/intro."
    /// for "talks/intro.mp4"), nil when its name has no extension to drop.
    public static func sidecarPrefix(ofRecording path: String) -> String? {
        stem(of: path).map { $0 + "." }
    }

    /// ISO 639-1 codes as the ISO 639-2 codes the subtitle artifacts are named with.
    public static func language(ofTag tag: String?) -> String? {
        guard let tag else { return nil }
        let base = tag.split(separator: "-").first.map { $0.lowercased() } ?? ""
        let twoToThree = ["en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld", "pt": "por",
                          "ja": "jpn", "zh": "zho", "ru": "rus", "pl": "pol", "sv": "swe", "da": "dan", "no": "nor",
                          "fi": "fin", "cs": "ces", "tr": "tur", "ar": "ara", "he": "heb", "ko": "kor", "el": "ell",
                          "hu": "hun", "uk": "ukr", "ro": "ron"]
        if let three = twoToThree[base] { return three }
        return base.count == 3 && base.allSatisfy({ $0.isASCII && $0.isLetter }) ? base : nil
    }

    private static func stem(of path: String) -> String? {
        let name = fileName(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return String(path.dropLast(name.count)) + name[..<dot]
    }

    private static func fileName(_ path: String) -> Substring {
        path.lastIndex(of: "/").map { path[path.index(after: $0)...] } ?? Substring(path)
    }

    private static func isTag(_ part: Substring) -> Bool {
        (1...20).contains(part.count) && part.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
    }
}
