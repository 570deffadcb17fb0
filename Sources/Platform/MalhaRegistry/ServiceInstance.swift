import Foundation

/// One registered instance of a service, as the registry stores it and the gateway routes to it.
public struct ServiceInstance: Codable, Sendable, Hashable, Identifiable {
    public var id: String
    public var service: String
    public var version: String
    /// Where the instance serves HTTP, e.g. `http://127.0.0.1:8083`.
    public var baseURL: String
    /// Readiness URL the gateway may probe, e.g. `http://127.0.0.1:8083/health/ready`.
    public var healthURL: String
    /// The public routes this instance serves through the gateway.
    public var routes: [RouteRule]
    public var registeredAt: Date
    public var leaseExpiresAt: Date

    public init(
        id: String, service: String, version: String, baseURL: String, healthURL: String, routes: [RouteRule],
        registeredAt: Date, leaseExpiresAt: Date
    ) {
        self.id = id
        self.service = service
        self.version = version
        self.baseURL = baseURL
        self.healthURL = healthURL
        self.routes = routes
        self.registeredAt = registeredAt
        self.leaseExpiresAt = leaseExpiresAt
    }

    enum CodingKeys: String, CodingKey {
        case id, service, version, routes
        case baseURL = "base_url"
        case healthURL = "health_url"
        case registeredAt = "registered_at"
        case leaseExpiresAt = "lease_expires_at"
    }
}

/// The gateway's local, continuously refreshed view of the registry.
public protocol ServiceInstanceSource: Sendable {
    /// The instances whose leases are live, as last seen.
    func currentInstances() -> [ServiceInstance]
}
