import CPQ
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection; owns the `PGconn*` and finishes it in deinit.
///
/// Not thread-safe by itself. `@unchecked Sendable` so that the pool can hand it from thread
/// to thread: `PostgresDatabase` gives each connection to one transaction at a time.
final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    let conninfo: String
    /// Where it is, without a password, for messages.
    let location: String

    /// Connects with a libpq connection string or URI ("postgres://user@host:5432/db").
    /// - Throws: `CatalogError.io` when the server cannot be reached or refuses the login.
    init(conninfo: String, location: String) throws {
        self.conninfo = conninfo
        self.location = location
        handle = nil
        try connect()
    }

    deinit { PQfinish(handle) }

    private func connect() throws {
        PQfinish(handle)
        handle = PQconnectdb(conninfo)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw CatalogError(.io, "postgres \(location): cannot connect: \(Self.trimmed(message))")
        }
        cpq_silence_notices(handle)
        // SQLite's busy handler waits up to about 10 s for another writer; a row lock held
        // longer than that is reported the same way (busy, 55P03), not waited for forever.
        // UTC and ISO dates so that nothing depends on the server's settings.
        try executeScript("SET lock_timeout = '10s'; SET TIME ZONE 'UTC'; SET client_min_messages = warning")
    }

    /// Whether the connection is still up; a lost one is connected again (between
    /// transactions only: a transaction whose connection was lost has failed).
    func ensureConnected() throws {
        if let handle, PQstatus(handle) == CONNECTION_OK { return }
        try connect()
    }

    var isBroken: Bool { handle.map { PQstatus($0) != CONNECTION_OK } ?? true }

    /// The connection's socket (-1 when there is none), to wait on for notifications.
    var socketDescriptor: Int32 { handle.map { PQsocket($0) } ?? -1 }

    /// Reads what the server sent without blocking (notifications, after poll said readable).
    func consumeInput() throws {
        guard let handle, PQconsumeInput(handle) == 1 else {
            throw CatalogError(.io, "postgres \(location): connection lost: \(Self.trimmed(handle.map { String(cString: PQerrorMessage($0)) } ?? ""))")
        }
    }

    /// Takes the notifications received so far; returns how many.
    func drainNotifications() -> Int {
        var count = 0
        while let notification = PQnotifies(handle) {
            PQfreemem(notification)
            count += 1
        }
        return count
    }

    /// Runs one or more statements that take no values (DDL, BEGIN, COMMIT).
    func executeScript(_ sql: String) throws {
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, sql)
    }

    /// Runs one statement with `$n` placeholders, the values sent as text, and returns its
    /// rows and how many rows it changed.
    func run(_ sql: String, _ values: [SQLValue]) throws -> (rows: [Row], changed: Int) {
        // Integers and reals are typed (so `? + 1` and `INSERT … SELECT ?` need no cast);
        // text and NULL are left for the server to infer from where they are used.
        var types: [UInt32] = []
        var texts: [UnsafeMutablePointer<CChar>?] = []
        types.reserveCapacity(values.count)
        texts.reserveCapacity(values.count)
        defer { for text in texts { free(text) } }
        for value in values {
            switch value {
            case .null: types.append(0); texts.append(nil)
            case .integer(let v): types.append(Self.int8); texts.append(strdup(String(v)))
            case .real(let v): types.append(Self.float8); texts.append(strdup(Self.format(v)))
            case .text(let v): types.append(0); texts.append(strdup(v))
            }
        }
        let result = texts.withUnsafeBufferPointer { texts in
            texts.withMemoryRebound(to: UnsafePointer<CChar>?.self) { params in
                PQexecParams(handle, sql, Int32(values.count), types, params.baseAddress, nil, nil, 0)
            }
        }
        defer { PQclear(result) }
        try check(result, sql)
        return (Self.rows(result), Int(String(cString: PQcmdTuples(result))) ?? 0)
    }

    private static let int8: UInt32 = 20, float8: UInt32 = 701

    /// A double as text PostgreSQL reads back to the same value.
    private static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return "\(value)"
    }

    /// The rows of a result, each value as the Swift type its column's type maps to.
    private static func rows(_ result: OpaquePointer?) -> [Row] {
        let count = PQntuples(result), columns = PQnfields(result)
        guard count > 0 else { return [] }
        let kinds = (0..<columns).map { ColumnKind(oid: PQftype(result, $0)) }
        var rows: [Row] = []
        rows.reserveCapacity(Int(count))
        for r in 0..<count {
            var row = Row()
            row.values.reserveCapacity(Int(columns))
            for c in 0..<columns {
                if PQgetisnull(result, r, c) == 1 { row.values.append(.null); continue }
                let text = String(cString: PQgetvalue(result, r, c))
                row.values.append(kinds[Int(c)].value(text))
            }
            rows.append(row)
        }
        return rows
    }

    /// How a column's values are read: SQLite's integer, real and text, as callers expect them.
    private enum ColumnKind {
        case integer, real, numeric, boolean, text

        init(oid: UInt32) {
            switch oid {
            case 20, 21, 23, 26: self = .integer     // int8, int2, int4, oid
            case 700, 701: self = .real              // float4, float8
            case 1700: self = .numeric               // numeric: sum() of bigints
            case 16: self = .boolean                 // a comparison's result
            default: self = .text
            }
        }

        func value(_ text: String) -> SQLValue {
            switch self {
            case .integer: return Int64(text).map(SQLValue.integer) ?? .text(text)
            case .real: return Double(text).map(SQLValue.real) ?? .text(text)
            case .numeric:
                if let v = Int64(text) { return .integer(v) }
                return Double(text).map(SQLValue.real) ?? .text(text)
            case .boolean: return .integer(text == "t" ? 1 : 0)
            case .text: return .text(text)
            }
        }
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK { return }
        let state = result.flatMap(cpq_sqlstate).map { String(cString: $0) } ?? ""
        let message = Self.trimmed(result.map { String(cString: PQresultErrorMessage($0)) } ?? "")
        throw Self.error(sqlstate: state, message: message.isEmpty ? Self.trimmed(String(cString: PQerrorMessage(handle))) : message,
                         sql: sql, connectionLost: isBroken)
    }

    /// PostgreSQL's SQLSTATEs as depot's catalog errors (backend-neutral, so that callers can
    /// tell a conflict or a lost server, worth a retry, from a refused statement).
    static func error(sqlstate: String, message: String, sql: String?, connectionLost: Bool) -> CatalogError {
        let text = "postgres error \(sqlstate.isEmpty ? "-" : sqlstate): \(message)" + (sql.map { " (in: \($0.prefix(120)))" } ?? "")
        if connectionLost || sqlstate.hasPrefix("08") || sqlstate.hasPrefix("57P") { return CatalogError(.io, text) }
        switch sqlstate {
        // serialization_failure, deadlock_detected, lock_not_available: another transaction won.
        case "40001", "40P01", "55P03": return CatalogError(.busy, text)
        default: break
        }
        // 23: integrity constraint violations; 53: disk full, out of memory or connections.
        if sqlstate.hasPrefix("23") { return CatalogError(.constraint, text) }
        if sqlstate.hasPrefix("53") || sqlstate.hasPrefix("58") { return CatalogError(.io, text) }
        return CatalogError(.failed, text)
    }

    private static func trimmed(_ message: String) -> String {
        var s = Substring(message)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return s.split(separator: "\n").joined(separator: "; ")
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`; a `?` inside a quoted literal, a quoted
/// name or a comment is text, not a placeholder.
func postgresPlaceholders(_ sql: String) -> String {
    var out = ""
    out.reserveCapacity(sql.utf8.count + 16)
    var n = 0
    var chars = sql.unicodeScalars.makeIterator()
    var pending: Unicode.Scalar? = nil
    func next() -> Unicode.Scalar? {
        if let p = pending { pending = nil; return p }
        return chars.next()
    }
    while let c = next() {
        switch c {
        case "?":
            n += 1
            out += "$\(n)"
        case "'", "\"":
            // A quoted literal or name runs to the matching quote; a doubled quote is one
            // quote inside it and simply toggles twice.
            out.unicodeScalars.append(c)
            while let d = next() {
                out.unicodeScalars.append(d)
                if d == c { break }
            }
        case "-":
            out.unicodeScalars.append(c)
            guard let d = next() else { break }
            if d == "-" {
                out.unicodeScalars.append(d)
                while let e = next() {
                    out.unicodeScalars.append(e)
                    if e == "\n" { break }
                }
            } else {
                pending = d
            }
        case "/":
            out.unicodeScalars.append(c)
            guard let d = next() else { break }
            if d == "*" {
                out.unicodeScalars.append(d)
                var previous: Unicode.Scalar = " "
                while let e = next() {
                    out.unicodeScalars.append(e)
                    if previous == "*" && e == "/" { break }
                    previous = e
                }
            } else {
                pending = d
            }
        default:
            out.unicodeScalars.append(c)
        }
    }
    return out
}
