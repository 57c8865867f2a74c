import DepotCore
import Foundation

/// Moves a catalog from its SQLite file to a PostgreSQL database (`depot migrate`): every
/// table's rows, in batches, each batch committed on the target together with how far the
/// copy got, so that a copy killed at any point carries on where it stopped when run again;
/// then every row compared on both sides, and the target's identity counters advanced past
/// the copied ids.
///
/// It works at the backend's level, on tables it finds (SQLite's `PRAGMA table_list`, the
/// target's `information_schema`), with SQL built from their names: no owner's table is
/// named here (docs/SCALING.md, "Moving an existing catalog"). The target's schema comes from
/// the same migrations as a fresh PostgreSQL catalog's.
///
/// The target remembers which catalog it is a copy of (`catalog_copy`, written before any
/// other table), so a database holding anything else is refused, and so is a partial copy of
/// another catalog.
public final class CatalogCopy {
    public let source: SQLiteDatabase
    public let target: PostgresDatabase
    let migrations: [CatalogMigration]
    /// Rows per batch (one target transaction each).
    public var batchRows = 500

    /// What the copy did, for the command's report.
    public struct TableResult: Sendable, Equatable {
        public var name: String
        public var rows: Int64
    }

    /// - Parameter migrations: every owner's migrations, as the daemon applies them.
    public init(source: SQLiteDatabase, target: PostgresDatabase, migrations: [CatalogMigration]) {
        self.source = source
        self.target = target
        self.migrations = migrations
    }

    /// How the target stood when the copy began.
    public enum Start: Sendable, Equatable {
        /// Empty: the schema was made and the copy begins.
        case fresh
        /// A copy of this catalog begun before (at that time), carried on.
        case resumed(startedAtNs: Int64)
        /// A copy of this catalog that ended before (at that time): checked again.
        case finished(startedAtNs: Int64, finishedAtNs: Int64)
    }

    /// The target's own tables: the copy's marker and progress, and the migrations applied.
    static let bookkeeping: Set<String> = ["catalog_copy", "catalog_copy_tables", "schema_migrations"]

    // MARK: - The whole run

    /// Claims the target (or finds its own partial copy there) and makes its schema.
    /// - Throws: `CatalogCopyError` when the target holds anything but a copy of this catalog.
    public func begin() throws -> Start {
        try source.migrate(migrations)
        let identity = try sourceIdentity()
        let existing = try target.read { tx in try Self.targetTables(tx) }
        let start: Start
        if existing.contains("catalog_copy") {
            let marks = try target.read { tx in
                try tx.query("SELECT source, location, started_at_ns, finished_at_ns FROM catalog_copy")
            }
            guard let mark = marks.first, marks.count == 1 else {
                throw CatalogCopyError(.otherCatalog, "\(target.location) has a catalog_copy table with \(marks.count) rows, not one: "
                                       + "it is not a copy made by depot migrate; give an empty database")
            }
            guard mark.text(0) == identity else {
                throw CatalogCopyError(.otherCatalog, "\(target.location) holds a copy of another catalog (\(mark.text(1)), "
                                       + "not \(source.location)): give an empty database")
            }
            if let finished = mark.optionalInt(3) {
                start = .finished(startedAtNs: mark.int(2), finishedAtNs: finished)
            } else {
                start = .resumed(startedAtNs: mark.int(2))
            }
        } else if !existing.isEmpty {
            let shown = existing.sorted().prefix(5).joined(separator: ", ") + (existing.count > 5 ? ", …" : "")
            let what = existing.contains("schema_migrations") ? "a depot catalog already" : "other tables"
            throw CatalogCopyError(.notEmpty, "\(target.location) is not empty: it holds \(what) (\(existing.count) tables: \(shown)); "
                                   + "depot migrate copies into an empty database only (createdb a new one)")
        } else {
            // The marker first, alone: a copy killed after it is recognised as ours, and one
            // killed before it left nothing behind.
            try target.write { tx in
                try tx.execute("""
                    CREATE TABLE catalog_copy(
                        source TEXT NOT NULL,
                        location TEXT NOT NULL,
                        started_at_ns BIGINT NOT NULL,
                        finished_at_ns BIGINT)
                    """)
                try tx.execute("""
                    CREATE TABLE catalog_copy_tables(
                        name TEXT PRIMARY KEY,
                        last_key TEXT,
                        rows_copied BIGINT NOT NULL DEFAULT 0,
                        done BIGINT NOT NULL DEFAULT 0)
                    """)
                try tx.execute("INSERT INTO catalog_copy(source, location, started_at_ns) VALUES(?, ?, ?)",
                               [.text(identity), .text(source.location), .integer(wallClockNanoseconds())])
            }
            start = .fresh
        }
        try target.migrate(migrations)
        return start
    }

