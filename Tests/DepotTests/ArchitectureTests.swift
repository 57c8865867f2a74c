import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// Who holds SQL for which table: read from the sources themselves.
struct SQLOwnership {
    /// A piece of SQL that names a table outside its module's own.
    struct Violation: CustomStringConvertible, Equatable {
        var file: String
        var module: String
        var table: String
        var sql: String
        var description: String { "\(file) (\(module)) names table '\(table)': \(sql.prefix(80))" }
    }

    /// Table → the module (folder under Sources/) whose migration creates it.
    var owners: [String: String] = [:]
    var violations: [Violation] = []

    /// Tables of the database backend itself, not of any owner's API: the migrations applied,
    /// and the databases' own catalogs, which `CatalogCopy` reads to find every table.
    static let backendTables: Set<String> = ["schema_migrations", "sqlite_sequence", "information_schema"]
    /// Words after FROM/JOIN/… that are SQL, not tables.
    /// (`unnest`: PostgreSQL's array-to-rows function, as in `FROM unnest(?::int4[])`.)
    static let notTables: Set<String> = ["excluded", "select", "values", "not", "exists", "the", "a", "unnest"]

    init(files: [(path: String, module: String, text: String)]) {
        let literals = files.map { ($0.path, $0.module, Self.stringLiterals(in: $0.text)) }
        for (_, module, strings) in literals {
            for text in strings {
                for table in Self.matches(#"CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)"#, in: text) {
                    owners[table] = owners[table] ?? module
                }
            }
        }
        for (path, module, strings) in literals {
            for raw in strings where Self.looksLikeSQL(raw) {
                let text = raw.replacingOccurrences(of: "IF NOT EXISTS ", with: "").replacingOccurrences(of: "IF EXISTS ", with: "")
                let named = Self.matches(#"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_][a-z0-9_]*)"#, in: text)
                    + Self.matches(#"\bINDEX\s+[a-z_0-9]+\s+ON\s+([a-z_][a-z0-9_]*)"#, in: text)
                for table in Set(named) where !Self.notTables.contains(table) {
                    let owner = Self.backendTables.contains(table) ? "DepotStore" : owners[table]
                    if owner != module { violations.append(Violation(file: path, module: module, table: table, sql: text)) }
                }
                // Peeking at another owner's columns, or at what tables exist, is the backend's alone.
                if (text.contains("pragma_table_info") || text.contains("sqlite_master")) && module != "DepotStore" {
                    violations.append(Violation(file: path, module: module, table: "sqlite_master", sql: text))
                }
            }
        }
    }

    /// Reads every Swift file under Sources/.
    static func ofRepository(_ root: String = repositoryRoot) throws -> SQLOwnership {
        var files: [(String, String, String)] = []
        let sources = root + "/Sources"
        let walker = FileManager.default.enumerator(atPath: sources)
        while let relative = walker?.nextObject() as? String {
            guard relative.hasSuffix(".swift") else { continue }
            let module = String(relative.split(separator: "/")[0])
            files.append((relative, module, try readTextFile(sources + "/" + relative)))
        }
        return SQLOwnership(files: files)
    }

    static func looksLikeSQL(_ text: String) -> Bool {
        !matches(#"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH|PRAGMA)\b"#, in: text).isEmpty
            || !matches(#"\b(SELECT [^\n]* FROM|INSERT INTO|DELETE FROM|UPDATE [a-z_]+ SET)\b"#, in: text).isEmpty
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines]) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).compactMap { match in
            let r = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
            return Range(r, in: text).map { String(text[$0]) }
        }
    }

    /// The contents of the string literals of a Swift source (single-line, multi-line and raw),
    /// comments skipped: SQL lives in literals, and a comment may say "FROM" in prose.
    static func stringLiterals(in source: String) -> [String] {
        let s = Array(source.unicodeScalars)
        var result: [String] = []
        var i = 0
        func at(_ k: Int, _ text: String) -> Bool {
            let t = Array(text.unicodeScalars)
            return k + t.count <= s.count && Array(s[k..<k + t.count]) == t
        }
        while i < s.count {
            if at(i, "//") {
                while i < s.count && s[i] != "\n" { i += 1 }
            } else if at(i, "/*") {
                i += 2
                while i < s.count && !at(i, "*/") { i += 1 }
                i += 2
            } else if s[i] == "#" || s[i] == "\"" {
                var hashes = 0
                var k = i
                while k < s.count && s[k] == "#" { hashes += 1; k += 1 }
                guard k < s.count, s[k] == "\"" else { i = k + (hashes == 0 ? 1 : 0); continue }
                let multi = at(k, "\"\"\"")
                let open = multi ? 3 : 1
                let close = String(repeating: "\"", count: open) + String(repeating: "#", count: hashes)
                var j = k + open
                var text = String.UnicodeScalarView()
                while j < s.count && !at(j, close) {
                    if s[j] == "\\" && hashes == 0 { text.append(s[j]); j += 1 }
                    if j < s.count { text.append(s[j]) }
                    j += 1
                    if !multi && j < s.count && s[j] == "\n" { break }
                }
                result.append(String(text))
                i = j + close.unicodeScalars.count
            } else {
                i += 1
            }
        }
        return result
    }
}

@Suite struct ArchitectureTests {
    /// Each table has one owning module, and only it holds SQL for it: the queue the jobs, the
    /// store every other table (the catalog's, and the links, tokens, dispatch cursor and
    /// webhook deliveries the HTTP server and the outbox keep through its API). Everyone else
    /// calls the owners' typed APIs.
    @Test func noSQLOutsideTheOwnerOfItsTable() throws {
        let ownership = try SQLOwnership.ofRepository()
        #expect(ownership.violations.isEmpty, "\(ownership.violations.map(\.description).joined(separator: "\n"))")
        let expected: [String: String] = [
            "collections": "DepotStore", "blobs": "DepotStore", "documents": "DepotStore", "versions": "DepotStore",
            "tags": "DepotStore", "document_tags": "DepotStore", "events": "DepotStore", "artifacts": "DepotStore",
            "schema_migrations": "DepotStore",
            "jobs": "DepotQueue", "jobs_new": "DepotQueue", "job_dependencies": "DepotQueue", "job_version_status": "DepotQueue",
            "outbox_cursor": "DepotStore", "webhook_deliveries": "DepotStore",
            "http_tokens": "DepotStore", "http_links": "DepotStore", "upload_links": "DepotStore", "uploads": "DepotStore",
            "gc_marks": "DepotStore", "storage_samples": "DepotStore", "pins": "DepotStore", "holds": "DepotStore",
            "scrub_state": "DepotStore", "mirror_missing": "DepotStore", "gc_removals": "DepotStore",
            "analytics_rollups": "DepotStore", "analytics_cursor": "DepotStore", "nodes": "DepotStore",
            "catalog_copy": "DepotStore", "catalog_copy_tables": "DepotStore",
        ]
        #expect(ownership.owners == expected)
    }

