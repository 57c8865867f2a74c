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
    /// Each cut is at the middle of the quietest 20 ms frame (lowest mean square) in the last
    /// third of the longest allowed piece: speech has pauses every few seconds, so that is
    /// between words, never in one. Pure silence at the very end of a piece stays with it.
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

    /// The middle of the 20 ms frame in `window` whose mean square is lowest (the later one
    /// on a tie, so a piece runs as long as it may).
    static func quietestPoint(_ samples: [Int16], in window: Range<Int>) -> Int {
        let frame = sampleRate / 50
        var best = window.upperBound - frame / 2
        var bestEnergy = Double.infinity
        var position = window.lowerBound
        while position + frame <= window.upperBound {
            var energy = 0.0
            for i in position..<(position + frame) {
                let v = Double(samples[i])
                energy += v * v
            }
            if energy <= bestEnergy {
                bestEnergy = energy
                best = position + frame / 2
            }
            position += frame
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