    /// Copies what is not copied yet, table by table (those referred to first).
    /// - Parameters:
    ///   - inBatch: called inside each batch's target transaction, with the batch's number in
    ///     this run (from 1), before it commits.
    ///   - progress: called after each table with its name and its rows on the target.
    public func copy(inBatch: (Int) throws -> Void = { _ in }, progress: (TableResult) -> Void = { _ in }) throws -> [TableResult] {
        let tables = try sameShape()
        var batch = 0
        var results: [TableResult] = []
        for table in tables {
            let state = try target.read { tx in
                try tx.query("SELECT last_key, rows_copied, done FROM catalog_copy_tables WHERE name = ?", [.text(table.name)]).first
            }
            var lastKey = try state?.optionalText(0).map(Self.decodeKey)
            var rows = state?.int(1) ?? 0
            if state?.int(2) != 1 {
                if table.key.isEmpty {
                    // No key to carry on from: the whole table in one transaction, replacing
                    // whatever a killed run left of it.
                    let all = try source.read { tx in try tx.query("SELECT \(table.columnList) FROM \(quoted(table.name))") }
                    batch += 1
                    try target.write { tx in
                        try tx.execute("DELETE FROM \(quoted(table.name))")
                        for chunk in stride(from: 0, to: all.count, by: batchRows) {
                            try insert(Array(all[chunk..<min(all.count, chunk + batchRows)]), into: table, tx)
                        }
                        try saveProgress(table.name, lastKey: nil, rows: Int64(all.count), done: true, tx)
                        try inBatch(batch)
                    }
                    rows = Int64(all.count)
                } else {
                    while true {
                        let page = try sourcePage(table, after: lastKey, limit: batchRows)
                        batch += 1
                        let key = page.last.map { table.keyValues(of: $0) }
                        let copied = rows + Int64(page.count)
                        try target.write { tx in
                            try insert(page, into: table, tx)
                            try saveProgress(table.name, lastKey: key ?? lastKey, rows: copied, done: page.count < batchRows, tx)
                            try inBatch(batch)
                        }
                        lastKey = key ?? lastKey
                        rows = copied
                        if page.count < batchRows { break }
                    }
                }
            }
            let result = TableResult(name: table.name, rows: rows)
            results.append(result)
            progress(result)
        }
        return results
    }

    /// Compares the two sides, table by table: the same number of rows, and each row of the
    /// catalog found on the target, by its key, with the same value in every column.
    /// - Returns: each table with its row count.
    /// - Throws: `CatalogCopyError.mismatch` at the first difference, naming the table and row.
    public func verify() throws -> [TableResult] {
        var results: [TableResult] = []
        for table in try sameShape() {
            let sourceCount = try source.read { tx in try tx.query("SELECT count(*) FROM \(quoted(table.name))")[0].int(0) }
            let targetCount = try target.read { tx in try tx.query("SELECT count(*) FROM \(quoted(table.name))")[0].int(0) }
            guard sourceCount == targetCount else {
                throw CatalogCopyError(.mismatch, "table \(table.name) has \(sourceCount) rows in \(source.location) "
                                       + "but \(targetCount) in \(target.location)" + Self.mismatchAdvice)
            }
            if table.key.isEmpty {
                try compareUnkeyed(table)
            } else {
                var lastKey: [SQLValue]? = nil
                while true {
                    let page = try sourcePage(table, after: lastKey, limit: batchRows)
                    if page.isEmpty { break }
                    try compare(page, table)
                    lastKey = table.keyValues(of: page[page.count - 1])
                    if page.count < batchRows { break }
                }
            }
            results.append(TableResult(name: table.name, rows: sourceCount))
        }
        return results
    }

