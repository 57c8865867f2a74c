import CFFmpeg

/// A small packed RGB picture (3 bytes per pixel, rows without padding) held in Swift: what a
/// thumbnail or a storyboard tile is turned, mirrored, measured and tiled as before it is
/// encoded. Made from a decoded `Frame` through libswscale, back into one for an encoder.
public struct Picture: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A picture of one colour.
    public init(width: Int, height: Int, red: UInt8 = 0, green: UInt8 = 0, blue: UInt8 = 0) {
        self.width = width
        self.height = height
        var row = [UInt8]()
        row.reserveCapacity(width * 3)
        for _ in 0..<width { row += [red, green, blue] }
        pixels = Array([[UInt8]](repeating: row, count: height).joined())
    }

    /// `frame` scaled to `width` × `height` RGB.
    /// - Throws: `MediaError` when libswscale cannot convert it.
    public init(frame: Frame, width: Int, height: Int) throws {
        let scaler = try Scaler(from: frame, width: width, height: height, format: AV_PIX_FMT_RGB24)
        try self.init(rgbFrame: try scaler.scale(frame))
    }

    /// The pixels of an RGB24 frame.
    init(rgbFrame frame: Frame) throws {
        guard frame.pixelFormat == AV_PIX_FMT_RGB24 else { throw MediaError("not an RGB24 frame") }
        let (data, stride) = frame.plane(0)
        guard let data else { throw MediaError("an RGB24 frame without pixels") }
        let width = frame.width, height = frame.height
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<height {
                (out.baseAddress! + y * width * 3).update(from: data + y * stride, count: width * 3)
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// This picture as an RGB24 frame (for a scaler or an encoder).
    public func frame() throws -> Frame {
        let frame = try Frame(width: width, height: height, format: AV_PIX_FMT_RGB24)
        try FFmpeg.check(av_frame_make_writable(frame.frame), "cannot write a picture")
        let (data, stride) = frame.plane(0)
        pixels.withUnsafeBufferPointer { source in
            for y in 0..<height {
                (data! + y * stride).update(from: source.baseAddress! + y * width * 3, count: width * 3)
            }
        }
        return frame
    }

    /// Turned `degrees` clockwise (0, 90, 180, 270), then mirrored left to right if asked.
    public func oriented(rotation degrees: Int, mirrored: Bool = false) -> Picture {
        let turns = ((degrees / 90) % 4 + 4) % 4
        if turns == 0 && !mirrored { return self }
        let outWidth = turns % 2 == 1 ? height : width
        let outHeight = turns % 2 == 1 ? width : height
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                var (nx, ny): (Int, Int)
                switch turns {
                case 1: (nx, ny) = (height - 1 - y, x)
                case 2: (nx, ny) = (width - 1 - x, height - 1 - y)
                case 3: (nx, ny) = (y, width - 1 - x)
                default: (nx, ny) = (x, y)
                }
                if mirrored { nx = outWidth - 1 - nx }
                let from = (y * width + x) * 3, to = (ny * outWidth + nx) * 3
                out[to] = pixels[from]
                out[to + 1] = pixels[from + 1]
                out[to + 2] = pixels[from + 2]
            }
        }
        return Picture(width: outWidth, height: outHeight, pixels: out)
    }

    /// Applies an EXIF orientation (1–8, TIFF tag 274): the picture as it is meant to be seen.
    public func applyingEXIFOrientation(_ orientation: Int) -> Picture {
        switch orientation {
        case 2: return oriented(rotation: 0, mirrored: true)
        case 3: return oriented(rotation: 180)
        case 4: return oriented(rotation: 180, mirrored: true)
        case 5: return oriented(rotation: 90, mirrored: true)
        case 6: return oriented(rotation: 90)
        case 7: return oriented(rotation: 270, mirrored: true)
        case 8: return oriented(rotation: 270)
        default: return self
        }
    }

    /// Mean luma (0–255) and its standard deviation over a grid of samples: a black or flat
    /// frame has a low mean or a low spread.
    public var lumaStatistics: (mean: Double, deviation: Double) {
        guard width > 0, height > 0 else { return (0, 0) }
        var sum = 0.0, squares = 0.0, count = 0.0
        let step = max(1, (width * height) / 4096)
        var i = 0
        while i < width * height {
            let p = i * 3
            let y = 0.299 * Double(pixels[p]) + 0.587 * Double(pixels[p + 1]) + 0.114 * Double(pixels[p + 2])
            sum += y
            squares += y * y
            count += 1
            i += step
        }
        let mean = sum / count
        return (mean, max(0, squares / count - mean * mean).squareRoot())
    }

    /// Copies `picture` into this one with its top left corner at (x, y), clipped.
    public mutating func draw(_ picture: Picture, x: Int, y: Int) {
        for row in 0..<picture.height where y + row >= 0 && y + row < height {
            let columns = max(0, min(picture.width, width - x))
            guard columns > 0, x >= 0 else { continue }
            let to = ((y + row) * width + x) * 3, from = row * picture.width * 3
            pixels.replaceSubrange(to..<to + columns * 3, with: picture.pixels[from..<from + columns * 3])
        }
    }
}
