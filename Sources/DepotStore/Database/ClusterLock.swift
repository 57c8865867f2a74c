import Foundation
import Synchronization

/// Work that must run in one process at a time among all those sharing a catalog database —
/// the webhook and outbox dispatcher (issue 18) — takes one of these. `hold()` is asked before
/// every round of that work: it takes the lock when it is free and otherwise confirms that this
/// process still holds it. A process that dies loses it without saying anything, so that
/// another takes over.
public protocol ClusterLock: AnyObject, Sendable {
    /// True while this process holds the lock (taken now, or still held); false when another
    /// process holds it or the database cannot be reached (then the work must not run).
    func hold() -> Bool
    /// Lets the lock go (at a graceful stop), so another process takes over at once.
    func release()
}

/// The lock of a catalog only one daemon uses: SQLite's file under one root, whose
/// `serve.lock` already keeps a second daemon out. Always held.
final class SingleMachineLock: ClusterLock {
    func hold() -> Bool { true }
    func release() {}
}

extension SQLiteDatabase {
    public func clusterLock(named name: String) -> any ClusterLock { SingleMachineLock() }
}

/// A PostgreSQL session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own,
/// outside the pool. The server releases it when the session ends — when the process holding
/// it dies, its connection closes and the next `hold()` elsewhere gets it. A session the
/// server cannot see end (a machine that froze or was cut off) is ended by the server's
/// `idle_session_timeout`, set on this connection only: the holder asks every round, so a
/// silence of `sessionTimeout` means it is gone. The holder learns that it lost the lock
/// when its next check fails (connection gone), and stops.
final class PostgresSessionLock: ClusterLock, @unchecked Sendable {
    // @unchecked: `state` is behind a Mutex; the connection is used only under it.
    private struct State {
        var connection: PostgresConnection?
        var held = false
    }
    private let state = Mutex(State())
    private let conninfo: String
    private let location: String
    /// The 64-bit key, from the lock's name: depot's locks are apart from other users'.
    let key: Int64
    let sessionTimeout: Duration

    init(conninfo: String, location: String, name: String, sessionTimeout: Duration) {
        self.conninfo = conninfo
        self.location = location
        self.key = Self.key(for: "depot:" + name)
        self.sessionTimeout = sessionTimeout
    }

    /// FNV-1a of the name: stable across builds and machines (Swift's `hashValue` is not).
    static func key(for name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    func hold() -> Bool {
        state.withLock { state in
            do {
                if state.held, let connection = state.connection, !connection.isBroken {
                    // Still ours as long as the session lives; a query tells whether it does.
                    _ = try connection.run("SELECT 1", [])
                    return true
                }
                state.held = false
                if state.connection == nil || state.connection!.isBroken {
                    let connection = try PostgresConnection(conninfo: conninfo, location: location)
                    let ms = max(1000, Int64(sessionTimeout.components.seconds) * 1000)
                    // Best effort: a server before 14 has no idle_session_timeout.
                    try? connection.executeScript("SET idle_session_timeout = \(ms)")
                    state.connection = connection
                }
                let row = try state.connection!.run("SELECT pg_try_advisory_lock($1)", [.integer(key)]).rows.first
                state.held = row?.int(0) == 1
                return state.held
            } catch {
                state.held = false
                state.connection = nil
                return false
            }
        }
    }

    func release() {
        state.withLock { state in
            if state.held, let connection = state.connection, !connection.isBroken {
                _ = try? connection.run("SELECT pg_advisory_unlock($1)", [.integer(key)])
            }
            state.held = false
            state.connection = nil
        }
    }

    /// The server process of the lock's session (for tests that end it as a failure would).
    var backendPID: Int64? {
        state.withLock { state in
            guard let connection = state.connection else { return nil }
            return try? connection.run("SELECT pg_backend_pid()", []).rows.first?.int(0)
        }
    }
}

extension PostgresDatabase {
    /// A lock whose holder's session the server ends after 60 s of silence.
    public func clusterLock(named name: String) -> any ClusterLock {
        clusterLock(named: name, sessionTimeout: .seconds(60))
    }

    /// - Parameter sessionTimeout: how long the server keeps the lock of a holder that went
    ///   silent (its machine froze or was cut off) before another may take it.
    public func clusterLock(named name: String, sessionTimeout: Duration) -> any ClusterLock {
        PostgresSessionLock(conninfo: conninfo, location: location, name: name, sessionTimeout: sessionTimeout)
    }
}