    /// Sets every identity counter of the target past the highest id its table holds (and
    /// past the highest SQLite ever gave out for an AUTOINCREMENT key), so that new rows never
    /// take a copied id. Never moves a counter back.
    public func advanceCounters() throws {
        let used = try source.read { tx -> [String: Int64] in
            // table_list: schema, name, type, ncol, wr, strict.
            let exists = try tx.query("PRAGMA table_list").contains { $0.text(0) == "main" && $0.text(1) == "sqlite_sequence" }
            guard exists else { return [:] }
            var seen: [String: Int64] = [:]
            for row in try tx.query("SELECT name, seq FROM sqlite_sequence") { seen[row.text(0)] = row.int(1) }
            return seen
        }
        try target.write { tx in
            let identities = try tx.query("""
                SELECT table_name, column_name FROM information_schema.columns
                WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')
                ORDER BY table_name
                """)
            for identity in identities {
                let table = identity.text(0), column = identity.text(1)
                guard let sequence = try tx.query("SELECT pg_get_serial_sequence(?, ?)", [.text(quoted(table)), .text(column)])
                    .first?.optionalText(0) else { continue }
                let highest = try tx.query("SELECT max(\(quoted(column))) FROM \(quoted(table))").first?.optionalInt(0) ?? 0
                let counter = try tx.query("SELECT last_value, is_called FROM \(sequence)")[0]
                let current = counter.int(1) == 1 ? counter.int(0) : 0
                let next = max(highest, used[table] ?? 0, current)
                if next > 0 { try tx.query("SELECT setval(?::regclass, ?, true)", [.text(sequence), .integer(next)]) }
            }
        }
    }

    /// Records on the target that the copy is complete and checked.
    public func finish() throws {
        try target.write { tx in
            _ = try tx.execute("UPDATE catalog_copy SET finished_at_ns = ? WHERE finished_at_ns IS NULL",
                           [.integer(wallClockNanoseconds())])
        }
    }

    static let mismatchAdvice = ": the copy was changed after it was made, or the catalog changed between two runs "
        + "of depot migrate (did depot serve run on it in between?). Nothing was changed; "
        + "to start over, empty the target database (or createdb a new one) and run depot migrate again"

    // MARK: - Shapes of tables

    /// A table as both sides have it: its columns, and the primary key the copy pages by.
    struct Table {
        var name: String
        /// In the catalog's order.
        var columns: [String]
        /// The primary key's columns, in the key's order; empty when the table has none.
        var key: [String]
        /// Tables its foreign keys refer to.
        var refersTo: Set<String>

        var columnList: String { columns.map(quoted).joined(separator: ", ") }
        var keyList: String { key.map(quoted).joined(separator: ", ") }
        var keyIndices: [Int] { key.map { k in columns.firstIndex(of: k)! } }

        func keyValues(of row: Row) -> [SQLValue] { keyIndices.map { row.values[$0] } }
    }

    /// The catalog's tables (its own `sqlite_` ones and the migrations' record left out),
    /// each after those it refers to.
    func sourceTables() throws -> [Table] {
        let tables = try source.read { tx -> [Table] in
            let names = try tx.query("PRAGMA table_list").filter { $0.text(0) == "main" && $0.text(2) == "table" }.map { $0.text(1) }
            return try names.filter { !$0.hasPrefix("sqlite_") && !Self.bookkeeping.contains($0) }.sorted().map { name in
                // table_info: cid, name, type, notnull, dflt_value, pk (its place in the key, 0: not in it).
                let info = try tx.query("PRAGMA table_info(\(quoted(name)))")
                let key = info.filter { $0.int(5) > 0 }.sorted { $0.int(5) < $1.int(5) }.map { $0.text(1) }
                // foreign_key_list: id, seq, table, from, to, …
                let refers = try tx.query("PRAGMA foreign_key_list(\(quoted(name)))").map { $0.text(2) }
                return Table(name: name, columns: info.map { $0.text(1) }, key: key, refersTo: Set(refers).subtracting([name]))
            }
        }
        // Kahn's order, by name among equals, so that every run copies in the same order.
        var ordered: [Table] = []
        var remaining = tables
        while !remaining.isEmpty {
            let placed = Set(ordered.map(\.name))
            let known = Set(tables.map(\.name))
            guard let next = remaining.firstIndex(where: { $0.refersTo.intersection(known).isSubset(of: placed) }) else {
                throw CatalogCopyError(.schemaDiffers, "the foreign keys of \(remaining.map(\.name).joined(separator: ", ")) "
                                       + "refer to each other in a circle: no order to copy them in")
            }
            ordered.append(remaining.remove(at: next))
        }
        return ordered
    }

    /// The names of the tables in the target's schema.
    static func targetTables(_ tx: any CatalogTransaction) throws -> Set<String> {
        Set(try tx.query("""
            SELECT table_name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            """).map { $0.text(0) })
    }

