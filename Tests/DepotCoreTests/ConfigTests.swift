import DepotTestSupport
import Foundation
import Testing
@testable import DepotCore

/// A section as a module would write one, to test the routing and the errors.
private struct SampleSection: ConfigSection {
    static let key = "sample"
    var size: Int = 1
    var name: String = ""
    init() {}
    init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["size", "name"])
        if let v = try r.int("size", min: 1, max: 9) { size = v }
        if let v = try r.string("name") { name = v }
    }
}

private func parse(_ text: String) throws -> DepotConfig {
    try DepotConfig.parse(toml: text, source: "depot.toml", sections: [SampleSection.self])
}

@Suite struct ConfigTests {
    @Test func sectionsAreRoutedToTheirOwnersAndDefaultWhenAbsent() throws {
        let c = try parse("""
            root = "/data/depot"
            [log]
            level = "debug"
            [sample]
            size = 4
            name = "x"
            [collections.share]
            mode = "mirror"
            """)
        #expect(c.root == "/data/depot" && c.logLevel == "debug")
        #expect(c[SampleSection.self].size == 4 && c[SampleSection.self].name == "x")
        #expect(c.collections["share"]?.mode == .mirror)
        let empty = try parse("")
        #expect(empty == DepotConfig(sections: [SampleSection.self]) && empty[SampleSection.self].size == 1)
        #expect(empty != c)
    }

    @Test(arguments: [
        ("colour = 1", "unknown key 'colour'", 1),
        ("\n\n[sample]\nsize = 3\nsise = 4", "unknown key 'sample.sise'", 5),
        ("[sample]\nsize = 12", "sample.size must be an integer from 1 to 9", 2),
        ("[log]\n  level = \"loud\"  # a comment", "log.level must be one of", 2),
        ("[collections.a]\nmod = \"mirror\"", "unknown key 'collections.a.mod'", 2),
        ("[collections.\".hidden\"]\nmode = \"mirror\"", "not a collection name", 1),
        ("[collections]\n\"a/b\" = { mode = \"mirror\" }", "not a collection name", 2),
        ("sample = 3", "sample must be a table", 1),
        ("root = [", "column", 1),
    ])
    func anErrorNamesTheFileTheKeyAndTheLine(_ text: String, _ message: String, _ line: Int) {
        let error = #expect(throws: ConfigError.self) { try parse(text) }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("depot.toml:\(line): ") == true, "\(String(describing: error))")
    }

    @Test func keysAreFoundOnTheirLines() {
        let source = ConfigSource(path: "x", text: """
            root = "/srv"  # top
            [http]
            port = 80
            "base_url" = "x"
            [[webhooks]]
            url = "a"
            [[webhooks]]
            url = "b" # second
            [jobs.kinds.extract]
            timeout = "1m"
            [jobs]
            kinds.thumbnail.slots = 1
            """)
        #expect(source.line(of: "root") == 1)
        #expect(source.line(of: "http") == 2 && source.line(of: "http.port") == 3 && source.line(of: "http.base_url") == 4)
        #expect(source.line(of: "webhooks[0]") == 5 && source.line(of: "webhooks[1].url") == 8)
        #expect(source.line(of: "jobs.kinds.extract.timeout") == 10)
        #expect(source.line(of: "jobs.kinds.thumbnail.slots") == 12)
        #expect(source.line(of: "http.listen") == nil)
    }

