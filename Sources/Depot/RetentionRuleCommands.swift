import ArgumentParser
import DepotCore
import DepotStore
import Foundation

extension Context {
    /// Each collection's retention rules (global `[retention]`, then `[collections.NAME.retention]`,
    /// then its `.depot.toml`'s `[retention]`), as the daemon and the CLI both read them.
    func retentionRules(_ collection: String) throws -> RetentionRules {
        try collections.settings(for: collection).retention
    }
}

/// `depot retention plan|apply`.
struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Show or apply what the retention rules remove.",
        discussion: """
            Rules per collection in restic's terms ([retention] keep_last, keep_hourly, keep_daily, \
            keep_weekly, keep_monthly, keep_yearly, keep_within, keep_tags; a collection's .depot.toml \
            [retention] replaces them). A document's current version and pinned versions are always kept; \
            a legal hold keeps everything it covers. What goes, goes to the trash.
            """,
        subcommands: [Plan.self, Apply.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan", abstract: "What the rules would remove, and the bytes that frees.")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Flag(name: .long, help: "Only the totals per collection, not each version.")
        var summary = false

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let plan = try context.openCatalog().retentionPlan(rules: context.retentionRules)
            try RetentionCommand.show(plan, json: output.json, summary: summary, verb: "would remove")
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "apply", abstract: "Move what the rules remove to the trash (an event each).")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let catalog = try context.openCatalog()
            let plan = try catalog.retentionPlan(rules: context.retentionRules)
            let report = try catalog.applyRetention(plan, trashDays: context.config.retention.trashDays)
            if output.json {
                try printJSON(report)
                return
            }
            for line in report.refused { print("kept: \(line)") }
            print("moved \(report.removed) versions (\(humanBytes(report.removedBytes))) to the trash; "
                  + "\(humanBytes(plan.freedBytes)) are freed once the trash is purged and `depot gc` has run")
        }
    }

    static func show(_ plan: RetentionPlan, json: Bool, summary: Bool, verb: String) throws {
        if json {
            var shown = plan
            if summary { shown.removals = [] }
            try printJSON(shown)
            return
        }
        if !summary {
            for r in plan.removals { print("\(verb) \(r.collection)/\(r.path) version \(r.version) (\(humanBytes(r.size)), \(r.ingestedAt))") }
        }
        printTable(["COLLECTION", "RULES", "VERSIONS", "KEPT", "REMOVED", "HELD"], plan.collections.map {
            [$0.collection, $0.rules.summary, "\($0.versions)", "\($0.kept)", "\($0.removed)", "\($0.held)"]
        })
        print("\(verb) \(plan.removals.count) versions (\(humanBytes(plan.removedBytes))); frees \(humanBytes(plan.freedBytes))")
    }
}

/// `depot pin COLLECTION/PATH [--version N]` and `depot unpin`.
struct PinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Keep a version whatever the retention rules say (and refuse `depot rm` of it).")
    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "COLLECTION/PATH of the document.") var path: String
    @Option(name: .long, help: "Version number (default: current).") var version: Int?
    @Option(name: .long, help: "Why (shown by `depot pin --list`).") var note = ""

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (collection, inside) = try splitDocumentPath(path)
        let pin = try context.openCatalog().pin(collection: collection, path: inside, version: version, note: note)
        if output.json { try printJSON(pin) } else { print("pinned \(pin.collection)/\(pin.path) version \(pin.version)") }
    }
}

struct UnpinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unpin", abstract: "Remove a version's pin.")
    @OptionGroup var rootOptions: RootOptions
    @Argument(help: "COLLECTION/PATH of the document.") var path: String
    @Option(name: .long, help: "Version number (default: current).") var version: Int?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (collection, inside) = try splitDocumentPath(path)
        guard try context.openCatalog().unpin(collection: collection, path: inside, version: version) else {
            throw NotFound("\(path)\(version.map { " version \($0)" } ?? "") is not pinned")
        }
        print("unpinned \(path)")
    }
}

