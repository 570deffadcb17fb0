/// How a route prefix matches a path, shared by the gateway (routing) and the registry
/// (ownership), so both read a prefix the same way.
public enum RoutePrefix {
    /// Whether `prefix` has a `*` segment (standing for any one non-empty segment).
    public static func isPattern(_ prefix: some StringProtocol) -> Bool {
        prefix.split(separator: "/").contains("*")
    }

    /// `path` matches `prefix` on segment boundaries (`/v1/products` covers `/v1/products/7`, not
    /// `/v1/productsx`); a pattern prefix's `*` segments stand for any one non-empty segment.
    public static func matches(_ path: Substring, prefix: String) -> Bool {
        isPattern(prefix) ? self.path(path, matchesPattern: prefix) : self.path(path, hasSegmentPrefix: prefix)
    }

    /// `path` starts with the segments of `pattern`, a `*` segment standing for any one non-empty
    /// segment: `/v1/accounts/*/balances` matches `/v1/accounts/42/balances/2026-11-29`, not
    /// `/v1/accounts/42` nor `/v1/accounts//balances`.
    public static func path(_ path: Substring, matchesPattern pattern: String) -> Bool {
        let wanted = pattern.split(separator: "/", omittingEmptySubsequences: false)
        var segments = path.split(separator: "/", maxSplits: wanted.count, omittingEmptySubsequences: false)[...]
        for segment in wanted {
            guard let actual = segments.popFirst() else { return false }
            if segment == "*" ? actual.isEmpty : actual != segment { return false }
        }
        return true
    }

    public static func path(_ path: Substring, hasSegmentPrefix prefix: String) -> Bool {
        guard path.hasPrefix(prefix) else { return false }
        if prefix.hasSuffix("/") || path.utf8.count == prefix.utf8.count { return true }
        return path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: prefix.utf8.count)] == UInt8(ascii: "/")
    }
}

/// Which service owns which route prefixes: a service may register only routes under prefixes it
/// owns, so no instance can claim another's path space (a rogue `/v1/auth/login` would otherwise
/// win as the longest prefix and collect every password).
///
/// A claimed prefix belongs to the owner of the longest owned prefix covering it; a prefix no
/// owned prefix covers belongs to nobody and is refused. Ownership is declared (each service's
/// route rules, compiled into `malha`, plus `malha.registry.owners` for services that are not),
/// never learned from a registration.
public struct RouteOwnership: Sendable {
    /// Owned prefixes, longest first.
    public let owned: [(prefix: String, service: String)]

    public init(_ owners: [String: [String]]) {
        owned = owners.flatMap { service, prefixes in prefixes.map { (prefix: $0, service: service) } }
            .sorted { ($0.prefix.utf8.count, $0.prefix, $0.service) > ($1.prefix.utf8.count, $1.prefix, $1.service) }
    }

    /// The service owning the path space `prefix` names, if any.
    public func owner(of prefix: String) -> String? {
        owned.first { RoutePrefix.matches(Substring(prefix), prefix: $0.prefix) }?.service
    }

    /// Whether `service` may register `prefix`.
    public func allows(_ service: String, toClaim prefix: String) -> Bool {
        owner(of: prefix) == service
    }

    /// Parses `malha.registry.owners`: `service=/prefix,/prefix;service=/prefix`.
    public static func parse(_ text: String) -> [String: [String]]? {
        var owners: [String: [String]] = [:]
        for entry in text.split(separator: ";") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else { return nil }
            let prefixes = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !prefixes.isEmpty, prefixes.allSatisfy({ $0.hasPrefix("/") }) else { return nil }
            owners[parts[0], default: []] += prefixes
        }
        return owners
    }
}