    @Test func durationsAndSizes() {
        #expect(parseDuration("500ms") == .milliseconds(500))
        #expect(parseDuration("2s") == .seconds(2))
        #expect(parseDuration("5m") == .seconds(300))
        #expect(parseDuration("1h") == .seconds(3600))
        #expect(parseDuration("7d") == .seconds(7 * 86400))
        #expect(parseDuration("1.5s") == .milliseconds(1500))
        #expect(parseDuration("0s") == .zero)
        #expect(parseDuration("5") == nil && parseDuration("5x") == nil)
        #expect(formatDuration(.seconds(7200)) == "2h" && formatDuration(.seconds(90)) == "90s"
                && formatDuration(.milliseconds(500)) == "500ms" && formatDuration(.seconds(604800)) == "7d")
        #expect(parseByteSize("512MiB") == 512 << 20 && parseByteSize("2GiB") == 2 << 30 && parseByteSize("64MB") == 64_000_000)
        #expect(parseByteSize("12") == 12 && parseByteSize("lots") == nil)
        #expect(parseByteSize("4G") == 4 << 30 && parseByteSize("10M") == 10 << 20 && parseByteSize("4GB") == 4_000_000_000)
        #expect(describeBytes(512) == "512 B" && describeBytes(1536) == "1.5 KiB" && describeBytes(2 << 30) == "2 GiB")
    }

    @Test func aCollectionsSettingsComeFromTheDefaultsThenItsTableThenItsDotDepotToml() throws {
        let dir = TemporaryDirectory()
        let config = try parse("""
            [collections.share]
            mode = "mirror"
            quiet_period = "10s"
            ignore_extra = ["*.bak"]
            max_link_lifetime = "2h"
            """)
        let resolver = CollectionSettingsResolver(
            defaults: CollectionSettings(mode: .consume, quietPeriod: .seconds(2), ignore: ["*.part"], maxLinkLifetime: .seconds(86400)),
            tables: config.collections, inbox: dir.path)
        #expect(try resolver.settings(for: "other")
                == CollectionSettings(mode: .consume, quietPeriod: .seconds(2), ignore: ["*.part"], maxLinkLifetime: .seconds(86400)))
        #expect(try resolver.settings(for: "share")
                == CollectionSettings(mode: .mirror, quietPeriod: .seconds(10), ignore: ["*.part", "*.bak"], maxLinkLifetime: .seconds(7200)))
        // The collection's .depot.toml comes last and wins; ignore replaces what came before.
        try dir.write("share/.depot.toml", """
            quiet_period = "1m"
            ignore = ["*.iso"]
            ignore_extra = ["*.log"]
            """)
        #expect(try resolver.settings(for: "share")
                == CollectionSettings(mode: .mirror, quietPeriod: .seconds(60), ignore: ["*.iso", "*.log"], maxLinkLifetime: .seconds(7200)))
        // A broken one is an error with its file, key and line: nothing is guessed.
        try dir.write("share/.depot.toml", "quiet_period = \"1m\"\n\nmode = \"hot\"\n")
        let error = #expect(throws: ConfigError.self) { try resolver.settings(for: "share") }
        #expect(error?.description == "\(dir.path)/share/.depot.toml:3: mode must be one of \"consume\", \"mirror\"")
        try dir.write("other/.depot.toml", "root = \"/x\"")
        let global = #expect(throws: ConfigError.self) { try resolver.settings(for: "other") }
        #expect(global?.description.contains("unknown key 'root'") == true)
    }

    @Test(arguments: ["documents", "share"])
    func inboxLayoutExamplesParse(_ collection: String) throws {
        let path = repositoryRoot + "/inbox-layout/\(collection)/.depot.toml"
        _ = try CollectionOverrides.parse(toml: try readTextFile(path), source: path)
    }
}

@Suite struct SharedHelpersTests {
    @Test func timestampsAreRFC3339InUTCAndRoundTrip() throws {
        #expect(formatTimestamp(0) == "1970-01-01T00:00:00.000Z")
        #expect(formatTimestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123Z")
        #expect(parseTimestamp("2023-11-14T22:13:20.123Z") == 1_700_000_000_123_000_000)
        #expect(parseTimestamp("2023-11-14T22:13:20Z") == 1_700_000_000_000_000_000)
        #expect(parseTimestamp("yesterday") == nil)
        let encoded = try JSONEncoder().encode([Timestamp(seconds: 86400)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["1970-01-02T00:00:00.000Z"]"#)
    }

    /// RFC 4231 test case 2, and the comparisons and encodings secrets travel in.
    @Test func hmacComparesAndEncodes() {
        let mac = hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(hexString(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(constantTimeEqual(mac, mac) && !constantTimeEqual(mac, Array(mac.dropLast()) + [0]) && !constantTimeEqual(mac, []))
        #expect(base64URL([0xfb, 0xff]) == "-_8" && base64URL(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(SHA256Hasher.digest(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest(hex: "XYZ") == nil)
    }
}
