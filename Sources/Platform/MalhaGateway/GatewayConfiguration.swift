import Foundation
public import MalhaOpenAPI
public import MalhaRegistry

/// How the gateway listens, how long it waits for upstreams, and which tokens it accepts.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Upstream timeout for routes that declare none.
    public var defaultTimeout: Duration = .seconds(10)
    /// How long establishing an upstream connection may take (applied by `makeHTTPClient`).
    public var connectTimeout: Duration = .seconds(1)
    /// A declarative JSON routes file of static upstreams (a legacy system behind the gateway).
    public var staticRoutesFile: String?
    /// Expected `iss` and `aud` of access tokens.
    public var issuer: String
    public var audience: String
    /// Request bodies larger than this are refused with 413 (checked on `Content-Length` and while streaming).
    public var maxBodyBytes: Int = 8 << 20
    /// Keep-alive connections the proxy opens to each upstream (AsyncHTTPClient's soft limit per
    /// host; its default of 8 queues requests behind a handful of sockets under load).
    public var upstreamConnectionsPerHost = 64
    /// How long an instance whose connection was refused is skipped.
    public var ejectionDuration: Duration = .seconds(5)
    /// Active health checks: how often each upstream's health URL is probed (nil: no active checks),
    /// how long a probe may take, and how many consecutive failures take an upstream out of
    /// rotation / successes bring it back.
    public var healthCheckInterval: Duration? = .seconds(2)
    public var healthCheckTimeout: Duration = .seconds(1)
    public var healthCheckThresholds = UpstreamHealth.Thresholds()
    /// The documents of the services behind it: merged into the one `/openapi.json` (and `/docs`)
    /// the gateway serves. In `malha` they are the topology's own, so the public document is the
    /// same whether the services run in this process or elsewhere.
    public var serviceDocuments: [OpenAPIDocument] = []
    /// The routes each known service declares (in `malha`, the topology's). While a known service
    /// has no live instance its routes answer 503 (it is down, not gone); the routes of any other
    /// service leave the table with its last instance (404), so nothing a departed registration
    /// claimed outlives it.
    public var declaredRoutes: [String: [RouteRule]] = [:]

    public init(issuer: String, audience: String) {
        self.issuer = issuer
        self.audience = audience
    }
}
