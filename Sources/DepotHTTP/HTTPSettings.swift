import DepotCore

/// `[http]`: the HTTP server — signed downloads, the admin API, /metrics and health.
public struct HTTPSettings: ConfigSection {
    public static let key = "http"
    /// The address the server listens on; loopback unless an operator opens it up.
    public var listen: String = "127.0.0.1"
    /// The TCP port (0: any free port, logged at start-up).
    public var port: Int = 8080
    /// The URL links start with ("https://files.example.org"); empty: http://listen:port.
    public var baseURL: String = ""
    /// The life of a link when `depot link` or the API is not told otherwise.
    public var linkExpiry: Duration = .seconds(24 * 3600)
    /// The longest life a link may have (S3's presigned URLs stop at 7 days too); a
    /// collection may set its own (`max_link_lifetime`).
    public var maxLinkLifetime: Duration = .seconds(7 * 86400)
    /// How far past its expiry a link is still accepted, for clocks that disagree a little.
    public var clockSkew: Duration = .seconds(30)
    /// Download requests per second per client IP (token bucket refill; 0: no limit) and the burst.
    public var downloadRate: Int = 50
    public var downloadBurst: Int = 100
    /// API requests per second per client IP and the burst.
    public var apiRate: Int = 20
    public var apiBurst: Int = 50
    /// Bad links from one client within `badLinkWindow` after which it gets 429 until the window passes.
    public var badLinkLimit: Int = 20
    public var badLinkWindow: Duration = .seconds(600)
    /// The most connections open at once; more wait in the listen backlog.
    public var maxConnections: Int = 2048
    /// How long a client may take to send a request's headers (slowloris).
    public var headerTimeout: Duration = .seconds(10)
    /// How long a connection may sit with nothing read or written.
    public var idleTimeout: Duration = .seconds(60)
    /// The signing keys; empty: ROOT/state/link-keys. $CREDENTIALS_DIRECTORY/link-keys
    /// (systemd's LoadCredential=) wins when it exists.
    public var keysFile: String = ""
    /// The most connections one client address may hold at once (0: no cap); trusted proxies
    /// are not capped.
    public var maxConnectionsPerClient: Int = 256
    /// Proxies (addresses or CIDR blocks) whose X-Forwarded-For / Forwarded name the client;
    /// nobody else's are believed.
    public var trustedProxies: [IPRange] = []
    /// /readyz says not ready when the store's filesystem has less free space than this.
    public var readyMinFree: Int64 = 256 << 20
    /// /metrics needs a bearer token (read or admin) when true.
    public var metricsRequireToken: Bool = false
    /// The largest file one upload may be (an upload link may set less).
    public var maxUploadSize: Int64 = 16 << 30
    /// How long an unfinished upload is kept for resumption after it began (never past its
    /// link's expiry); then its bytes are removed.
    public var uploadExpiry: Duration = .seconds(24 * 3600)
    /// The life of an upload link when `depot link upload` or the API is not told otherwise.
    public var uploadLinkExpiry: Duration = .seconds(7 * 86400)
    /// Web pages (origins such as "https://school.example", or "*") whose scripts may upload
    /// through upload links (tus-js-client, Uppy on another site): CORS for /u/ only.
    public var uploadOrigins: [String] = []

    public init() {}

    /// "http://LISTEN:PORT" (IPv6 in brackets), or `base_url` when set.
    public var publicBaseURL: String {
        if !baseURL.isEmpty { return baseURL }
        let host = listen.contains(":") ? "[\(listen)]" : listen
        return "http://\(host):\(port)"
    }

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["listen", "port", "base_url", "link_expiry", "max_link_lifetime", "clock_skew",
                     "download_rate", "download_burst", "api_rate", "api_burst", "bad_link_limit",
                     "bad_link_window", "max_connections", "header_timeout", "idle_timeout", "keys_file",
                     "max_connections_per_client", "trusted_proxies", "ready_min_free", "metrics_require_token",
                     "max_upload_size", "upload_expiry", "upload_link_expiry", "upload_origins"])
        if let v = try r.string("listen") {
            guard !v.isEmpty else { throw r.fail("listen", "must be an address such as \"127.0.0.1\" or \"::\"") }
            listen = v
        }
        if let v = try r.int("port", min: 0, max: 65535) { port = v }
        if let v = try r.string("base_url") {
            guard v.isEmpty || v.hasPrefix("http://") || v.hasPrefix("https://") else {
                throw r.fail("base_url", "must start with http:// or https://")
            }
            baseURL = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        if let v = try r.duration("link_expiry") { linkExpiry = v }
        if let v = try r.duration("max_link_lifetime") { maxLinkLifetime = v }
        if let v = try r.duration("clock_skew") { clockSkew = v }
        if let v = try r.int("download_rate", min: 0, max: 1_000_000) { downloadRate = v }
        if let v = try r.int("download_burst", min: 1, max: 1_000_000) { downloadBurst = v }
        if let v = try r.int("api_rate", min: 0, max: 1_000_000) { apiRate = v }
        if let v = try r.int("api_burst", min: 1, max: 1_000_000) { apiBurst = v }
        if let v = try r.int("bad_link_limit", min: 1, max: 1_000_000) { badLinkLimit = v }
        if let v = try r.duration("bad_link_window") { badLinkWindow = v }
        if let v = try r.int("max_connections", min: 1, max: 1_000_000) { maxConnections = v }
        if let v = try r.int("max_connections_per_client", min: 0, max: 1_000_000) { maxConnectionsPerClient = v }
        if let list = try r.strings("trusted_proxies") {
            trustedProxies = try list.map {
                guard let range = IPRange($0) else { throw r.fail("trusted_proxies", "must list addresses or CIDR blocks such as \"10.0.0.0/8\" ('\($0)' is neither)") }
                return range
            }
        }
        if let v = try r.byteSize("ready_min_free", min: 0) { readyMinFree = v }
        if let v = try r.bool("metrics_require_token") { metricsRequireToken = v }
        if let v = try r.byteSize("max_upload_size", min: 1) { maxUploadSize = v }
        if let v = try r.duration("upload_expiry") { uploadExpiry = v }
        if let v = try r.duration("upload_link_expiry") { uploadLinkExpiry = v }
        if let list = try r.strings("upload_origins") {
            for origin in list where origin != "*" {
                guard (origin.hasPrefix("http://") || origin.hasPrefix("https://")), !origin.hasSuffix("/"),
                      !origin.dropFirst(8).contains("/") else {
                    throw r.fail("upload_origins", "must list origins such as \"https://school.example\" (scheme and host, no path), or \"*\"")
                }
            }
            uploadOrigins = list
        }
        if let v = try r.duration("header_timeout") { headerTimeout = v }
        if let v = try r.duration("idle_timeout") { idleTimeout = v }
        if let v = try r.string("keys_file") { keysFile = v }
        for (key, value) in [("link_expiry", linkExpiry), ("max_link_lifetime", maxLinkLifetime), ("header_timeout", headerTimeout),
                             ("idle_timeout", idleTimeout), ("bad_link_window", badLinkWindow), ("upload_expiry", uploadExpiry),
                             ("upload_link_expiry", uploadLinkExpiry)] where value <= .zero {
            throw r.fail(key, "must be positive")
        }
        guard linkExpiry <= maxLinkLifetime else { throw r.fail("link_expiry", "must not exceed http.max_link_lifetime") }
        guard uploadLinkExpiry <= maxLinkLifetime else {
            throw r.fail("upload_link_expiry", "must not exceed http.max_link_lifetime")
        }
    }
}
