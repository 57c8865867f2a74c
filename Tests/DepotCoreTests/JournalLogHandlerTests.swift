import Logging
import Testing
@testable import DepotCore

@Suite struct JournalLogHandlerTests {
    typealias H = JournalLogHandler

    @Test func priorityPrefixFollowsSyslogLevels() {
        let expected: [(Logger.Level, Int)] = [(.trace, 7), (.debug, 7), (.info, 6), (.notice, 5),
                                               (.warning, 4), (.error, 3), (.critical, 2)]
        for (level, priority) in expected {
            #expect(H.syslogPriority(level) == priority)
            let line = H.formatLine(level: level, label: "depot", message: "m", metadata: [:], style: .journal, timestamp: 0)
            #expect(line == "<\(priority)>depot: m\n")
        }
    }

    @Test func metadataIsSortedAndQuotedOnlyWhenNeeded() {
        let line = H.formatLine(level: .info, label: "depot.ingest", message: "stored",
                                metadata: ["size": "1024", "path": "a b/c.mp4", "collection": "lectures",
                                           "note": "say \"hi\"", "empty": ""],
                                style: .journal, timestamp: 0)
        #expect(line == #"<6>depot.ingest: stored collection=lectures empty="" note="say \"hi\"" path="a b/c.mp4" size=1024"# + "\n")
    }

    @Test func newlinesAreEscapedSoOneMessageIsOneLine() {
        let line = H.formatLine(level: .error, label: "depot", message: "first\nsecond\r\nthird\u{1}",
                                metadata: ["error": "line1\nline2\\x"], style: .journal, timestamp: 0)
        #expect(line == #"<3>depot: first\nsecond\r\nthird\x01 error="line1\nline2\\x""# + "\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func messageBackslashesStayReadable() {
        #expect(H.escapeControls(#"C:\docs"#) == #"C:\docs"#)
    }

    @Test func quoteValueCases() {
        #expect(H.quoteValue("plain") == "plain")
        #expect(H.quoteValue("") == "\"\"")
        #expect(H.quoteValue("a=b") == "\"a=b\"")
        #expect(H.quoteValue("tab\there") == #""tab\there""#)
        #expect(H.quoteValue("naïve ünïcode") == "\"naïve ünïcode\"")
    }

    @Test func keysCannotBreakPairs() {
        let line = H.formatLine(level: .info, label: "l", message: "m", metadata: ["a key=x": "1"], style: .journal, timestamp: 0)
        #expect(line == "<6>l: m a_key_x=1\n")
    }

    @Test func nestedMetadataUsesItsDescription() {
        let line = H.formatLine(level: .info, label: "l", message: "m",
                                metadata: ["tags": .array(["physics", "week1"])], style: .journal, timestamp: 0)
        // swift-log renders arrays as `["physics", "week1"]`; the quotes inside get escaped.
        #expect(line == #"<6>l: m tags="[\"physics\", \"week1\"]""# + "\n")
    }

    @Test func terminalStyleHasTimeAndLevelInsteadOfPrefix() {
        // 2024-02-29T23:59:58.123Z
        let ns: Int64 = 1_709_251_198_123_456_789
        let line = H.formatLine(level: .warning, label: "depot", message: "slow", metadata: ["ms": "250"],
                                style: .terminal, timestamp: ns)
        #expect(line == "2024-02-29T23:59:58.123Z warning depot: slow ms=250\n")
    }

    @Test func timestampAtEpoch() {
        #expect(formatTimestamp(0) == "1970-01-01T00:00:00.000Z")
    }

    @Test func handlerLevelIsAValuePerLogger() {
        var a = H(label: "a", style: .journal)
        let b = H(label: "b", style: .journal)
        a.logLevel = .trace
        #expect(a.logLevel == .trace)
        #expect(b.logLevel != .trace || LogOutput.shared.level == .trace)
        a[metadataKey: "k"] = "v"
        #expect(a.metadata["k"] == "v")
        #expect(b.metadata.isEmpty)
    }

    @Test func bootstrapIsIdempotent() {
        // A second call must not trap in LoggingSystem.bootstrap; it only sets the level.
        bootstrapLogging(level: .warning)
        bootstrapLogging(level: .warning)
        #expect(Logger(label: "t").logLevel == .warning)
    }
}