    /// The check itself: SQL naming another owner's table, in a literal of any form, is found;
    /// the same words in a comment or in prose are not.
    @Test func theOwnershipCheckFindsWhatItLooksFor() {
        let store = #"let s = "CREATE TABLE IF NOT EXISTS versions(id INTEGER)""#
        let queue = "let q = \"\"\"\n    CREATE TABLE jobs(id INTEGER);\n    \"\"\""
        let http = """
            // SELECT id FROM jobs — a comment, not SQL.
            let a = "SELECT id FROM http_links"
            let b = #"SELECT j.id FROM jobs j JOIN versions v ON v.id = j.version_id"#
            let c = "Update the jobs from the queue"
            let d = "CREATE TABLE http_links(id TEXT)"
            """
        let ownership = SQLOwnership(files: [("a.swift", "DepotStore", store), ("b.swift", "DepotQueue", queue),
                                             ("c.swift", "DepotHTTP", http)])
        #expect(ownership.owners == ["versions": "DepotStore", "jobs": "DepotQueue", "http_links": "DepotHTTP"])
        #expect(Set(ownership.violations.map(\.table)) == ["jobs", "versions"])
        #expect(ownership.violations.allSatisfy { $0.file == "c.swift" })
        let peeking = SQLOwnership(files: [("o.swift", "DepotOutbox", #"let x = "SELECT name FROM pragma_table_info('jobs')""#)])
        #expect(peeking.violations.contains { $0.table == "sqlite_master" })
    }

    /// Test targets mirror the source targets: every library target has its own.
    @Test func everySourceTargetHasATestTarget() throws {
        let sources = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Sources")
            .filter { $0.hasPrefix("Depot") }
        let tests = Set(try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Tests"))
        for target in sources {
            #expect(tests.contains(target + "Tests"), "no test target for \(target)")
        }
    }
}