    /// The catalog's tables, checked to be the target's too, with the same columns.
    /// - Throws: `CatalogCopyError.schemaDiffers` naming the first difference.
    func sameShape() throws -> [Table] {
        let tables = try sourceTables()
        let targetColumns = try target.read { tx -> [String: Set<String>] in
            var columns: [String: Set<String>] = [:]
            for row in try tx.query("""
                SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()
                """) {
                columns[row.text(0), default: []].insert(row.text(1))
            }
            return columns
        }
        let targetNames = Set(targetColumns.keys).subtracting(Self.bookkeeping)
        let sourceNames = Set(tables.map(\.name))
        let problem = " (the two sides' schemas differ: is this the depot version that made the copy?)"
        if let extra = targetNames.subtracting(sourceNames).sorted().first {
            throw CatalogCopyError(.schemaDiffers, "\(target.location) has a table \(extra) that \(source.location) has not" + problem)
        }
        if let missing = sourceNames.subtracting(targetNames).sorted().first {
            throw CatalogCopyError(.schemaDiffers, "\(source.location) has a table \(missing) that \(target.location) has not" + problem)
        }
        for table in tables where Set(table.columns) != targetColumns[table.name] {
            let theirs = targetColumns[table.name] ?? []
            let differing = Set(table.columns).symmetricDifference(theirs).sorted().joined(separator: ", ")
            throw CatalogCopyError(.schemaDiffers, "table \(table.name) differs in its columns (\(differing))" + problem)
        }
        return tables
    }

    /// Where a catalog was made: its first migration's name and time, which no other
    /// catalog shares (and which later migrations leave alone).
    func sourceIdentity() throws -> String {
        try source.read { tx in
            guard let first = try tx.query("SELECT name, applied_at_ns FROM schema_migrations ORDER BY applied_at_ns, name LIMIT 1").first else {
                throw CatalogCopyError(.schemaDiffers, "\(source.location) has no migrations recorded: it is not a depot catalog")
            }
            return "sqlite:\(first.text(0))@\(first.int(1))"
        }
    }

    // MARK: - Rows

    /// Up to `limit` rows of the catalog after `key` (from the first when nil), in key order.
    func sourcePage(_ table: Table, after key: [SQLValue]?, limit: Int) throws -> [Row] {
        try source.read { tx in
            if let key {
                let marks = Array(repeating: "?", count: key.count).joined(separator: ", ")
                return try tx.query("SELECT \(table.columnList) FROM \(quoted(table.name)) WHERE (\(table.keyList)) > (\(marks)) "
                                    + "ORDER BY \(table.keyList) LIMIT \(limit)", key)
            }
            return try tx.query("SELECT \(table.columnList) FROM \(quoted(table.name)) ORDER BY \(table.keyList) LIMIT \(limit)")
        }
    }

