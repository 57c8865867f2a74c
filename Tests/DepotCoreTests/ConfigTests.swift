import Testing
@testable import DepotCore

/// The repository root, found from this file's path (Tests/DepotCoreTests/ConfigTests.swift).
func repoRoot(_ file: String = #filePath) -> String {
    directoryName(directoryName(directoryName(file)))
}

@Suite struct ConfigTests {
    static let full = """
        root = "/data/depot"

        [inbox]
        quiet_period = "500ms"
        rescan_interval = "1h"
        poll_interval = 30
        ignore = ["*.part"]
        ignore_extra = ["*.bak", "*.swp"]
        mode = "mirror"
        max_watches = 1000
        retry_initial = "2s"
        retry_max = "5m"

        [store]
        batch_files = 64
        batch_bytes = 1048576

        [log]
        level = "debug"

        [collections.share]
        mode = "consume"
        quiet_period = "10s"
        ignore = ["*.tmp"]
        ignore_extra = ["*.log"]
        """

    @Test func parsesEveryKey() throws {
        let c = try DepotConfig.parse(toml: Self.full, source: "test.toml")
        #expect(c.root == "/data/depot")
        #expect(c.inbox.quietPeriod == .milliseconds(500))
        #expect(c.inbox.rescanInterval == .seconds(3600))
        #expect(c.inbox.pollInterval == .seconds(30))
        #expect(c.inbox.ignore == ["*.part", "*.bak", "*.swp"])
        #expect(c.inbox.mode == .mirror)
        #expect(c.inbox.maxWatches == 1000)
        #expect(c.inbox.retryInitial == .seconds(2))
        #expect(c.inbox.retryMax == .seconds(300))
        #expect(c.store.batchFiles == 64)
        #expect(c.store.batchBytes == 1 << 20)
        #expect(c.logLevel == "debug")
        let share = try #require(c.collections["share"])
        #expect(share.mode == .consume)
        #expect(share.quietPeriod == .seconds(10))
        #expect(share.ignore == ["*.tmp"])
        #expect(share.ignoreExtra == ["*.log"])
    }

    @Test func emptyConfigIsTheDefaults() throws {
        #expect(try DepotConfig.parse(toml: "", source: "empty") == DepotConfig())
    }

    @Test(arguments: [
        ("colour = 1", "colour"),
        ("[inbox]\nquiet_periode = \"2s\"", "inbox.quiet_periode"),
        ("[store]\nbatch = 1", "store.batch"),
        ("[log]\nfile = \"x\"", "log.file"),
        ("[collections.a]\nmod = \"mirror\"", "collections.a.mod"),
    ])
    func unknownKeyIsAnErrorNamingIt(_ text: String, _ key: String) {
        let error = #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: text, source: "x.toml") }
        #expect(error?.description.contains("unknown key '\(key)'") == true)
        #expect(error?.description.hasPrefix("x.toml: ") == true)
    }

    @Test(arguments: ["\"2 parsecs\"", "\"-1s\"", "\"s\"", "\"\"", "true", "-3"])
    func badDurationIsAnError(_ value: String) {
        let error = #expect(throws: ConfigError.self) {
            try DepotConfig.parse(toml: "[inbox]\nquiet_period = \(value)", source: "x.toml")
        }
        #expect(error?.description.contains("inbox.quiet_period") == true)
    }

    @Test func durationUnits() {
        #expect(parseDuration("500ms") == .milliseconds(500))
        #expect(parseDuration("2s") == .seconds(2))
        #expect(parseDuration("5m") == .seconds(300))
        #expect(parseDuration("1h") == .seconds(3600))
        #expect(parseDuration("7d") == .seconds(7 * 86400))
        #expect(parseDuration("1.5s") == .milliseconds(1500))
        #expect(parseDuration("0s") == .zero)
        #expect(parseDuration("5") == nil)
        #expect(parseDuration("5x") == nil)
    }

    @Test func badValuesNameTheirKey() {
        let mode = #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: "[inbox]\nmode = \"hot\"", source: "x") }
        #expect(mode?.description.contains("inbox.mode") == true)
        let level = #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: "[log]\nlevel = \"loud\"", source: "x") }
        #expect(level?.description.contains("log.level") == true)
        let batch = #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: "[store]\nbatch_files = 0", source: "x") }
        #expect(batch?.description.contains("store.batch_files") == true)
        #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: "[collections.\".hidden\"]\nmode = \"mirror\"", source: "x") }
        #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: "root = [", source: "x") }
    }

    @Test func collectionOverridesApplyGlobalThenTableThenDotDepotToml() throws {
        let config = try DepotConfig.parse(toml: """
            [inbox]
            quiet_period = "2s"
            mode = "consume"
            ignore = ["*.part"]

            [collections.share]
            mode = "mirror"
            quiet_period = "10s"
            ignore_extra = ["*.bak"]
            """, source: "depot.toml")

        // A collection without its own table gets the [inbox] values.
        #expect(config.settings(forCollection: "other")
                == CollectionSettings(mode: .consume, quietPeriod: .seconds(2), ignore: ["*.part"]))
        // [collections.share] overrides the global values; ignore_extra adds.
        #expect(config.settings(forCollection: "share")
                == CollectionSettings(mode: .mirror, quietPeriod: .seconds(10), ignore: ["*.part", "*.bak"]))
        // The collection's .depot.toml comes last and wins; ignore replaces what came before.
        let local = try CollectionOverrides.parse(toml: """
            quiet_period = "1m"
            ignore = ["*.iso"]
            ignore_extra = ["*.log"]
            """, source: "share/.depot.toml")
        #expect(config.settings(forCollection: "share", overrideFile: local)
                == CollectionSettings(mode: .mirror, quietPeriod: .seconds(60), ignore: ["*.iso", "*.log"]))
    }

    @Test func ignoreExtraAddsToDefaultsAndIgnoreReplaces() throws {
        let adds = try DepotConfig.parse(toml: "[inbox]\nignore_extra = [\"*.bak\"]", source: "x")
        #expect(adds.inbox.ignore == defaultIgnorePatterns + ["*.bak"])
        let replaces = try DepotConfig.parse(toml: "[inbox]\nignore = [\"*.bak\"]", source: "x")
        #expect(replaces.inbox.ignore == ["*.bak"])
    }

    @Test func dotDepotTomlRejectsGlobalKeys() {
        let error = #expect(throws: ConfigError.self) {
            try CollectionOverrides.parse(toml: "root = \"/x\"", source: "a/.depot.toml")
        }
        #expect(error?.description.contains("unknown key 'root'") == true)
    }

    @Test func shippedDefaultConfigIsTheDefaults() throws {
        let config = try DepotConfig.load(path: repoRoot() + "/config/depot.toml")
        var expected = DepotConfig()
        expected.root = "/srv/depot"
        #expect(config == expected)
    }

    @Test(arguments: ["documents", "share"])
    func inboxLayoutExamplesParse(_ collection: String) throws {
        let path = repoRoot() + "/inbox-layout/\(collection)/.depot.toml"
        _ = try CollectionOverrides.parse(toml: try readTextFile(path), source: path)
    }
}
