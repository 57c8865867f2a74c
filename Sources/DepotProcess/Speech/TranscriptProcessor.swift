import CFFmpeg
import DepotCore

/// Transcript for audio and video → `subtitles.<lang>.vtt` for each embedded text subtitle
/// stream (SubRip, ASS/SSA, mov_text, WebVTT) and each subtitle file dropped beside the
/// recording (`SidecarSubtitles`), and `transcript.vtt` + `transcript.txt` from the best text
/// source: an embedded track flagged default, else a sidecar, else the first unforced
/// embedded track; without one,
/// speech to text through the `[speech]` endpoint — the best audio stream decoded and
/// resampled (libswresample) to 16 kHz mono, cut at pauses into pieces under the upload limit,
/// posted, and stitched (`Transcriber`).
///
/// Without subtitles it makes no transcript, and says why in its last progress message, when
/// speech to text is not configured or the file has no audio.
public struct TranscriptProcessor: Processor {
    public var choice: ProcessorChoice { .transcript }
    public let version = "1"
    public var artifactKinds: [String: String] {
        var kinds = ["transcript.vtt": "text/vtt; charset=utf-8", "transcript.txt": "text/plain; charset=utf-8"]
        for language in EmbeddedSubtitles.declaredLanguages { kinds["subtitles.\(language).vtt"] = "text/vtt; charset=utf-8" }
        return kinds
    }
    public let settings: SpeechSettings

    public init(settings: SpeechSettings = SpeechSettings()) {
        self.settings = settings
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        input.progress(1, "reading subtitle streams")
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        let embedded = try EmbeddedSubtitles.read(path: input.path)
        let sidecars = SidecarSubtitles.read(input.inputs)
        // What a sidecar could not give is said, and the rest goes on.
        let unread = sidecars.unreadable.map { "; \($0.name) not read: \($0.reason)" }.joined()
        let tracks = embedded + sidecars.tracks
        for (track, file) in zip(tracks, EmbeddedSubtitles.artifactNames(tracks)) where !track.cues.isEmpty {
            try writer.write(file, mimeType: "text/vtt; charset=utf-8", bytes: Array(WebVTT.document(track.cues).utf8))
        }
        let flagged = embedded.first { $0.isDefault && !$0.isForced && !$0.cues.isEmpty }
        if let best = flagged ?? sidecars.tracks.first(where: { !$0.isForced }) ?? EmbeddedSubtitles.best(tracks) {
            try writeTranscript(best.cues, into: &writer)
            let source = best.streamIndex < 0 ? "the subtitle file \(best.title ?? "beside it")"
                : "the \(best.language ?? "untagged") subtitles"
            input.progress(100, "transcript from \(source)" + unread)
            return writer.produced
        }
        guard settings.enabled else {
            input.progress(100, "no transcript: no text subtitles, and speech to text is not configured ([speech] url)" + unread)
            return writer.produced
        }
        let media = try MediaInput(path: input.path)
        guard let index = media.bestStream(AVMEDIA_TYPE_AUDIO) else {
            input.progress(100, "no transcript: the file has no audio")
            return writer.produced
        }
        input.progress(2, "decoding audio")
        let samples = try Self.speechSamples(media, stream: index)
        input.progress(20, "transcribing")
        let result: (segments: [TimedText], pieces: Int)
        do {
            result = try Transcriber.transcribe(samples, settings: settings,
                                                progress: { input.progress(20 + Int($0 * 78), "transcribing") })
        } catch let error as SpeechError where error.isTransient {
            // The queue retries what may pass; a SystemError with ETIMEDOUT is what it knows as such.
            throw SpeechUnavailable(error.description)
        }
        try writeTranscript(result.segments.map { TimedText(start: $0.start, end: $0.end, text: WebVTT.escaped($0.text)) },
                            into: &writer)
        input.progress(100, "transcript from speech, \(result.pieces) piece(s)")
        return writer.produced
    }

    private func writeTranscript(_ cues: [TimedText], into writer: inout ArtifactWriter) throws {
        try writer.write("transcript.vtt", mimeType: "text/vtt; charset=utf-8", bytes: Array(WebVTT.document(cues).utf8))
        try writer.write("transcript.txt", mimeType: "text/plain; charset=utf-8", bytes: Array(SubtitleText.plainText(cues).utf8))
    }

    /// Stream `index` of `media` as 16 kHz mono 16-bit samples; a packet that does not decode
    /// is passed over (a damaged stretch costs its words, not the transcript).
    static func speechSamples(_ media: MediaInput, stream index: Int) throws -> [Int16] {
        for stream in media.streams where stream.index != index { media.stream(at: stream.index).pointee.discard = AVDISCARD_ALL }
        let decoder = try Decoder(input: media, streamIndex: index)
        let resampler = try AudioResampler(from: decoder, sampleRate: SpeechAudio.sampleRate, channels: 1, format: AV_SAMPLE_FMT_S16)
        var samples: [Int16] = []
        let packet = Packet(), frame = Frame()
        while try media.read(into: packet) {
            guard packet.streamIndex == index else { continue }
            do {
                try decoder.decode(packet, into: frame) { samples += try resampler.int16s($0); return true }
            } catch let error as MediaError where !error.isTimeout {
                continue
            }
        }
        try decoder.decode(nil, into: frame) { samples += try resampler.int16s($0); return true }
        samples += try resampler.int16s(nil)
        return samples
    }
}

/// The endpoint was down, busy or unreachable through every attempt: the job is retried later.
public struct SpeechUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
