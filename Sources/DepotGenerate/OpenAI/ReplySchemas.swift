/// The JSON Schemas a model's replies are asked to match (`response_format`, strict mode:
/// every property required, no others). They are the model's side only: anchors are found
/// by depot in the source, never taken from the model.
enum ReplySchemas {
    static func object(_ properties: [String: Any]) -> [String: Any] {
        ["type": "object", "properties": properties, "required": properties.keys.sorted(), "additionalProperties": false]
    }

    static var string: [String: Any] { ["type": "string"] }
    static func list(_ items: [String: Any]) -> [String: Any] { ["type": "array", "items": items] }

    static var summary: [String: Any] { object(["short": string, "long": string]) }
    static var chapters: [String: Any] { object(["chapters": list(object(["title": string, "first_words": string, "summary": string,
                                                          "keywords": list(string)]))]) }
    static var quiz: [String: Any] { object(["questions": list(object([
        "type": ["type": "string", "enum": ["multiple_choice", "cloze"]], "question": string, "choices": list(string),
        "answer": string, "explanation": string, "quote": string,
    ]))]) }
    static var keywords: [String: Any] { object(["keywords": list(string)]) }
}
