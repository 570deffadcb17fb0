/// Reading an `Authorization` header.
public enum AuthorizationHeader {
    /// The credentials of a `Bearer` header (RFC 6750; the scheme in any case), trimmed; nil for
    /// another scheme or an empty one.
    public static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
