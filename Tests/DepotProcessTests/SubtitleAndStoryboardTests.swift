@testable import DepotProcess
import Foundation
import Testing

/// WebVTT out, SubRip/WebVTT/ASS in, and the storyboard's layout.
@Suite struct SubtitleAndStoryboardTests {
    @Test func timestampsAlwaysHaveHours() {
        #expect(WebVTT.timestamp(0) == "00:00:00.000")
        #expect(WebVTT.timestamp(3723.4567) == "01:02:03.457")
        #expect(WebVTT.timestamp(-1) == "00:00:00.000")
        #expect(WebVTT.timestamp(47 * 3600) == "47:00:00.000")
    }

    @Test func documentKeepsCuesWhole() {
        let vtt = WebVTT.document([TimedText(start: 1, end: 2.5, text: "one\n\ntwo --> three"),
                                   TimedText(start: 3, end: 3, text: "instant"), TimedText(start: 4, end: 5, text: "\n")])
        #expect(vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\none\ntwo -> three\n\n00:00:03.000 --> 00:00:03.001\ninstant\n")
    }

    @Test func subRipBecomesCues() throws {
        let srt = "\u{FEFF}1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i>\r\nworld\r\n\r\n2\r\n00:01:00,000 --> 00:01:02,000\r\nSecond\r\n\r\nbroken\r\nnot a time\r\n"
        let cues = try SubtitleText.cues(Array(srt.utf8), format: .srt)
        #expect(cues == [TimedText(start: 1, end: 2.5, text: "<i>Hello</i>\nworld"), TimedText(start: 60, end: 62, text: "Second")])
        #expect(SubtitleText.plainText(cues) == "Hello world\nSecond\n")
    }

    @Test func windows1252SubRipIsDecoded() throws {
        let bytes: [UInt8] = Array("1\n00:00:01,000 --> 00:00:02,000\nCaf".utf8) + [0xE9, 0x20, 0x80] + Array("\n".utf8)
        #expect(try SubtitleText.cues(bytes, format: .srt).first?.text == "Café €")
    }

    @Test func webVTTShortTimesSettingsAndNotes() throws {
        let vtt = "WEBVTT\n\nNOTE a comment --> with an arrow?\n\nSTYLE\n::cue { color: red }\n\n00:05.000 --> 00:07.250 line:0 align:start\nShort form\n"
        let cues = try SubtitleText.cues(Array(vtt.utf8), format: .vtt)
        #expect(cues == [TimedText(start: 5, end: 7.25, text: "Short form")])
    }

    @Test func assDialogueFollowsItsFormatLine() throws {
        let ass = """
            [Script Info]
            Title: test

            [V4+ Styles]
            Format: Name, Fontname
            Style: Default,Arial

            [Events]
            Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
            Dialogue: 0,0:00:02.00,0:00:04.50,Default,,0,0,0,,{\\b1}Bold{\\b0}, with commas\\Nand a break
            Comment: 0,0:00:05.00,0:00:06.00,Default,,0,0,0,,not shown
            Dialogue: 0,0:00:01.00,0:00:01.50,Default,,0,0,0,,{\\p1}m 0 0 l 10 10{\\p0}A < B & C
            """
        let cues = try SubtitleText.cues(Array(ass.utf8), format: .ass)
        #expect(cues == [TimedText(start: 1, end: 1.5, text: "A &lt; B &amp; C"),
                         TimedText(start: 2, end: 4.5, text: "Bold, with commas\nand a break")])
        #expect(SubtitleText.plainText(cues) == "A < B & C\nBold, with commas and a break\n")
    }

    @Test func fileWithoutCuesIsInvalid() {
        #expect(throws: SubtitleText.Invalid.self) { try SubtitleText.cues(Array("just words\n".utf8), format: .srt) }
        #expect(SubtitleText.Format(fileExtension: "SSA") == .ass && SubtitleText.Format(fileExtension: "txt") == nil)
    }

    /// An hour at Jellyfin's defaults: 360 frames, 10 s apart, 4 sheets of 10 × 10 (the last one 6 rows).
    @Test func hourLongVideoUsesTrickplayDefaults() {
        let plan = StoryboardPlan(duration: 3600, displayWidth: 1920, displayHeight: 1080)
        #expect(plan.interval == 10)
        #expect(plan.tiles.count == 360)
        #expect(plan.tileWidth == 320 && plan.tileHeight == 180)
        #expect(plan.sheetCount == 4)
        #expect(plan.sheetSize(0) == (3200, 1800) && plan.sheetSize(3) == (3200, 1080))
        let last = plan.tiles[359]
        #expect(last.sheet == 3 && last.x == 9 * 320 && last.y == 5 * 180 && last.time == 3590 && last.end == 3600)
        let vtt = plan.vtt()
        #expect(vtt.hasPrefix("WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nstoryboard.jpg#xywh=0,0,320,180\n"))
        #expect(vtt.contains("00:16:40.000 --> 00:16:50.000\nstoryboard-2.jpg#xywh=0,0,320,180\n"))
        #expect(vtt.hasSuffix("00:59:50.000 --> 01:00:00.000\nstoryboard-4.jpg#xywh=2880,900,320,180\n"))
    }

    @Test func shortVideosGetShorterIntervals() {
        let minute = StoryboardPlan(duration: 60, displayWidth: 1280, displayHeight: 720)
        #expect(minute.interval == 1 && minute.tiles.count == 60 && minute.sheetCount == 1)
        #expect(minute.sheetSize(0) == (3200, 6 * 180))
        let five = StoryboardPlan(duration: 300, displayWidth: 720, displayHeight: 1280)  // portrait
        #expect(five.interval == 3 && five.tiles.count == 100 && five.tileHeight == 568)
        let blink = StoryboardPlan(duration: 0.4, displayWidth: 640, displayHeight: 480)
        #expect(blink.tiles.count == 1 && blink.tiles[0].end == 0.4 && blink.sheetSize(0) == (320, 240))
        let long = StoryboardPlan(duration: 47 * 3600, displayWidth: 1920, displayHeight: 1080)
        #expect(long.sheetCount <= StoryboardPlan.maxSheets && long.interval == 47)
    }
}
