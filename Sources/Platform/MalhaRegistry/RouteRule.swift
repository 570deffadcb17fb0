public import MalhaIdentity
public import MalhaOpenAPI

/// A public route a service instance serves, as it declares it to the registry and the gateway
/// enforces it: the longest matching `prefix` wins, then the first rule whose `methods` include
/// the request's method (nil = every method).
///
/// `policy` travels in `AccessPolicy`'s wire form (`public`, `authenticated`, `roles:<role>,…`,
/// `scopes:<scope>,…`, or people and scopes joined by `;`); a rule with any other policy does not
/// decode, so its registration is refused (422).
public struct RouteRule: Codable, Sendable, Hashable {
    public var prefix: String
    public var methods: [String]?
    public var policy: AccessPolicy
    /// Upstream timeout for this route in milliseconds (gateway default when nil).
    public var timeoutMilliseconds: Int?

    public init(prefix: String, methods: [String]? = nil, policy: AccessPolicy, timeoutMilliseconds: Int? = nil) {
        self.prefix = prefix
        self.methods = methods?.map { $0.uppercased() }
        self.policy = policy
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case prefix, methods, policy
        case timeoutMilliseconds = "timeout_ms"
    }

    public static func `public`(_ prefix: String, methods: [String]? = nil) -> RouteRule {
        RouteRule(prefix: prefix, methods: methods, policy: .public)
    }

    public static func authenticated(_ prefix: String, methods: [String]? = nil) -> RouteRule {
        RouteRule(prefix: prefix, methods: methods, policy: .authenticated)
    }

    public static func roles(_ roles: [String], _ prefix: String, methods: [String]? = nil) -> RouteRule {
        RouteRule(prefix: prefix, methods: methods, policy: .anyRole(Set(roles)))
    }

    /// This rule, letting service clients that hold one of `scopes` through as well.
    public func orScopes(_ scopes: [String]) -> RouteRule {
        RouteRule(
            prefix: prefix, methods: methods, policy: policy.orScopes(Set(scopes)), timeoutMilliseconds: timeoutMilliseconds)
    }
}

extension AccessPolicy: OpenAPISchemaProviding {
    public static var openAPISchema: JSONSchema {
        .string(
            pattern: "^(public|((authenticated|roles:[^,;]+(,[^,;]+)*)(;scopes:[^,;]+(,[^,;]+)*)?)|scopes:[^,;]+(,[^,;]+)*)$",
            description: "Who may call the route: people (public, authenticated, roles:…) and service clients (scopes:…)")
    }

    public static var openAPIPlaceholder: AccessPolicy? { .public }
}

extension RouteRule: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("prefix", .pattern("^/"), .maxLength(256), .description("The path prefix; the longest match wins")),
        .property("methods", .description("The methods the rule applies to (absent: every method)")),
        .property("timeout_ms", .description("Upstream timeout in milliseconds (absent: the gateway's default)")),
    ]
}
