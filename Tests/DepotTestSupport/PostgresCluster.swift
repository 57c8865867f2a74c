import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` make a cluster
/// in a temp folder, run by an unprivileged user (PostgreSQL refuses to run as root), on a
/// free port and a unix socket in that folder. Started once per test process, on first use;
/// stopped and removed when the process exits.
public final class PostgresCluster: Sendable {
    /// The folder holding the data, the socket and the server's log.
    public let directory: String
    public let port: Int
    let bin: String

    /// The cluster of this test process, started on first use.
    /// - Throws: `TestFailure` saying how to install PostgreSQL when it is not installed.
    public static func shared() throws -> PostgresCluster {
        try started.withLock { state in
            if let cluster = state.cluster { return cluster }
            if let failure = state.failure { throw TestFailure(failure) }
            do {
                let cluster = try PostgresCluster()
                state.cluster = cluster
                atexit { PostgresCluster.stopAtExit() }
                return cluster
            } catch {
                state.failure = "\(error)"
                throw error
            }
        }
    }

    private static let started = Mutex<(cluster: PostgresCluster?, failure: String?)>((nil, nil))
    private static let databases = Atomic<Int>(0)

    private init() throws {
        guard let bin = Self.binaries() else {
            throw TestFailure("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): "
                              + "`make test-deps` installs Debian's postgresql, which the catalog contract suites need")
        }
        self.bin = bin
        var template = Array("/tmp/depot-pg-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        port = freePort()
        // As root, the cluster belongs to `nobody`; otherwise to whoever runs the tests.
        if getuid() == 0 { chown(directory, 65534, 65534) }
        try run(bin + "/initdb", ["-D", directory + "/data", "-U", "depot", "--auth=trust", "-E", "UTF8",
                                  "--locale=C", "--no-sync"])
        // fsync off: the cluster is thrown away, so a crash losing it costs nothing.
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            + "-c full_page_writes=off -c max_connections=300"
        try run(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// The newest PostgreSQL's bin folder in Debian's layout.
    private static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// Runs a PostgreSQL program as the cluster's owner; throws with its output when it fails.
    ///
    /// posix_spawn, not Foundation's Process: Process learns that its child ended from a
    /// descriptor the child inherits, and the server that `pg_ctl start` leaves running
    /// would inherit it too, so that Process would wait for the server's end. Here the child
    /// gets only stdin (/dev/null) and stdout/stderr (a file).
    func run(_ program: String, _ arguments: [String]) throws {
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "nobody", "--", program] + arguments : [program] + arguments
        let outputPath = directory + "/\((program as NSString).lastPathComponent).out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        addCloseFrom(&actions, 3)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw TestFailure("cannot run \(argv[0]): errno \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS are macros: exited normally when the signal bits are 0.
        guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw TestFailure("\((program as NSString).lastPathComponent) failed (status \(status)): \(text)\(log)")
        }
    }

    /// The connection string for `database` on this cluster, over its unix socket.
    public func url(database: String) -> String {
        "host=\(directory) port=\(port) user=depot dbname=\(database)"
    }

    /// The same database over TCP on 127.0.0.1, as a `postgres://` URL (what a config holds).
    public func tcpURL(database: String) -> String {
        "postgres://depot@127.0.0.1:\(port)/\(database)"
    }

    /// A new empty database on the cluster; returns its name.
    public func createDatabase() throws -> String {
        let name = "depot_\(getpid())_\(Self.databases.add(1, ordering: .relaxed).newValue)"
        // CREATE DATABASE cannot run in a transaction, which is all PostgresDatabase opens.
        try run(bin + "/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url(database: "postgres"), "-c", "CREATE DATABASE \(name)"])
        return name
    }

    /// Stops the server at once (the data is thrown away) and removes its folder.
    func stop() {
        try? run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func stopAtExit() {
        started.withLock { $0.cluster?.stop() }
    }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34), which Glibc's module leaves out
/// (it is declared under _GNU_SOURCE only).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
