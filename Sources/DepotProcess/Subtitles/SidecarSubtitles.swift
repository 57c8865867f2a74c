import DepotCore
import Foundation

/// Subtitle files dropped beside a recording (lecture.en.srt next to lecture.mp4), handed to
/// the transcript job as its "sidecar:NAME" inputs, read by `SubtitleText` in the format the
/// name's extension says, into the same tracks as embedded subtitles.
public enum SidecarSubtitles {
    static let inputPrefix = "sidecar:"

    /// A sidecar that could not be read: its name and why (the transcript says so and goes on).
    public struct Unreadable: Sendable, Equatable {
        public var name: String
        public var reason: String
    }

    /// The tracks of the job's sidecar inputs, by file name; the language from the name's tag
    /// ("en" → "eng"), the name as the track's title, -1 as its stream index (not a stream of
    /// the recording).
    public static func read(_ inputs: [String: String]) -> (tracks: [EmbeddedSubtitles.Track], unreadable: [Unreadable]) {
        var tracks: [EmbeddedSubtitles.Track] = []
        var unreadable: [Unreadable] = []
        for key in inputs.keys.sorted() where key.hasPrefix(inputPrefix) {
            let name = String(key.dropFirst(inputPrefix.count))
            let parts = name.split(separator: ".")
            guard parts.count > 1, let format = SubtitleText.Format(fileExtension: String(parts.last!)) else { continue }
            let tag = parts.count > 2 ? String(parts[parts.count - 2]) : nil
            do {
                guard let bytes = FileManager.default.contents(atPath: inputs[key]!) else {
                    unreadable.append(Unreadable(name: name, reason: "cannot be read"))
                    continue
                }
                let cues = try SubtitleText.cues(Array(bytes), format: format)
                tracks.append(EmbeddedSubtitles.Track(streamIndex: -1, codec: format.rawValue, language: Sidecars.language(ofTag: tag),
                                                      title: name, isDefault: false, isForced: tag?.lowercased() == "forced",
                                                      cues: cues))
            } catch {
                unreadable.append(Unreadable(name: name, reason: "\(error)"))
            }
        }
        return (tracks, unreadable)
    }
}
