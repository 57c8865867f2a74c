import DepotCore

/// `[generate]`: the engines' settings. Which engine a job uses, and its other parameters,
/// are the generate job kind's parameters (`[jobs.kinds.generate.parameters]`, per collection
/// `[jobs.kinds.generate.collections.NAME]`, per request); its concurrency is that kind's
/// `slots`. This section says how to reach the model and what to do when it fails.
public struct GenerateSettings: ConfigSection {
    public static let key = "generate"
    /// When the openai engine fails (after its retries, or with the breaker open), make the
    /// outputs with the builtin engine instead and say so in generation.json.
    public var fallback = false
    /// The folder of prompt templates (summary.md, chapters.md, quiz.md, keywords.md,
    /// reduce.md); nil: `prompts/` beside the config file. A template missing there is the
    /// built-in copy. A job's `prompts` parameter names a subfolder whose files come first
    /// (set per collection in `[jobs.kinds.generate.collections.NAME]`).
    public var prompts: String?
    public var openai = OpenAISettings()

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["fallback", "prompts", "openai"])
        if let v = try r.bool("fallback") { fallback = v }
        prompts = try r.string("prompts")
        if let t = try r.table("openai") { openai = try OpenAISettings(t) }
    }
}

/// `[generate.openai]`: an OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM,
/// llama.cpp server).
public struct OpenAISettings: Sendable, Equatable {
    /// Up to and including the API version: "https://api.openai.com/v1", "http://127.0.0.1:11434/v1".
    public var baseURL = ""
    public var model = ""
    /// The key itself (prefer `api_key_file`: a config file is often readable by more people).
    public var apiKey: String?
    /// A file holding the key (one line), read when a job starts.
    public var apiKeyFile: String?
    /// The model's context length in tokens, as the server is configured (Ollama: num_ctx).
    public var contextTokens = 8192
    /// Tokens the model may write per reply (max_tokens).
    public var maxOutputTokens = 2048
    public var temperature = 0.2
    /// Per request; generous, since a local model on a CPU takes minutes.
    public var timeout: Duration = .seconds(600)
    public var connectTimeout: Duration = .seconds(10)
    /// Attempts per request (a 429, a 5xx, a timeout, an unusable reply).
    public var maxAttempts = 4
    public var retryInitial: Duration = .seconds(2)
    public var retryMax: Duration = .seconds(120)
    /// Consecutive failed requests that open the circuit breaker, and how long it stays open.
    public var breakerFailures = 5
    public var breakerCooldown: Duration = .seconds(60)
    /// Send the JSON Schema as `response_format` (structured output); off for servers that refuse it.
    public var structuredOutput = true

    public init() {}

    init(_ r: TableReader) throws {
        try r.allow(["base_url", "model", "api_key", "api_key_file", "context_tokens", "max_output_tokens", "temperature", "timeout",
                     "connect_timeout", "max_attempts", "retry_initial", "retry_max", "breaker_failures", "breaker_cooldown",
                     "structured_output"])
        if let v = try r.string("base_url") {
            guard v.hasPrefix("http://") || v.hasPrefix("https://") else { throw r.fail("base_url", "must be an http:// or https:// URL") }
            baseURL = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        if let v = try r.string("model") { model = v }
        apiKey = try r.string("api_key")
        apiKeyFile = try r.string("api_key_file")
        if apiKey != nil && apiKeyFile != nil { throw r.fail("api_key", "give api_key or api_key_file, not both") }
        if let v = try r.int("context_tokens", min: 256) { contextTokens = v }
        if let v = try r.int("max_output_tokens", min: 16) { maxOutputTokens = v }
        guard maxOutputTokens < contextTokens else { throw r.fail("max_output_tokens", "must be below context_tokens") }
        if case .double(let d)? = try r.scalar("temperature") { temperature = d }
        else if case .int(let i)? = try r.scalar("temperature") { temperature = Double(i) }
        if let v = try r.duration("timeout") { timeout = v }
        if let v = try r.duration("connect_timeout") { connectTimeout = v }
        if let v = try r.int("max_attempts", min: 1, max: 100) { maxAttempts = v }
        if let v = try r.duration("retry_initial") { retryInitial = v }
        if let v = try r.duration("retry_max") { retryMax = v }
        if let v = try r.int("breaker_failures", min: 1, max: 1000) { breakerFailures = v }
        if let v = try r.duration("breaker_cooldown") { breakerCooldown = v }
        if let v = try r.bool("structured_output") { structuredOutput = v }
        for (key, value) in [("timeout", timeout), ("connect_timeout", connectTimeout), ("retry_initial", retryInitial),
                             ("breaker_cooldown", breakerCooldown)] where value <= .zero {
            throw r.fail(key, "must be positive")
        }
        guard retryMax >= retryInitial else { throw r.fail("retry_max", "must be at least retry_initial") }
    }

    /// Configured enough to be asked.
    public var isConfigured: Bool { !baseURL.isEmpty && !model.isEmpty }
}
