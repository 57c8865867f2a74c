import Foundation

/// What a `Range` header asks of a representation of a known size (RFC 9110 §14).
public enum RangeRequest: Equatable, Sendable {
    /// No range, one that is not understood, or several ranges: answer 200 with everything.
    /// depot answers multiple ranges with the full representation rather than
    /// multipart/byteranges (RFC 9110 §14.2 lets a server ignore Range); see DECISIONS.md.
    case full
    /// One satisfiable range, inclusive bounds: answer 206 with `Content-Range: bytes a-b/size`.
    case partial(first: Int64, last: Int64)
    /// Not satisfiable: answer 416 with `Content-Range: bytes */size`.
    case unsatisfiable
}

/// Parses a `Range` header value against a representation of `size` bytes.
///
/// RFC 9110 §14.1.2: `bytes=0-499` is the first 500 bytes; `bytes=9500-` everything from byte
/// 9500; `bytes=-500` the *last* 500 bytes (a suffix, not the first 500); a last-pos past the
/// end is clamped to the end; a first-pos at or past the end is unsatisfiable. Offsets are
/// Int64 throughout, so files over 4 GiB work.
public func parseRange(_ header: String?, size: Int64) -> RangeRequest {
    guard let header else { return .full }
    var text = Substring(header)
    text = text.drop(while: { $0 == " " || $0 == "\t" })
    // The unit is case-insensitive (RFC 9110 §14.1).
    guard text.count >= 6, text.prefix(6).lowercased() == "bytes=" else { return .full }
    text = text.dropFirst(6)
    let specs = text.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.trimmingCharacters(in: [" ", "\t"]) }
    // Several ranges: served whole (see above); a malformed list is ignored the same way.
    guard specs.count == 1, let spec = specs.first, !spec.isEmpty else { return .full }
    guard let dash = spec.firstIndex(of: "-") else { return .full }
    let firstText = spec[..<dash], lastText = spec[spec.index(after: dash)...]
    if firstText.isEmpty {
        // suffix-range: the last N bytes; N = 0 is unsatisfiable (§14.1.3).
        guard let n = digits(lastText) else { return .full }
        if n == 0 { return .unsatisfiable }
        // §14.1.3: a zero-length representation has no byte to send; answer it whole (empty 200).
        if size == 0 { return .full }
        return .partial(first: max(0, size - n), last: size - 1)
    }
    guard let first = digits(firstText) else { return .full }
    var last: Int64? = nil
    if !lastText.isEmpty {
        guard let l = digits(lastText) else { return .full }
        // §14.1.1: a last-pos less than first-pos makes the range-spec invalid: ignore the header.
        guard l >= first else { return .full }
        last = l
    }
    if first >= size { return .unsatisfiable }
    return .partial(first: first, last: min(last ?? (size - 1), size - 1))
}

/// A non-negative decimal that fits in Int64 (a longer one cannot be an offset: nil).
private func digits<S: StringProtocol>(_ s: S) -> Int64? {
    guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
        // More than 18 digits may overflow; such an offset is past any file anyway.
        if !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) { return Int64.max }
        return nil
    }
    return Int64(s)
}

/// Whether an `If-None-Match` value matches the strong ETag `etag` (quoted): weak comparison,
/// as RFC 9110 §13.1.2 asks, so `W/"x"` matches `"x"`; `*` matches any.
public func ifNoneMatchMatches(_ header: String, etag: String) -> Bool {
    let trimmed = header.trimmingCharacters(in: [" ", "\t"])
    if trimmed == "*" { return true }
    for item in splitEntityTags(trimmed) {
        let tag = item.hasPrefix("W/") ? String(item.dropFirst(2)) : item
        if tag == etag { return true }
    }
    return false
}

/// Whether an `If-Range` value still names this representation (RFC 9110 §13.1.5): a strong
/// ETag compared strongly (a weak one never matches), or an HTTP date equal to Last-Modified.
public func ifRangeMatches(_ header: String, etag: String, lastModified: String) -> Bool {
    let value = header.trimmingCharacters(in: [" ", "\t"])
    if value.hasPrefix("W/") { return false }
    if value.hasPrefix("\"") { return value == etag }
    return value == lastModified
}

/// Entity tags of a list (`"a", W/"b"`); a comma may sit inside quotes.
func splitEntityTags(_ s: String) -> [String] {
    var tags: [String] = []
    var current = ""
    var quoted = false
    for c in s {
        if c == "\"" { quoted.toggle() }
        if c == "," && !quoted {
            tags.append(current.trimmingCharacters(in: [" ", "\t"]))
            current = ""
        } else {
            current.append(c)
        }
    }
    tags.append(current.trimmingCharacters(in: [" ", "\t"]))
    return tags.filter { !$0.isEmpty }
}

/// `Content-Disposition: attachment` with an ASCII fallback `filename` and, when the name is
/// not plain ASCII, an RFC 6266 / RFC 8187 `filename*=UTF-8''…`.
public func contentDisposition(fileName: String) -> String {
    var fallback = ""
    var plain = true
    for scalar in fileName.unicodeScalars {
        let v = scalar.value
        if v >= 0x20 && v < 0x7F && scalar != "\"" && scalar != "\\" && scalar != "%" && scalar != ";" {
            fallback.unicodeScalars.append(scalar)
        } else {
            plain = false
            fallback += "_"
        }
    }
    if fallback.isEmpty { fallback = "download" }
    var value = "attachment; filename=\"\(fallback)\""
    if !plain {
        value += "; filename*=UTF-8''" + percentEncode(fileName)
    }
    return value
}
