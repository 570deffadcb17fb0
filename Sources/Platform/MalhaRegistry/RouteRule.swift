/// A public route a service instance serves, as it declares it to the registry and the gateway
/// enforces it: the longest matching `prefix` wins, then the first rule whose `methods` include
/// the request's method (nil = every method).
///
/// `policy` is `public`, `authenticated`, or `roles:<role>[,<role>…]` (any one of them).
public struct RouteRule: Codable, Sendable, Hashable {
    public var prefix: String
    public var methods: [String]?
    public var policy: String
    /// Upstream timeout for this route in milliseconds (gateway default when nil).
    public var timeoutMilliseconds: Int?

    public init(prefix: String, methods: [String]? = nil, policy: String, timeoutMilliseconds: Int? = nil) {
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
        RouteRule(prefix: prefix, methods: methods, policy: "public")
    }

    public static func authenticated(_ prefix: String, methods: [String]? = nil) -> RouteRule {
        RouteRule(prefix: prefix, methods: methods, policy: "authenticated")
    }

    public static func roles(_ roles: [String], _ prefix: String, methods: [String]? = nil) -> RouteRule {
        RouteRule(prefix: prefix, methods: methods, policy: "roles:" + roles.joined(separator: ","))
    }
}
