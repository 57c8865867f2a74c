import DepotCore
import DepotCurl
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A real S3 server for the tests: moto's standalone server (PyPI `moto[server]`, which the
/// Makefile's test-deps install), started once per test process on a free port of 127.0.0.1
/// with signature checking on (docs/DECISIONS.md, "S3-compatible blobs"). It dies with the
/// test process. Tests that need it fail — never skip — when it cannot start.
public final class TestS3Server: Sendable {
    public let endpoint: String
    public let port: UInt16
    /// An IAM user's key, created in the server before it starts checking signatures.
    public let credentials: S3Credentials
    private let process: Process?

    /// The server of this test process.
    public static func shared() throws -> TestS3Server {
        try started.get()
    }

    private static let started: Result<TestS3Server, any Error> = Result { try TestS3Server(checked: true) }

    /// A second server of this test process that checks no signature, for what moto does only
    /// that way: it answers presigned URLs (query-string auth) only with its checks off (with
    /// them on, it fails them with a 500), and then ignores their `response-*` overrides.
    public static func unchecked() throws -> TestS3Server {
        try startedUnchecked.get()
    }

    private static let startedUnchecked: Result<TestS3Server, any Error> = Result { try TestS3Server(checked: false) }

    /// Where moto's server is: on PATH (pip's scripts), else Debian python's module.
    static func command() -> [String]? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/bin"
        for folder in path.split(separator: ":") where access("\(folder)/moto_server", X_OK) == 0 {
            return ["\(folder)/moto_server"]
        }
        if (try? python("import moto.server")) != nil { return [debianPython, "-m", "moto.server"] }
        return nil
    }

    private init(checked: Bool) throws {
        guard let command = Self.command() else {
            throw TestFailure("no S3 server for the tests: moto_server is not installed (run `make test-deps`, which installs PyPI's moto[server])")
        }
        let port = UInt16(freePort())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: debianPython)
        // A watchdog between the test process and the server: the server goes when we do,
        // however we end.
        process.arguments = ["-c", """
            import os, subprocess, sys, time
            parent = os.getppid()
            child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while child.poll() is None:
                if os.getppid() != parent:
                    child.kill()
                    break
                time.sleep(0.2)
            """] + command + ["-H", "127.0.0.1", "-p", String(port)]
        var environment = ProcessInfo.processInfo.environment
        // The first three actions (the IAM user, its key, its policy) are allowed unsigned;
        // every request after them has its SigV4 signature checked.
        if checked { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3" }
        process.environment = environment
        try process.run()
        let endpoint = "http://127.0.0.1:\(port)"

        let http = try HTTPClient()
        let deadline = Date().addingTimeInterval(30)
        while true {
            if case .success(let answer) = http.perform("GET", url: endpoint + "/moto-api/", headers: [], timeout: .seconds(2)),
               answer.status == 200 { break }
            guard process.isRunning, Date() < deadline else {
                process.terminate()
                throw TestFailure("the S3 test server (\(command.joined(separator: " "))) did not start on 127.0.0.1:\(port)")
            }
            usleep(100_000)
        }
        self.process = process
        self.port = port
        self.endpoint = endpoint
        guard checked else {
            credentials = S3Credentials(accessKeyID: "unchecked", secretAccessKey: "unchecked")
            return
        }
        func iam(_ form: String) throws -> String {
            let unsigned = "Authorization: AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
            guard case .success(let answer) = http.perform("POST", url: endpoint + "/", headers: [unsigned, "Content-Type: application/x-www-form-urlencoded"],
                                                           upload: .bytes(Array((form + "&Version=2010-05-08").utf8)), timeout: .seconds(10)),
                  answer.status == 200 else { throw TestFailure("the S3 test server refused IAM set-up: \(form)") }
            return String(decoding: answer.body, as: UTF8.self)
        }
        _ = try iam("Action=CreateUser&UserName=depot")
        let key = try iam("Action=CreateAccessKey&UserName=depot")
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        _ = try iam("Action=PutUserPolicy&UserName=depot&PolicyName=all&PolicyDocument="
                    + (policy.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        func value(_ tag: String) -> String? {
            guard let open = key.range(of: "<\(tag)>"), let close = key.range(of: "</\(tag)>") else { return nil }
            return String(key[open.upperBound..<close.lowerBound])
        }
        guard let id = value("AccessKeyId"), let secret = value("SecretAccessKey") else {
            throw TestFailure("the S3 test server gave no access key")
        }
        credentials = S3Credentials(accessKeyID: id, secretAccessKey: secret)
    }

    /// Settings for a new, empty bucket of its own (created), through `endpoint` (a proxy's,
    /// say) when given.
    public func settings(bucket: String = "t" + String(UInt64.random(in: 0...UInt64.max), radix: 36),
                         endpoint: String? = nil) throws -> S3Settings {
        var settings = S3Settings()
        settings.endpoint = endpoint ?? self.endpoint
        settings.bucket = bucket
        settings.retries = 2
        // No '/' in the prefix: moto checks the signature of a listing against its query with
        // "%2F" decoded, so a listing of "blobs/" would be refused there (not on real S3).
        settings.prefix = "blobs-"
        var direct = settings
        direct.endpoint = self.endpoint
        try S3BlobStore.createBucket(settings: direct, credentials: credentials)
        return settings
    }

    /// A store over a new bucket, staging in `dir`.
    public func store(in dir: TemporaryDirectory, partSize: Int = 5 << 20) throws -> S3BlobStore {
        var settings = try settings()
        settings.partSize = partSize
        return try S3BlobStore(settings: settings, credentials: credentials, temp: dir.path + "/store/tmp")
    }

    /// An AWS shared-credentials file with the server's key.
    public func writeCredentials(in dir: TemporaryDirectory) throws -> String {
        try dir.write("s3-credentials", "[default]\naws_access_key_id = \(credentials.accessKeyID)\naws_secret_access_key = \(credentials.secretAccessKey)\n")
    }
}

/// A TCP port nothing listens on right now (bound to find one, then closed).
public func freePort() -> Int {
    guard let listener = try? LoopbackListener() else { return 0 }
    defer { listener.stop() }
    return Int(listener.port)
}

/// A loopback HTTP proxy in front of a server that drops chosen requests: it reads each
/// request whole, and either closes the connection without an answer (when `drop` says so)
/// or forwards it with `Connection: close` and relays the answer. One request per connection.
public final class DroppingProxy: @unchecked Sendable {
    public var port: UInt16 { listener.port }
    private let listener: LoopbackListener
    private let upstream: UInt16
    private let drop: @Sendable (_ requestLine: String, _ seenBefore: Int) -> Bool
    private let state = Mutex<(lines: [String], dropped: [String])>(([], []))
    /// Whether the server is cut off (`partition(_:)`), and how many connections were refused so.
    private let cut = Mutex<(on: Bool, refused: Int)>((false, 0))

    /// - Parameter drop: for each request line and how many times the same line came before,
    ///   whether to drop it.
    public init(upstream: UInt16, drop: @escaping @Sendable (_ requestLine: String, _ seenBefore: Int) -> Bool) throws {
        self.upstream = upstream
        self.drop = drop
        listener = try LoopbackListener()
        listener.start { [self] client in relay(client) }
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }
    /// The request lines seen, in order, and those dropped.
    public var requestLines: [String] { state.withLock { $0.lines } }
    public var droppedLines: [String] { state.withLock { $0.dropped } }

    public func stop() { listener.stop() }

    /// Cuts the server off (`true`) or brings it back: while cut, every connection is closed
    /// as soon as it is accepted, unread and unanswered — to its clients the server is
    /// unreachable, as behind a network partition. What is in flight when it starts finishes.
    public func partition(_ on: Bool) { cut.withLock { $0.on = on } }

    /// How many connections the partition refused.
    public var refusedConnections: Int { cut.withLock { $0.refused } }

    private func relay(_ client: Int32) {
        let refused = cut.withLock { state -> Bool in
            if state.on { state.refused += 1 }
            return state.on
        }
        if refused { return }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var headEnd: Int?
        var contentLength = 0
        while headEnd == nil || data.count < headEnd! + 4 + contentLength {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if headEnd == nil, let end = httpHeadEnd(data) {
                headEnd = end
                let head = String(decoding: data[0..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        let head = String(decoding: data[0..<headEnd!], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = String(lines[0])
        let seenBefore = state.withLock { s -> Int in
            defer { s.lines.append(requestLine) }
            return s.lines.count { $0 == requestLine }
        }
        if drop(requestLine, seenBefore) {
            state.withLock { $0.dropped.append(requestLine) }
            return
        }
        let rewritten = lines.filter { !$0.lowercased().hasPrefix("connection:") }.joined(separator: "\r\n") + "\r\nConnection: close"
        let forward = Array(rewritten.utf8) + data[headEnd!...]
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(server) }
        var address = loopback(port: upstream)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, writeAll(server, forward) else { return }
        while true {
            let n = read(server, &buffer, buffer.count)
            if n <= 0 || !writeAll(client, Array(buffer[0..<n])) { return }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}

private func loopback(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return address
}
