/// What a job says of itself in figures, beyond what the runner measures: generation's engine
/// and model (`labels`) and its tokens, latency, fallbacks (`values`). The processor makes it,
/// the worker hands it over with the result, the job's event carries it, and the analytics
/// record each value as a series of its own — so a kind that reports something new shows up
/// in the stats without code there.
public struct JobReport: Codable, Sendable, Equatable {
    /// What the values are of ("engine": "openai", "model": "llama3.1:8b"); empty values are left out.
    public var labels: [String: String]
    /// The figures by name ("tokens_in", "latency_ms"); a name's suffix gives its unit
    /// (`_ms`: milliseconds, `_bytes`: bytes; names with "tokens": tokens; else a count).
    public var values: [String: Double]

    public init(labels: [String: String] = [:], values: [String: Double] = [:]) {
        self.labels = labels.filter { !$0.value.isEmpty }
        self.values = values.filter { $0.value.isFinite }
    }

    public var isEmpty: Bool { values.isEmpty }

    /// The unit of a value named `name`.
    public static func unit(of name: String) -> String {
        if name.hasSuffix("_ms") { return "ms" }
        if name.hasSuffix("_bytes") { return "bytes" }
        if name.contains("tokens") { return "tokens" }
        return "count"
    }
}
