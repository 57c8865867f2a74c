import CFFmpeg
import DepotCore

/// The loudness envelope of a recording as peaks: the audio is decoded and resampled to
/// mono, and each 1/100 s keeps its lowest and highest sample. The list is bounded: past
/// `maxBuckets`, neighbouring buckets merge (half the resolution), so a 47-hour file costs
/// the same memory as a 3-hour one.
public struct WaveformPeaks: Sendable, Equatable {
    public static let bucketsPerSecond = 100
    public static let maxBuckets = 1 << 20

    public private(set) var low: [Float] = []
    public private(set) var high: [Float] = []
    /// Samples each bucket covers (doubles as buckets merge).
    public private(set) var samplesPerBucket: Int
    private var filled = 0

    public init(sampleRate: Int) {
        samplesPerBucket = max(1, sampleRate / Self.bucketsPerSecond)
    }

    public mutating func add(_ samples: [Float]) {
        for sample in samples {
            if filled == 0 {
                low.append(sample)
                high.append(sample)
            } else {
                low[low.count - 1] = min(low[low.count - 1], sample)
                high[high.count - 1] = max(high[high.count - 1], sample)
            }
            filled += 1
            if filled == samplesPerBucket {
                filled = 0
                if low.count >= Self.maxBuckets { merge() }
            }
        }
    }

    private mutating func merge() {
        var l: [Float] = [], h: [Float] = []
        l.reserveCapacity(low.count / 2 + 1)
        h.reserveCapacity(high.count / 2 + 1)
        var i = 0
        while i < low.count {
            let j = min(i + 1, low.count - 1)
            l.append(min(low[i], low[j]))
            h.append(max(high[i], high[j]))
            i += 2
        }
        low = l
        high = h
        samplesPerBucket *= 2
    }

    /// `width` columns of (low, high), each the extreme of the buckets it covers.
    public func columns(_ width: Int) -> [(low: Float, high: Float)] {
        guard !low.isEmpty else { return Array(repeating: (0, 0), count: width) }
        return (0..<width).map { column in
            let from = column * low.count / width
            let to = max(from + 1, (column + 1) * low.count / width)
            var l: Float = 0, h: Float = 0
            for i in from..<min(to, low.count) {
                l = min(l, low[i])
                h = max(h, high[i])
            }
            return (l, h)
        }
    }
}

/// `waveform.png` for audio: the peaks of the best audio stream drawn as a symmetric
/// envelope, `width` × `height` pixels, encoded with libavcodec's PNG encoder.
public enum WaveformMaker {
    public static let defaultWidth = 1200
    public static let defaultHeight = 120

    /// - Throws: `MediaUnsupported` without an audio stream this build decodes; `MediaError`
    ///   when the file cannot be read.
    public static func peaks(path: String, deadlineSeconds: Double = 0, progress: (Double) -> Void = { _ in }) throws -> WaveformPeaks {
        let input = try MediaInput(path: path, options: MediaInput.Options(deadlineSeconds: deadlineSeconds))
        guard let index = input.bestStream(AVMEDIA_TYPE_AUDIO) else { throw MediaUnsupported("no audio stream to draw") }
        for stream in input.streams where stream.index != index { input.stream(at: stream.index).pointee.discard = AVDISCARD_ALL }
        let decoder = try Decoder(input: input, streamIndex: index)
        // 8 kHz keeps every peak a person sees at 100 buckets a second, at a sixth of the work of 48 kHz.
        let resampler = try AudioResampler(from: decoder, sampleRate: 8000, channels: 1)
        var peaks = WaveformPeaks(sampleRate: 8000)
        let duration = input.duration ?? 0
        let packet = Packet(), frame = Frame()
        var reported = 0.0
        while try input.read(into: packet) {
            guard packet.streamIndex == index else { continue }
            // A packet that does not decode is skipped: the rest of the recording still counts.
            do {
                try decoder.decode(packet, into: frame) { peaks.add(try resampler.floats($0)); return true }
            } catch let error as MediaError where !error.isTimeout {
                continue
            }
            if duration > 0, let at = FFmpeg.seconds(packet.pts, decoder.timeBase), at / duration - reported >= 0.05 {
                reported = at / duration
                progress(min(1, reported))
            }
        }
        try decoder.decode(nil, into: frame) { peaks.add(try resampler.floats($0)); return true }
        peaks.add(try resampler.floats(nil))
        return peaks
    }

    /// The envelope as a picture: dark blue on white, the zero line in the middle.
    public static func picture(_ peaks: WaveformPeaks, width: Int = defaultWidth, height: Int = defaultHeight) -> Picture {
        var picture = Picture(width: width, height: height, red: 255, green: 255, blue: 255)
        let middle = Double(height - 1) / 2
        for (x, column) in peaks.columns(width).enumerated() {
            let top = Int((middle - Double(max(0, min(1, column.high))) * middle).rounded())
            let bottom = Int((middle - Double(max(-1, min(0, column.low))) * middle).rounded())
            for y in max(0, top)...min(height - 1, max(top, bottom)) {
                let i = (y * width + x) * 3
                picture.pixels[i] = 0x1F
                picture.pixels[i + 1] = 0x4E
                picture.pixels[i + 2] = 0x9A
            }
        }
        return picture
    }

    /// `picture` as a PNG file.
    public static func png(_ picture: Picture) throws -> [UInt8] { try PNGEncoder.encode(picture) }
}

/// Waveform for audio → `waveform.png`. Parameters: `width`, `height` (pixels).
public struct WaveformProcessor: Processor {
    public var choice: ProcessorChoice { .waveform }
    public let version = "1"
    public let artifactKinds = ["waveform.png": "image/png"]

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        func pixels(_ name: String, _ range: ClosedRange<Int>, _ fallback: Int) throws -> Int {
            guard let value = input.parameters[name] else { return fallback }
            guard let number = value.intValue, range.contains(number) else {
                throw DocumentError("parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
            }
            return number
        }
        let width = try pixels("width", 16...8192, WaveformMaker.defaultWidth)
        let height = try pixels("height", 8...2048, WaveformMaker.defaultHeight)
        input.progress(1, "decoding audio")
        let peaks = try WaveformMaker.peaks(path: input.path) { input.progress(min(95, Int($0 * 94) + 1), "decoding audio") }
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        try writer.write("waveform.png", mimeType: "image/png",
                         bytes: try WaveformMaker.png(WaveformMaker.picture(peaks, width: width, height: height)))
        return writer.produced
    }
}
