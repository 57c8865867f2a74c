import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// An error from SQLite, with its result code and message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        if let sql { return "sqlite error \(code): \(message) (in: \(sql.prefix(120)))" }
        return "sqlite error \(code): \(message)"
    }

    /// The database is locked by another connection past the busy timeout.
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
}

/// One SQLite connection; owns the `sqlite3*` handle and closes it in deinit.
///
/// Not thread-safe by itself. `@unchecked Sendable` so that it can live in a `Mutex`:
/// `SQLiteCatalog` hands it out only inside its lock, and a connection opened elsewhere must
/// stay with one thread.
public final class SQLiteConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if needed) the database at `path`; ":memory:" for an in-memory one.
    public init(path: String, readOnly: Bool = false) throws {
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        if rc != SQLITE_OK {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "\(path): \(message)", sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_handler(db, waitBriefly, nil)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return nothing.
    public func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, sql) }
    }

    /// Runs a statement with bound values and returns every row.
    @discardableResult
    public func query(_ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
        let statement = try prepared(sql)
        defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = csqlite_bind_text(statement, index, v, -1)
            }
            if rc != SQLITE_OK { throw error(rc, sql) }
        }
        var rows: [Row] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            var row = Row()
            let count = sqlite3_column_count(statement)
            row.values.reserveCapacity(Int(count))
            for c in 0..<count {
                switch sqlite3_column_type(statement, c) {
                case SQLITE_INTEGER: row.values.append(.integer(sqlite3_column_int64(statement, c)))
                case SQLITE_FLOAT: row.values.append(.real(sqlite3_column_double(statement, c)))
                case SQLITE_NULL: row.values.append(.null)
                default:
                    let text = sqlite3_column_text(statement, c).map { String(cString: $0) } ?? ""
                    row.values.append(.text(text))
                }
            }
            rows.append(row)
        }
        return rows
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` in one transaction (BEGIN IMMEDIATE: the write lock is taken up front so
    /// that two writers never deadlock on an upgrade); rolls back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        statements[sql] = statement
        return statement
    }
}

/// The busy handler: while another connection holds the write lock, try again every 0.2 ms,
/// for up to about 10 s. (SQLite's own busy timeout sleeps in steps growing to 100 ms, so a
/// writer whose lock frees after 1 ms could sleep 100 ms: the ingest's latency tail.)
private let waitBriefly: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32 = { _, attempts in
    guard attempts < 50_000 else { return 0 }
    usleep(200)
    return 1
}

/// A value bound to or read from SQLite.
public enum SQLValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// One result row.
public struct Row: Sendable {
    public var values: [SQLValue] = []

    public func int(_ i: Int) -> Int64 {
        if case .integer(let v) = values[i] { return v }
        return 0
    }

    public func optionalInt(_ i: Int) -> Int64? {
        if case .integer(let v) = values[i] { return v }
        return nil
    }

    public func text(_ i: Int) -> String {
        if case .text(let v) = values[i] { return v }
        return ""
    }
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
}
