@testable import Depot
import DepotCore
import DepotHTTP
import DepotOutbox
import DepotQueue
import DepotStore
import DepotTestSupport
import DepotWatch
import Foundation
import Testing

private func parse(_ text: String) throws -> DepotConfig {
    try DepotConfig.parse(toml: text, source: "depot.toml", sections: configSections)
}

/// depot.toml as a whole: every module's section read by its owner, one file, one error form.
@Suite struct ConfigFileTests {
    @Test func everySectionIsReadByItsOwner() throws {
        let c = try parse("""
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

            [jobs]
            workers = 3
            worker_idle = "30s"
            worker_max_rss = "256MiB"
            [jobs.kinds.thumbnail]
            timeout = "30s"
            [jobs.kinds.thumbnail.parameters]
            width = 480

            [http]
            port = 9090

            [outbox]
            grace_period = "10s"

            [[webhooks]]
            url = "http://127.0.0.1:9/hook"
            secret = "s"

            [log]
            level = "debug"

            [collections.share]
            mode = "consume"
            quiet_period = "10s"
            ignore = ["*.tmp"]
            ignore_extra = ["*.log"]
            """)
        #expect(c.root == "/data/depot" && c.logLevel == "debug")
        #expect(c.inbox.quietPeriod == .milliseconds(500) && c.inbox.rescanInterval == .seconds(3600) && c.inbox.pollInterval == .seconds(30))
        #expect(c.inbox.ignore == ["*.part", "*.bak", "*.swp"] && c.inbox.mode == .mirror && c.inbox.maxWatches == 1000)
        #expect(c.inbox.retryInitial == .seconds(2) && c.inbox.retryMax == .seconds(300))
        #expect(c.store.batchFiles == 64 && c.store.batchBytes == 1 << 20)
        #expect(c.jobs.workers == 3 && c.jobs.workerIdle == .seconds(30) && c.jobs.workerMaxRSS == 256 << 20)
        #expect(c.jobs.limits(kind: JobKinds.thumbnail, mediaClass: "documents").timeout == .seconds(30))
        #expect(c.jobs.kinds["thumbnail"]?.parameters == ["width": .int(480)])
        #expect(c.http.port == 9090 && c.outbox.gracePeriod == .seconds(10) && c.webhooks.map(\.url) == ["http://127.0.0.1:9/hook"])
        let share = try #require(c.collections["share"])
        #expect(share.mode == .consume && share.quietPeriod == .seconds(10) && share.ignore == ["*.tmp"] && share.ignoreExtra == ["*.log"])
        // The one resolver: [inbox] then [collections.share], with [http]'s link lifetime.
        let resolved = c.collectionSettings(inbox: "/nowhere").settings(for: "share", file: nil)
        #expect(resolved == CollectionSettings(mode: .consume, quietPeriod: .seconds(10), ignore: ["*.tmp", "*.log"],
                                               maxLinkLifetime: c.http.maxLinkLifetime))
    }

    @Test func emptyConfigIsTheDefaults() throws {
        #expect(try parse("") == DepotConfig.defaults)
        #expect(try parse("").inbox.ignore == defaultIgnorePatterns)
    }

    /// `[node]`: a role list, an id, a heartbeat; without them, all roles and the host:root id.
    @Test func nodeSectionNamesRolesIdAndHeartbeat() throws {
        let config = try parse("[node]\nid = \"worker-7\"\nrole = \"worker, http\"\nheartbeat = \"2s\"")
        #expect(config.node.roles == [.worker, .http])
        #expect(NodeRole.describe(config.node.roles) == "worker,http")
        #expect(config.node.nodeID(root: "/srv/depot") == "worker-7")
        #expect(config.node.heartbeat == .seconds(2))
        let defaults = try parse("")
        #expect(NodeRole.describe(defaults.node.roles) == "all")
        #expect(NodeRole.parse("ingest,worker,http") == defaults.node.roles)
        #expect(defaults.node.nodeID(root: "/srv/depot") == Nodes.hostName + ":/srv/depot")
    }

    /// config/depot.toml documents every option at its default value.
    @Test func shippedDefaultConfigIsTheDefaults() throws {
        let config = try DepotConfig.load(path: repositoryRoot + "/config/depot.toml", sections: configSections)
        var expected = DepotConfig.defaults
        expected.root = "/srv/depot"
        #expect(config == expected)
    }

    @Test(arguments: [
        ("colour = 1", "unknown key 'colour'", 1),
        ("[inbox]\nquiet_periode = \"2s\"", "unknown key 'inbox.quiet_periode'", 2),
        ("[store]\n\nbatch = 1", "unknown key 'store.batch'", 3),
        ("[log]\nfile = \"x\"", "unknown key 'log.file'", 2),
        ("[inbox]\nmode = \"hot\"", "inbox.mode must be one of", 2),
        ("[inbox]\nquiet_period = \"2 parsecs\"", "inbox.quiet_period must be a duration", 2),
        ("[store]\nbatch_files = 0", "store.batch_files must be an integer from 1 to 1000000", 2),
        ("[http]\nport = 70000", "http.port must be an integer from 0 to 65535", 2),
        ("[http]\nlink_expiry = \"30d\"", "http.link_expiry must not exceed http.max_link_lifetime", 2),
        ("[outbox]\nfile_mode = \"0999\"", "outbox.file_mode must be a permission mode", 2),
        ("[[webhooks]]\nurl = \"ftp://x\"\nsecret = \"s\"", "webhooks[0].url must be an http:// or https:// URL", 2),
        ("[jobs.concurrency]\nvideos = 1", "unknown key 'jobs.concurrency.videos'", 2),
        ("[inbox]\nremoved = \"delete after 3d\"", "inbox.removed takes \"keep\" or \"trash after DURATION\"", 2),
        ("[collections.share]\nmode = \"mirror\"\nremoved = \"trash after soon\"", "removed takes \"keep\"", 3),
        ("[scrub]\nsecond_copy = \"backup/blobs\"", "scrub.second_copy must be an absolute path", 2),
        ("[scrub]\ninterval = \"0s\"", "scrub.interval must be positive", 2),
        ("[node]\nrole = \"web\"", "node.role must be \"all\" or a comma-separated list", 2),
        ("[node]\nrole = \"ingest,\"", "node.role must be", 2),
        ("[node]\nheartbeat = \"10ms\"", "node.heartbeat must be from 100ms to 1h", 2),
        ("[node]\nid = \"a\\\"b\"", "node.id must be at most 200 characters", 2),
    ])
    func aBadKeyIsNamedWithItsFileAndLine(_ text: String, _ message: String, _ line: Int) {
        let error = #expect(throws: ConfigError.self) { try parse(text) }
        #expect(error?.description.hasPrefix("depot.toml:\(line): ") == true, "\(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    /// The values a hostile or careless hand may write where depot wants a number, a
    /// duration or a size.
    static let extremes = [
        #""99999999d""#, #""99999999999999GiB""#, "9223372036854775807", "-9223372036854775808", "1e308", "-1e308",
        "nan", "inf", "-inf", #""1e400s""#, #""-5s""#, #""1e-30ms""#, #""18446744073709551616""#, #""9e18B""#,
        "0", "-1", "0.5", #""""#, #""nan""#, #""infs""#,
    ]

    /// Every key of the shipped depot.toml whose value is a number, a duration or a size, with
    /// the table it sits in; and the keys of the tables the shipped file only describes.
    static func numericKeys() throws -> [(table: String, key: String, defaultValue: String)] {
        var table = ""
        var found: [(String, String, String)] = []
        for raw in try readTextFile(repositoryRoot + "/config/depot.toml").split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { table = line; continue }
            guard !line.hasPrefix("#"), let eq = line.range(of: " = ") else { continue }
            let key = String(line[..<eq.lowerBound])
            var value = String(line[eq.upperBound...])
            if let comment = value.range(of: " #") { value = String(value[..<comment.lowerBound]).trimmingCharacters(in: .whitespaces) }
            let unquoted = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if Int(value) != nil || parseDuration(unquoted) != nil || (value.hasPrefix("\"") && parseByteSize(unquoted) != nil) {
                found.append((table, key, value))
            }
        }
        let webhook = "[[webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s\""
        found += [
            ("[jobs.kinds.thumbnail]", "timeout", "\"2m\""), ("[jobs.kinds.thumbnail]", "memory_limit", "\"1GiB\""),
            ("[jobs.kinds.thumbnail]", "cpu_limit", "\"1m\""), ("[jobs.kinds.thumbnail]", "max_attempts", "3"),
            ("[jobs.kinds.thumbnail]", "slots", "1"), ("[jobs.kinds.thumbnail]", "priority", "0"),
            ("[jobs.kinds.thumbnail.parameters]", "width", "320"), ("[jobs.kinds.extract.parameters]", "max_pages", "2000"),
            ("[jobs.classes.video]", "timeout", "\"1h\""), ("[jobs.classes.video]", "memory_limit", "\"4GiB\""),
            ("[collections.share]", "quiet_period", "\"2s\""), ("[collections.share]", "max_link_lifetime", "\"7d\""),
            (webhook, "max_attempts", "10"), (webhook, "timeout", "\"10s\""),
        ]
        return found
    }

    /// Every number depot.toml takes, given extreme values: each is refused with its key, or
    /// taken as what it says — never a crash (a trap here ends the test run) and never an
    /// overflow later. A duration past 100 years and a size past 1 EiB are always refused.
    @Test func extremeNumbersAreRefusedByKeyNeverACrash() throws {
        let keys = try Self.numericKeys()
        #expect(keys.count >= 50, "\(keys.count) keys found")
        for (table, key, defaultValue) in keys {
            let isDuration = parseDuration(defaultValue.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) != nil
            let isSize = defaultValue.hasPrefix("\"") && !isDuration || key.hasSuffix("_bytes") || key == "memory_limit"
            for value in Self.extremes {
                let text = table.isEmpty ? "\(key) = \(value)\n" : "\(table)\n\(key) = \(value)\n"
                do {
                    let config = try parse(text)
                    #expect(!(isDuration && value == #""99999999d""#), "\(table) \(key) = \(value) was taken")
                    #expect(!(isSize && value == #""99999999999999GiB""#), "\(table) \(key) = \(value) was taken")
                    // Taken values are usable: every duration fits a nanosecond clock ahead of now.
                    _ = config
                } catch let error as ConfigError {
                    #expect(error.description.contains(key), "\(table) \(key) = \(value): \(error)")
                    #expect(error.description.hasPrefix("depot.toml:"), "\(error)")
                } catch {
                    Issue.record("\(table) \(key) = \(value): not a ConfigError: \(error)")
                }
            }
        }
    }

    /// The same values in a collection's .depot.toml (which anyone who can drop a file can write).
    @Test func extremeNumbersInACollectionFileAreRefusedByKey() throws {
        for key in ["quiet_period", "max_link_lifetime"] {
            for value in Self.extremes {
                do {
                    let overrides = try CollectionOverrides.parse(toml: "\(key) = \(value)\n", source: "share/.depot.toml")
                    #expect(value != #""99999999d""#, "\(key) = \(value) was taken: \(overrides)")
                } catch let error as ConfigError {
                    #expect(error.description.hasPrefix("share/.depot.toml:1: \(key) "), "\(error)")
                }
            }
        }
    }
}