/// `depot hold add|list|extend|release`: legal holds, governance or compliance.
struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Legal holds on a collection or a document (S3 Object Lock's governance and compliance).",
        discussion: """
            While a hold is in force nothing it covers can be removed (depot rm, the API's DELETE, the \
            retention rules, the trash's purge). governance: an admin may remove or lift with \
            --bypass-governance. compliance: nobody can, until the date; the date can be extended, never shortened.
            """,
        subcommands: [Add.self, List.self, Extend.self, Release.self])

    static func parseUntil(_ until: String?, for duration: String?) throws -> Int64 {
        if let duration {
            guard let d = parseDuration(duration), d > .zero else { throw CommandFailure(.usage, "--for: not a duration: \(duration)") }
            return wallClockNanoseconds() + d.nanosecondsValue
        }
        guard let until else { throw CommandFailure(.usage, "give --until DATE or --for DURATION") }
        guard let t = parseDate(until) else { throw CommandFailure(.usage, "--until: not a date (YYYY-MM-DD or RFC 3339): \(until)") }
        return t
    }

    /// YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ.
    static func parseDate(_ text: String) -> Int64? {
        let digits = text.split(whereSeparator: { "-T:Z".contains($0) }).map { Int($0) }
        guard digits.count == 3 || digits.count == 6, digits.allSatisfy({ $0 != nil }) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(digits[0]! - 1900)
        parts.tm_mon = Int32(digits[1]! - 1)
        parts.tm_mday = Int32(digits[2]!)
        if digits.count == 6 { (parts.tm_hour, parts.tm_min, parts.tm_sec) = (Int32(digits[3]!), Int32(digits[4]!), Int32(digits[5]!)) }
        let seconds = timegm(&parts)
        return seconds < 0 ? nil : Int64(seconds) * 1_000_000_000
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Place a hold on COLLECTION or COLLECTION/PATH.")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "COLLECTION, or COLLECTION/PATH of one document.") var target: String
        @Option(name: .long, help: "governance or compliance.") var mode: String
        @Option(name: .long, help: "Until this date (YYYY-MM-DD, UTC, or RFC 3339).") var until: String?
        @Option(name: .long, help: "For this long from now (e.g. 90d).") var `for`: String?
        @Option(name: .long, help: "Why (a case number).") var reason = ""

        func run() throws {
            guard let holdMode = HoldMode(rawValue: mode) else { throw CommandFailure(.usage, "--mode must be governance or compliance") }
            let date = try HoldCommand.parseUntil(until, for: self.for)
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let collection = String(target.prefix { $0 != "/" })
            let path = target.contains("/") ? String(target.drop { $0 != "/" }.dropFirst()) : nil
            let hold = try context.openCatalog().placeHold(collection: collection, path: path, mode: holdMode, until: date, reason: reason)
            if output.json { try printJSON(hold) } else { print("placed \(hold.description)") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Holds not lifted.")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let holds = try context.openCatalog().holds()
            if output.json { try printJSON(holds); return }
            printTable(["ID", "ON", "MODE", "UNTIL", "REASON"], holds.map {
                ["\($0.id)", $0.collection + ($0.path.map { "/" + $0 } ?? ""), $0.mode.rawValue, $0.until.description, $0.reason]
            })
        }
    }

    struct Extend: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "extend", abstract: "Move a hold's date (later; earlier only for governance with --bypass-governance).")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The hold's id (`depot hold list`).") var id: Int64
        @Option(name: .long, help: "The new date.") var until: String?
        @Option(name: .long, help: "For this long from now.") var `for`: String?
        @Flag(name: .long, help: "Allow shortening a governance hold (admin).") var bypassGovernance = false

        func run() throws {
            let date = try HoldCommand.parseUntil(until, for: self.for)
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let hold = try context.openCatalog().changeHold(id: id, until: date, bypassGovernance: bypassGovernance)
            if output.json { try printJSON(hold) } else { print("now \(hold.description)") }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "release", abstract: "Lift a hold (governance with --bypass-governance; compliance only after its date).")
        @OptionGroup var rootOptions: RootOptions
        @Argument(help: "The hold's id.") var id: Int64
        @Flag(name: .long, help: "Lift a governance hold before its date (admin).") var bypassGovernance = false

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let hold = try context.openCatalog().releaseHold(id: id, bypassGovernance: bypassGovernance)
            print("lifted \(hold.description)")
        }
    }
}