    /// Writes rows to the target: a row whose key is there already is made equal to the
    /// catalog's (a run killed before its commit left nothing; one after left the same rows).
    func insert(_ rows: [Row], into table: Table, _ tx: any CatalogTransaction) throws {
        guard !rows.isEmpty else { return }
        let width = table.columns.count
        // At most 65535 values a statement (PostgreSQL's limit on parameters).
        let perStatement = max(1, min(rows.count, 60_000 / max(1, width)))
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let chunk = rows[start..<min(rows.count, start + perStatement)]
            let tuple = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
            var sql = "INSERT INTO \(quoted(table.name)) (\(table.columnList)) VALUES "
                + Array(repeating: tuple, count: chunk.count).joined(separator: ", ")
            if !table.key.isEmpty {
                let others = table.columns.filter { !table.key.contains($0) }
                sql += others.isEmpty ? " ON CONFLICT (\(table.keyList)) DO NOTHING"
                    : " ON CONFLICT (\(table.keyList)) DO UPDATE SET "
                        + others.map { "\(quoted($0)) = excluded.\(quoted($0))" }.joined(separator: ", ")
            }
            try tx.execute(sql, chunk.flatMap(\.values))
        }
    }

    func saveProgress(_ name: String, lastKey: [SQLValue]?, rows: Int64, done: Bool, _ tx: any CatalogTransaction) throws {
        try tx.execute("""
            INSERT INTO catalog_copy_tables(name, last_key, rows_copied, done) VALUES(?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET last_key = excluded.last_key, rows_copied = excluded.rows_copied, done = excluded.done
            """, [.text(name), .string(try lastKey.map(Self.encodeKey)), .integer(rows), .integer(done ? 1 : 0)])
    }

    /// Looks up a page of the catalog's rows on the target by their keys and compares them.
    func compare(_ page: [Row], _ table: Table) throws {
        let tuple = table.key.count == 1 ? "?" : "(" + Array(repeating: "?", count: table.key.count).joined(separator: ", ") + ")"
        let keyExpression = table.key.count == 1 ? quoted(table.key[0]) : "(\(table.keyList))"
        let theirs = try target.read { tx in
            try tx.query("SELECT \(table.columnList) FROM \(quoted(table.name)) WHERE \(keyExpression) IN ("
                         + Array(repeating: tuple, count: page.count).joined(separator: ", ") + ")",
                         page.flatMap { table.keyValues(of: $0) })
        }
        var byKey: [[SQLValue]: Row] = [:]
        for row in theirs { byKey[table.keyValues(of: row).map(Self.comparable)] = row }
        for row in page {
            let key = table.keyValues(of: row)
            guard let other = byKey[key.map(Self.comparable)] else {
                throw CatalogCopyError(.mismatch, "table \(table.name): the row \(Self.describe(table.key, key)) "
                                       + "is missing from \(target.location)" + Self.mismatchAdvice)
            }
            for (i, column) in table.columns.enumerated() where Self.comparable(row.values[i]) != Self.comparable(other.values[i]) {
                throw CatalogCopyError(.mismatch, "table \(table.name), row \(Self.describe(table.key, key)): \(column) is "
                                       + "\(Self.describe(row.values[i])) in \(source.location) but \(Self.describe(other.values[i])) "
                                       + "in \(target.location)" + Self.mismatchAdvice)
            }
        }
    }

    /// A table without a key: both sides' rows as multisets.
    func compareUnkeyed(_ table: Table) throws {
        let select = "SELECT \(table.columnList) FROM \(quoted(table.name))"
        let mine = try source.read { tx in try tx.query(select) }.map { $0.values.map(Self.comparable) }
        let theirs = try target.read { tx in try tx.query(select) }.map { $0.values.map(Self.comparable) }
        var counts: [[SQLValue]: Int] = [:]
        for row in mine { counts[row, default: 0] += 1 }
        for row in theirs { counts[row, default: 0] -= 1 }
        if let differing = counts.first(where: { $0.value != 0 }) {
            throw CatalogCopyError(.mismatch, "table \(table.name): the row (\(differing.key.map(Self.describe).joined(separator: ", "))) "
                                   + "is not the same number of times on both sides" + Self.mismatchAdvice)
        }
    }

    /// A value as both sides compare it: a whole-number real is the integer SQLite may have
    /// stored for it.
    static func comparable(_ value: SQLValue) -> SQLValue {
        if case .real(let v) = value, v.rounded() == v, abs(v) < 9e15 { return .integer(Int64(v)) }
        return value
    }

    static func describe(_ columns: [String], _ values: [SQLValue]) -> String {
        zip(columns, values).map { "\($0) = \(describe($1))" }.joined(separator: ", ")
    }

    static func describe(_ value: SQLValue) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let v): return "\(v)"
        case .real(let v): return "\(v)"
        case .text(let v): return "'" + (v.count > 60 ? String(v.prefix(60)) + "…" : v) + "'"
        }
    }

    /// A key as the progress table keeps it: each value with its type ("i42", "tabc", "r1.5", "n").
    static func encodeKey(_ key: [SQLValue]) throws -> String {
        let parts = key.map { value -> String in
            switch value {
            case .null: return "n"
            case .integer(let v): return "i\(v)"
            case .real(let v): return "r\(v)"
            case .text(let v): return "t" + v
            }
        }
        return String(decoding: try JSONEncoder().encode(parts), as: UTF8.self)
    }

    static func decodeKey(_ text: String) throws -> [SQLValue] {
        try JSONDecoder().decode([String].self, from: Data(text.utf8)).map { part in
            let rest = String(part.dropFirst())
            switch part.first {
            case "i": if let v = Int64(rest) { return .integer(v) }
            case "r": if let v = Double(rest) { return .real(v) }
            case "t": return .text(rest)
            case "n": return .null
            default: break
            }
            throw CatalogCopyError(.mismatch, "the copy's progress holds a key it cannot read (\(text))" + mismatchAdvice)
        }
    }
}


/// A table's or column's name quoted for SQL ("name", a quote inside doubled).
func quoted(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Why `depot migrate` stopped.
public struct CatalogCopyError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// The target holds tables that are not a copy of this catalog.
        case notEmpty
        /// The target holds a copy, begun or done, of another catalog.
        case otherCatalog
        /// The two sides' tables or columns differ.
        case schemaDiffers
        /// A row differs between the two sides.
        case mismatch
    }

    public let value: Value
    public let message: String

    public init(_ value: Value, _ message: String) {
        self.value = value
        self.message = message
    }

    public var description: String { message }
}
