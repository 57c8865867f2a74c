import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection; owns the `sqlite3*` handle and closes it in deinit.
///
/// Not thread-safe by itself. `@unchecked Sendable` so that it can live in a `Mutex`:
/// `SQLiteDatabase` hands it out only inside its lock.
final class SQLiteConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    let path: String

    /// Opens (creating if needed) the database at `path`; ":memory:" for an in-memory one.
    init(path: String) throws {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        if rc != SQLITE_OK {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw Self.error(rc, "\(path): \(message)", sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_handler(db, waitBriefly, nil)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// SQLite's result codes as depot's catalog errors (backend-neutral, so callers can tell
    /// a busy or full database, worth a retry, from a refused statement).
    static func error(_ rc: Int32, _ message: String, sql: String?) -> CatalogError {
        let text = "sqlite error \(rc): \(message)" + (sql.map { " (in: \($0.prefix(120)))" } ?? "")
        switch rc & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED: return CatalogError(.busy, text)
        case SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY: return CatalogError(.io, text)
        case SQLITE_CONSTRAINT: return CatalogError(.constraint, text)
        default: return CatalogError(.failed, text)
        }
    }

    func error(_ rc: Int32, _ sql: String?) -> CatalogError {
        Self.error(rc, String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return nothing and take no values.
    func executeScript(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, sql) }
    }

    /// Runs a statement with bound values and returns every row.
    @discardableResult
    func query(_ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
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

    var changes: Int { Int(sqlite3_changes(handle)) }

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
