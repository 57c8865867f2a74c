/// Where each frame of a seek preview goes: which instants are shown, how large a tile is,
/// and how tiles fill the sprite sheets (`storyboard.jpg`, `storyboard-2.jpg`, …), with the
/// `storyboard.vtt` that maps time ranges to `sheet#xywh=x,y,w,h` fragments (the form
/// Video.js, Plyr and JW Player read).
///
/// Defaults follow Jellyfin's trickplay (one frame every 10 s, 320 px wide, 10 × 10 tiles per
/// sheet). A short video gets a shorter interval so it still has enough frames to scrub
/// (about 100, but never under 1 s apart); a very long one a longer interval, so the sheets
/// stay within `maxSheets`.
public struct StoryboardPlan: Sendable, Equatable {
    public struct Tile: Sendable, Equatable {
        /// The instant shown, seconds from the start.
        public var time: Double
        /// The span of the cue it answers in the VTT.
        public var start: Double
        public var end: Double
        /// 0-based sheet and position within it, in pixels.
        public var sheet: Int
        public var x: Int
        public var y: Int
    }

    public static let defaultInterval = 10.0
    public static let defaultWidth = 320
    public static let defaultColumns = 10
    public static let defaultRows = 10
    /// The most sheets one video gets (36 sheets × 100 tiles × 10 s: ten hours).
    public static let maxSheets = 36

    public let interval: Double
    public let tileWidth: Int
    public let tileHeight: Int
    public let columns: Int
    public let rows: Int
    public let tiles: [Tile]

    /// - Parameters:
    ///   - duration: of the video in seconds (> 0).
    ///   - displayWidth, displayHeight: the picture as shown (rotation and aspect applied).
    ///   - interval: seconds between frames for a long video; shorter ones get less.
    public init(duration: Double, displayWidth: Int, displayHeight: Int, interval: Double = defaultInterval,
                tileWidth: Int = defaultWidth, columns: Int = defaultColumns, rows: Int = defaultRows,
                maxSheets: Int = StoryboardPlan.maxSheets) {
        let duration = max(duration, 0.001)
        let perSheet = columns * rows
        // About one sheet of frames for a short video, whole seconds apart.
        var step = min(max(interval, 0.001), max(1, (duration / Double(perSheet)).rounded(.up)))
        // Never more frames than the sheets hold.
        let most = Double(perSheet * maxSheets)
        if (duration / step).rounded(.up) > most { step = (duration / most).rounded(.up) }
        self.interval = step
        self.tileWidth = tileWidth
        // Even, as JPEG's 4:2:0 chroma wants, and at least 2.
        let aspect = displayWidth > 0 && displayHeight > 0 ? Double(displayHeight) / Double(displayWidth) : 9.0 / 16.0
        self.tileHeight = max(2, Int((Double(tileWidth) * aspect / 2).rounded()) * 2)
        self.columns = columns
        self.rows = rows
        let count = max(1, Int((duration / step).rounded(.up)))
        var tiles: [Tile] = []
        tiles.reserveCapacity(count)
        for i in 0..<count {
            let start = Double(i) * step
            let position = i % perSheet
            tiles.append(Tile(time: start, start: start, end: min(start + step, duration), sheet: i / perSheet,
                              x: position % columns * tileWidth, y: position / columns * tileHeight))
        }
        self.tiles = tiles
    }

    public var sheetCount: Int { (tiles.last?.sheet ?? 0) + 1 }

    /// The artifact name of sheet `index` (0-based): storyboard.jpg, then storyboard-2.jpg, ….
    public static func sheetName(_ index: Int) -> String { index == 0 ? "storyboard.jpg" : "storyboard-\(index + 1).jpg" }

    /// Every name a sheet may have, for a processor's declared artifacts.
    public static var allSheetNames: [String] { (0..<maxSheets).map(sheetName) }

    /// Pixel size of sheet `index`: full width, only as many rows as it fills.
    public func sheetSize(_ index: Int) -> (width: Int, height: Int) {
        let inSheet = tiles.filter { $0.sheet == index }.count
        let usedRows = max(1, (inSheet + columns - 1) / columns)
        let usedColumns = min(columns, max(1, inSheet))
        return (usedColumns * tileWidth, usedRows * tileHeight)
    }

    /// storyboard.vtt: one cue per tile, its text the sheet's name with a `#xywh=` fragment
    /// (Media Fragments URI 1.0 §4.2.2, spatial dimension).
    public func vtt() -> String {
        WebVTT.document(tiles.map {
            TimedText(start: $0.start, end: $0.end,
                      text: "\(Self.sheetName($0.sheet))#xywh=\($0.x),\($0.y),\(tileWidth),\(tileHeight)")
        })
    }
}
