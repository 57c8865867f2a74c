import Foundation

/// Turns a model's reply text into the JSON object it was asked for, repairing what is safe
/// to repair: reasoning before it (`<think>…</think>`, DeepSeek-R1 and Qwen3 write it into
/// the content), Markdown code fences and prose around the object, and an object cut short
/// (max_tokens reached: the reply ends inside a string or an array) — cut back to its last
/// complete member and closed. Whether the result is usable is for the caller's validation
/// to say: a repaired reply missing a required member is refused, never guessed at.
enum ReplyRepair {
    struct Repaired {
        var object: [String: Any]
        /// What was done to it ("reasoning removed", "truncated JSON closed").
        var repairs: [String]
    }

    static func object(from reply: String) -> Repaired? {
        var text = reply
        var repairs: [String] = []
        // Reasoning blocks, closed or (cut short) not.
        while let open = text.range(of: "<think>") {
            if let close = text.range(of: "</think>", range: open.upperBound..<text.endIndex) {
                text.removeSubrange(open.lowerBound..<close.upperBound)
            } else {
                text.removeSubrange(open.lowerBound..<(text[open.upperBound...].firstIndex(of: "{") ?? text.endIndex))
            }
            repairs.append("reasoning removed")
        }
        if let close = text.range(of: "</think>") {  // an opening tag the server already removed
            text.removeSubrange(text.startIndex..<close.upperBound)
            repairs.append("reasoning removed")
        }
        guard let start = text.firstIndex(of: "{") else { return nil }
        if text[..<start].contains(where: { !$0.isWhitespace }) { repairs.append("text before the JSON removed") }
        let chars = Array(text[start...])
        // Scan for the end of the object, tracking strings and the open brackets.
        var stack: [Character] = []
        var inString = false, escaped = false
        var end: Int?
        var cuts: [(Int, [Character])] = []  // positions where the text may be cut, with the brackets then open
        for (i, c) in chars.enumerated() {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"": inString = true
            case "{", "[":
                stack.append(c == "{" ? "}" : "]")
            case "}", "]":
                guard stack.popLast() == c else { return nil }
                if stack.isEmpty { end = i; break }
                cuts.append((i + 1, stack))
            case ",":
                cuts.append((i, stack))
            default: break
            }
            if end != nil { break }
        }
        if let end {
            if chars[(end + 1)...].contains(where: { !$0.isWhitespace && $0 != "`" }) { repairs.append("text after the JSON removed") }
            if let object = parse(String(chars[...end])) { return Repaired(object: object, repairs: repairs) }
            return nil
        }
        // Cut short: the longest prefix that ends after a complete member, closed.
        for (position, open) in cuts.reversed() {
            let candidate = String(chars[..<position]) + String(open.reversed())
            if let object = parse(candidate) {
                return Repaired(object: object, repairs: repairs + ["truncated JSON closed"])
            }
        }
        return nil
    }

    static func parse(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }
}
