import DepotCore

/// The engines a process uses, from `[generate]`.
public enum GenerateSetup {
    /// The builtin engine and, when `[generate.openai]` is configured, the OpenAI-compatible
    /// one with its templates and its circuit breaker (shared through `breakerFile` by every
    /// process that names the same file).
    /// - Parameter promptsFolder: the templates' folder when `[generate] prompts` names none.
    public static func engines(_ settings: GenerateSettings, promptsFolder: String?, breakerFile: String?) -> [any GenerationEngine] {
        var engines: [any GenerationEngine] = [BuiltinEngine()]
        if settings.openai.isConfigured {
            let breaker = CircuitBreaker(failureThreshold: settings.openai.breakerFailures, cooldown: settings.openai.breakerCooldown,
                                         path: breakerFile)
            engines.append(OpenAIEngine(settings: settings.openai, promptsFolder: settings.prompts ?? promptsFolder, breaker: breaker))
        }
        return engines
    }
}
