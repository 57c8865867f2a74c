#if canImport(Glibc)
import Glibc
#endif

/// The glob patterns of one collection, matched against every path component under it.
///
/// Matching per component (rather than the whole path with FNM_PATHNAME) is what makes
/// `.*` also hide everything inside `.git/` and a pattern such as `*.part` apply at any depth.
public struct IgnoreRules: Sendable, Equatable {
    public let patterns: [String]

    public init(_ patterns: [String]) {
        self.patterns = patterns
    }

    /// Whether one file or folder name matches any pattern.
    public func ignores(name: String) -> Bool {
        // No flags: `*` may match a leading dot, so `*.tmp` also hides `.x.tmp`, and
        // backslash escapes work as users of shell globs expect.
        patterns.contains { fnmatch($0, name, 0) == 0 }
    }

    /// Whether any component of a path relative to the collection matches.
    public func ignores(relativePath: String) -> Bool {
        relativePath.split(separator: "/").contains { ignores(name: String($0)) }
    }
}
