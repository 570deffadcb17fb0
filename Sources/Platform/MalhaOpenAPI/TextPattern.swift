/// Regular-expression pieces for the text rules services share, spelled out so that ECMA-262 (the
/// document's dialect) and Python's `re` (schemathesis) read them alike — `\s` and `\p{…}` mean
/// different things, or nothing, to the two.
public enum TextPattern {
    /// What `trimmingCharacters(in: .whitespacesAndNewlines)` removes on Linux, as a class body.
    public static let whitespace = #"\t-\r \u0085\u00A0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000"#
    /// A text that trimming leaves non-empty: it holds one character that is not whitespace.
    public static let notBlank = "[^\(whitespace)]"
}
