import DepotCore

/// `[speech]`: speech to text through an OpenAI-compatible `/v1/audio/transcriptions`
/// endpoint (OpenAI, whisper.cpp's server, faster-whisper servers, LocalAI). Without a `url`
/// depot makes no transcript from speech, and the manifest says so.
public struct SpeechSettings: ConfigSection, Equatable {
    public static let key = "speech"
    /// The server's base URL ("http://127.0.0.1:8080"); "/v1/audio/transcriptions" is added
    /// unless the URL already ends with it. Empty: speech to text is off.
    public var url: String = ""
    /// Sent as `Authorization: Bearer …` when set.
    public var apiKey: String = ""
    public var model: String = "whisper-1"
    /// The spoken language (ISO 639-1) when known; empty: the server detects it.
    public var language: String = ""
    /// The largest request body the endpoint takes (OpenAI's limit is 25 MiB).
    public var uploadLimit: Int64 = 25 << 20
    /// The longest piece sent at once, whatever the limit (a server's own time limits).
    public var maxPieceSeconds: Int = 600
    /// How long one request may take.
    public var timeout: Duration = .seconds(300)
    /// Attempts of one piece before the transcript fails (429, 5xx, no answer).
    public var maxAttempts: Int = 4
    /// The first wait between attempts; it doubles, and Retry-After wins when longer.
    public var retryInitial: Duration = .seconds(2)
    public var retryMax: Duration = .seconds(60)
    /// Failed requests in a row after which the circuit opens: the rest of the job's pieces
    /// are not sent, and the job fails at once instead of waiting out every retry.
    public var breakerThreshold: Int = 5

    public init() {}

    public var enabled: Bool { !url.isEmpty }

    /// The full transcription URL.
    public var endpoint: String {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        return trimmed.hasSuffix("/audio/transcriptions") ? trimmed
            : trimmed.hasSuffix("/v1") ? trimmed + "/audio/transcriptions" : trimmed + "/v1/audio/transcriptions"
    }

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["url", "api_key", "model", "language", "upload_limit", "max_piece_seconds", "timeout", "max_attempts",
                     "retry_initial", "retry_max", "breaker_threshold"])
        if let v = try r.string("url") {
            guard v.isEmpty || v.hasPrefix("http://") || v.hasPrefix("https://") else {
                throw r.fail("url", "must start with http:// or https://")
            }
            url = v
        }
        if let v = try r.string("api_key") { apiKey = v }
        if let v = try r.string("model") { model = v }
        if let v = try r.string("language") { language = v }
        if let v = try r.byteSize("upload_limit", min: 256 << 10) { uploadLimit = v }
        if let v = try r.int("max_piece_seconds", min: 10, max: 24 * 3600) { maxPieceSeconds = v }
        if let v = try r.duration("timeout") { timeout = v }
        if let v = try r.int("max_attempts", min: 1, max: 100) { maxAttempts = v }
        if let v = try r.duration("retry_initial") { retryInitial = v }
        if let v = try r.duration("retry_max") { retryMax = v }
        if let v = try r.int("breaker_threshold", min: 1, max: 1000) { breakerThreshold = v }
    }
}
