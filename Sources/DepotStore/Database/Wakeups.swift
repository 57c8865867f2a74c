import CPQ
import DepotCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Wake-ups between the writers and the idle waiters of one catalog: a transaction says
/// `notify("jobs_ready")`, and once it commits, whoever waits on
/// `database.wakeups("jobs_ready")` wakes — in this process on SQLite (the only one that
/// writes a root's catalog, beside its CLI), in every process of every node on PostgreSQL
/// (`NOTIFY`, sent with the commit, and a `LISTEN` connection per database). Waking is all
/// it does; waiters still poll, rarely, for what no one announces (a retry's time coming).
enum LocalWakeups {
    private static let signals = Mutex<[String: CommitSignal]>([:])

    /// The signal of `channel` on the database at `location`.
    static func signal(location: String, channel: String) -> CommitSignal {
        signals.withLock { table in
            let key = location + "\u{0}" + channel
            if let signal = table[key] { return signal }
            let signal = CommitSignal()
            table[key] = signal
            return signal
        }
    }
}

/// A channel name both backends take as is: PostgreSQL's NOTIFY/LISTEN want an identifier.
func checkChannel(_ channel: String) throws {
    guard !channel.isEmpty, channel.count <= 63, channel.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
        throw CatalogError(.failed, "'\(channel)' is not a wake-up channel (a-z, 0-9, _)")
    }
}

extension SQLiteDatabase {
    public func wakeups(_ channel: String) -> CommitSignal {
        LocalWakeups.signal(location: location, channel: channel)
    }
}

extension PostgresDatabase {
    /// Wakes on every `NOTIFY channel` on this database, from any process: its own listener
    /// connection, started on first use and connected again when lost (with one wake then,
    /// since a notification may have been missed meanwhile).
    public func wakeups(_ channel: String) -> CommitSignal {
        listeners.withLock { table in
            if let listener = table[channel] { return listener.signal }
            let listener = PostgresListener(conninfo: conninfo, location: location, channel: channel)
            table[channel] = listener
            listener.start()
            return listener.signal
        }
    }
}

/// One `LISTEN` session on a thread of its own: it sleeps in poll(2) on the connection's
/// socket and signals `signal` for every notification that arrives. It lives as long as the
/// process (a daemon's runner waits on it until the end).
final class PostgresListener: @unchecked Sendable {
    // @unchecked: the connection is used by the listener's thread only.
    let signal = CommitSignal()
    let conninfo: String
    let location: String
    let channel: String
    private let stopped = Atomic<Bool>(false)

    init(conninfo: String, location: String, channel: String) {
        self.conninfo = conninfo
        self.location = location
        self.channel = channel
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "depot-listen-\(channel)"
        thread.start()
    }

    /// Ends the session at its next second (the thread then returns).
    func stop() { stopped.store(true, ordering: .relaxed) }

    private var running: Bool { !stopped.load(ordering: .relaxed) }

    private func run() {
        var failures = 0
        while running {
            do {
                let connection = try PostgresConnection(conninfo: conninfo, location: location)
                try connection.executeScript("LISTEN \(channel)")
                // Listening from now on: whatever was announced before it is looked for by
                // the waiters' next poll, which a wake makes now.
                signal.signal()
                failures = 0
                var quiet = 0
                while running {
                    if try connection.awaitNotifications(timeoutMilliseconds: 1000) > 0 {
                        signal.signal()
                        quiet = 0
                    } else {
                        quiet += 1
                        // A server that went away without closing the socket shows here.
                        if quiet % 30 == 0 { try connection.executeScript("SELECT 1") }
                    }
                }
            } catch {
                failures += 1
                usleep(UInt32(min(5_000_000, 100_000 << min(failures, 6))))
            }
        }
    }
}

extension PostgresConnection {
    /// Waits up to `timeoutMilliseconds` for notifications on this (listening) connection;
    /// returns how many arrived.
    /// - Throws: `CatalogError.io` when the connection is lost.
    func awaitNotifications(timeoutMilliseconds: Int32) throws -> Int {
        var count = drainNotifications()
        if count > 0 { return count }
        let fd = socketDescriptor
        guard fd >= 0 else { throw CatalogError(.io, "postgres \(location): no connection to listen on") }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { throw SystemError(call: "poll", errno: errno, path: location) }
        if ready > 0 {
            try consumeInput()
            count = drainNotifications()
        }
        return count
    }
}
