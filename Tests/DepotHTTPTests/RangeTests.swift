@testable import DepotHTTP
import Testing

/// Range and conditional-request rules, pinned with RFC 9110's own examples (§14.1.2:
/// a representation of 10000 bytes).
struct RangeTests {
    @Test func firstFiveHundredBytes() { #expect(parseRange("bytes=0-499", size: 10000) == .partial(first: 0, last: 499)) }
    @Test func secondFiveHundredBytes() { #expect(parseRange("bytes=500-999", size: 10000) == .partial(first: 500, last: 999)) }
    @Test func rangeSuffixMeansLastBytes() {
        // RFC 9110 §14.1.2: "bytes=-500" is the final 500 bytes (9500-9999), not the first 500.
        #expect(parseRange("bytes=-500", size: 10000) == .partial(first: 9500, last: 9999))
    }
    @Test func openEndedRange() { #expect(parseRange("bytes=9500-", size: 10000) == .partial(first: 9500, last: 9999)) }
    @Test func firstAndLastByteAsMultipleRangesIsServedWhole() {
        // "bytes=0-0,-1": depot answers several ranges with 200 and everything (DECISIONS.md).
        #expect(parseRange("bytes=0-0,-1", size: 10000) == .full)
    }
    @Test func lastPositionPastTheEndIsClamped() { #expect(parseRange("bytes=9000-20000", size: 10000) == .partial(first: 9000, last: 9999)) }
    @Test func suffixLongerThanTheFileIsTheWholeFile() { #expect(parseRange("bytes=-20000", size: 10000) == .partial(first: 0, last: 9999)) }
    @Test func firstPositionAtTheEndIsUnsatisfiable() {
        #expect(parseRange("bytes=10000-", size: 10000) == .unsatisfiable)
        #expect(parseRange("bytes=10000-10005", size: 10000) == .unsatisfiable)
    }
    @Test func zeroSuffixIsUnsatisfiable() { #expect(parseRange("bytes=-0", size: 10000) == .unsatisfiable) }
    @Test func malformedRangesAreIgnored() {
        for header in ["bytes=abc", "bytes=5-1", "items=0-1", "bytes=", "bytes=1", "bytes=--1", "bytes=0x10-"] {
            #expect(parseRange(header, size: 10000) == .full, "\(header)")
        }
        #expect(parseRange(nil, size: 10000) == .full)
    }
    @Test func unitIsCaseInsensitive() { #expect(parseRange("Bytes=0-0", size: 10) == .partial(first: 0, last: 0)) }
    @Test func offsetsBeyondFourGiBStayExact() {
        let size: Int64 = 6 << 30
        #expect(parseRange("bytes=-1", size: size) == .partial(first: size - 1, last: size - 1))
        #expect(parseRange("bytes=5368709120-", size: size) == .partial(first: 5 << 30, last: size - 1))
        #expect(parseRange("bytes=99999999999999999999-", size: size) == .unsatisfiable)
    }
    @Test func emptyFileAnswersRangesWhole() {
        #expect(parseRange("bytes=-5", size: 0) == .full)
        #expect(parseRange("bytes=0-", size: 0) == .unsatisfiable)
    }

    @Test func ifNoneMatchUsesWeakComparison() {
        #expect(ifNoneMatchMatches("\"abc\"", etag: "\"abc\""))
        #expect(ifNoneMatchMatches("W/\"abc\"", etag: "\"abc\""))
        #expect(ifNoneMatchMatches("\"x\", \"abc\"", etag: "\"abc\""))
        #expect(ifNoneMatchMatches("*", etag: "\"abc\""))
        #expect(!ifNoneMatchMatches("\"abd\"", etag: "\"abc\""))
    }
    @Test func ifRangeNeedsAStrongMatch() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT"
        #expect(ifRangeMatches("\"abc\"", etag: "\"abc\"", lastModified: date))
        #expect(!ifRangeMatches("W/\"abc\"", etag: "\"abc\"", lastModified: date))
        #expect(ifRangeMatches(date, etag: "\"abc\"", lastModified: date))
        #expect(!ifRangeMatches("Mon, 07 Nov 1994 08:49:37 GMT", etag: "\"abc\"", lastModified: date))
    }
    @Test func httpDateIsRFC9110() { #expect(httpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT") }
    @Test func contentDispositionHasAsciiFallbackAndRFC6266Name() {
        #expect(contentDisposition(fileName: "report.pdf") == "attachment; filename=\"report.pdf\"")
        #expect(contentDisposition(fileName: "Übung €.pdf")
                == "attachment; filename=\"_bung _.pdf\"; filename*=UTF-8''%C3%9Cbung%20%E2%82%AC.pdf")
        #expect(contentDisposition(fileName: "a\"b.txt").hasPrefix("attachment; filename=\"a_b.txt\"; filename*="))
    }
}
