import DepotCore

/// Storyboard for video → `storyboard.vtt` and its sprite sheets `storyboard.jpg`,
/// `storyboard-2.jpg`, …: seek previews as web players read them (see `StoryboardMaker`).
///
/// Parameters: `interval` (seconds between tiles of a long video; shorter videos get less)
/// and `width` (of a tile, pixels).
public struct StoryboardProcessor: Processor {
    public var choice: ProcessorChoice { .storyboard }
    public let version = "1"
    public var artifactKinds: [String: String] {
        var kinds = ["storyboard.vtt": "text/vtt; charset=utf-8"]
        for sheet in StoryboardPlan.allSheetNames { kinds[sheet] = "image/jpeg" }
        return kinds
    }

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let interval = try input.parameters["interval"].map { value -> Double in
            guard let seconds = value.intValue, (1...3600).contains(seconds) else {
                throw DocumentError("parameter interval must be an integer from 1 to 3600, not \(value)")
            }
            return Double(seconds)
        } ?? StoryboardPlan.defaultInterval
        let width = try input.parameters["width"].map { value -> Int in
            guard let pixels = value.intValue, (16...1280).contains(pixels) else {
                throw DocumentError("parameter width must be an integer from 16 to 1280, not \(value)")
            }
            return pixels
        } ?? StoryboardPlan.defaultWidth
        input.progress(1, "seeking keyframes")
        let output = try StoryboardMaker.make(path: input.path, interval: interval, width: width) { fraction in
            input.progress(min(99, Int(fraction * 98) + 1), "storyboard")
        }
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        for (index, sheet) in output.sheets.enumerated() {
            try writer.write(StoryboardPlan.sheetName(index), mimeType: "image/jpeg", bytes: sheet)
        }
        try writer.write("storyboard.vtt", mimeType: "text/vtt; charset=utf-8", bytes: Array(output.plan.vtt().utf8))
        return writer.produced
    }
}
