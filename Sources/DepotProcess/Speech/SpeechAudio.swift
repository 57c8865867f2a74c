/// 16 kHz mono speech audio, cut into pieces that each fit a transcription endpoint's upload
/// limit, at the quietest moment near each piece's end so that no word is cut in two.
public enum SpeechAudio {
    /// What speech-to-text endpoints are fed: Whisper works at 16 kHz, mono.
    public static let sampleRate = 16_000
    /// A WAV header (RIFF, fmt, data) is 44 bytes.
    public static let wavHeaderBytes = 44
    /// Room kept for the multipart parts around the file (model, format, boundaries).
    public static let multipartOverheadBytes = 16 * 1024

    /// One piece of the audio: samples `range` of the whole, `offset` seconds from its start.
    public struct Piece: Sendable, Equatable {
        public var range: Range<Int>
        public var offset: Double { Double(range.lowerBound) / Double(SpeechAudio.sampleRate) }
        public var duration: Double { Double(range.count) / Double(SpeechAudio.sampleRate) }
    }

    /// Where to cut `samples` (16-bit, 16 kHz, mono) so that each piece's WAV, in a multipart
    /// upload, stays under `uploadLimit` bytes and lasts at most `maxSeconds`.
    ///
    /// Each cut is in the quietest stretch of about 0.4 s in the last third of the longest
    /// allowed piece (`quietestPoint`): speech has pauses every few seconds, so that is
    /// between sentences, not just between words. Pure silence at the very end of a piece
    /// stays with it.
    /// - Precondition: `uploadLimit` leaves room for at least one second of audio.
    public static func pieces(of samples: [Int16], uploadLimit: Int, maxSeconds: Double = 600) -> [Piece] {
        let byBytes = (uploadLimit - wavHeaderBytes - multipartOverheadBytes) / 2
        let most = min(byBytes, Int(maxSeconds * Double(sampleRate)))
        precondition(most >= sampleRate, "an upload limit of \(uploadLimit) bytes holds less than a second of audio")
        var pieces: [Piece] = []
        var start = 0
        while samples.count - start > most {
            let cut = quietestPoint(samples, in: (start + most * 2 / 3)..<(start + most))
            pieces.append(Piece(range: start..<cut))
            start = cut
        }
        if start < samples.count || pieces.isEmpty { pieces.append(Piece(range: start..<samples.count)) }
        return pieces
    }

    /// Frames of 20 ms on each side of a frame that count towards its quiet.
    static let pauseFrames = 10

    /// The middle of the 20 ms frame in `window` around which the audio is quietest: the
    /// lowest mean energy over the frame and `pauseFrames` frames either side (0.42 s), the
    /// later one on a tie, so a piece runs as long as it may.
    ///
    /// The span is what puts the cut in a pause between sentences rather than in the short
    /// gap between two words of one: by one frame alone the gaps between words are as quiet
    /// as any pause (espeak-ng's are digital silence), and the last of them would win.
    /// bench/transcribe.sh (Whisper tiny.en, espeak-ng speech, 1 MiB pieces, three texts):
    /// 183 word errors where the whole file in one request has 151 (1.21×) when cut at the
    /// quietest single frame, mostly in mid-sentence; 168 (1.11×) with the span.
    static func quietestPoint(_ samples: [Int16], in window: Range<Int>) -> Int {
        let frame = sampleRate / 50
        let count = window.count / frame
        // The frames wholly in the window, and up to pauseFrames more on each side of it.
        let before = min(pauseFrames, window.lowerBound / frame)
        let after = min(pauseFrames, (samples.count - (window.lowerBound + count * frame)) / frame)
        let origin = window.lowerBound - before * frame
        let energies: [Double] = (0..<(before + count + after)).map { f in
            var energy = 0.0
            for i in (origin + f * frame)..<(origin + (f + 1) * frame) {
                let v = Double(samples[i])
                energy += v * v
            }
            return energy
        }
        var best = window.upperBound - frame / 2
        var bestScore = Double.infinity
        for f in before..<(before + count) {
            let span = max(0, f - pauseFrames)...min(energies.count - 1, f + pauseFrames)
            let score = energies[span].reduce(0, +) / Double(span.count)
            if score <= bestScore {
                bestScore = score
                best = origin + f * frame + frame / 2
            }
        }
        return best
    }

    /// `samples` as a 16-bit PCM mono WAV file at `sampleRate`.
    public static func wav(_ samples: ArraySlice<Int16>, sampleRate: Int = SpeechAudio.sampleRate) -> [UInt8] {
        let dataBytes = samples.count * 2
        var out: [UInt8] = []
        out.reserveCapacity(wavHeaderBytes + dataBytes)
        func u32(_ v: Int) { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
        func u16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        out += Array("RIFF".utf8); u32(36 + dataBytes); out += Array("WAVE".utf8)
        out += Array("fmt ".utf8); u32(16); u16(1); u16(1); u32(sampleRate); u32(sampleRate * 2); u16(2); u16(16)
        out += Array("data".utf8); u32(dataBytes)
        for sample in samples {
            let bits = UInt16(bitPattern: sample)
            out.append(UInt8(bits & 0xFF))
            out.append(UInt8(bits >> 8))
        }
        return out
    }
}
