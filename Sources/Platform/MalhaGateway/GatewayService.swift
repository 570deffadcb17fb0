public import AsyncHTTPClient
import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaOpenAPI
public import MalhaRegistry
import NIOCore
import NIOPosix
public import ServiceLifecycle

/// The public entry point: routes by longest prefix to registered instances (and static
/// upstreams), verifies tokens and enforces each route's policy, and proxies with streaming.
public enum GatewayService {
    public static let name = "gateway"

    /// The gateway's own endpoints: its landing page, the public docs, and the platform endpoints
    /// (documented as its own, since a merged document leaves the services' platform endpoints
    /// out — the gateway does not route those).
    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha gateway", version: MalhaVersion.current, includePlatformOperations: false,
            operations: [
                .get(
                    "/", "What Malha is, with links to the docs and the web pages",
                    responses: [.status(200, "An HTML page", contentType: "text/html", schema: .string())]),
                .get(
                    "/docs", "Every public operation, readable by a person (from /openapi.json)",
                    responses: [.status(200, "An HTML page", contentType: "text/html", schema: .string())]),
                .get("/favicon.ico", "No icon: browsers stop asking", responses: [.noContent("No icon")]),
            ]
                + OpenAPIDocument.platformOperations.map { operation in
                    var operation = operation
                    operation.isPlatform = false
                    operation.tags = [name]
                    return operation
                })
    }

    /// The one public document: the gateway's own endpoints and every service's public routes.
    public static func publicDocument(services: [OpenAPIDocument]) throws -> OpenAPIDocument {
        try OpenAPIDocument.merged(
            title: "Malha", version: MalhaVersion.current,
            description: "Every public route of Malha's services, as the gateway serves them. Routes that need a bearer "
                + "token say so; get one from POST /v1/auth/login (or /v1/oauth/token for a service client).",
            documents: [openAPI] + services)
    }

    /// An HTTP client fit for proxying: the configured connect timeout, no redirect following (the
    /// client sees the upstream's redirect), and no retrying of refused connections inside the pool
    /// (the gateway ejects the instance and tries the next one itself, so a stopped service gets a
    /// 503 at once rather than after the deadline).
    public static func makeHTTPClient(configuration: GatewayConfiguration) -> HTTPClient {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout.connect = .nanoseconds(configuration.connectTimeout.nanoseconds)
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = configuration.upstreamConnectionsPerHost
        clientConfiguration.decompression = .disabled
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: clientConfiguration)
    }

    /// The gateway's router: platform endpoints as routes; everything else goes to the proxy.
    ///
    /// The proxy is added as middleware after the platform routes. Hummingbird wraps a route with
    /// the middleware present when it is registered, and wraps its not-found responder with all of
    /// them; so the proxy runs exactly for the paths the gateway does not own, still inside the
    /// request-id, metrics and problem+json middleware — the router's fallback, in effect.
    public static func buildRouter(
        configuration: GatewayConfiguration, runtime: ServiceRuntime, instances: any ServiceInstanceSource,
        verifier: AccessTokenVerifier, httpClient: HTTPClient, health: UpstreamHealth? = nil,
        clock: any WallClock = SystemWallClock()
    ) throws -> Router<GatewayRequestContext> {
        try buildRouter(
            configuration: configuration, runtime: runtime, instances: instances, staticRoutes: loadStaticRoutes(configuration),
            document: publicDocument(services: configuration.serviceDocuments), verifier: verifier, httpClient: httpClient,
            health: health ?? makeHealth(configuration), clock: clock)
    }

    static func buildRouter(
        configuration: GatewayConfiguration, runtime: ServiceRuntime, instances: any ServiceInstanceSource,
        staticRoutes: StaticRoutesFile, document: OpenAPIDocument, verifier: AccessTokenVerifier, httpClient: HTTPClient,
        health: UpstreamHealth, clock: any WallClock
    ) -> Router<GatewayRequestContext> {
        let router = runtime.makeRouter(context: GatewayRequestContext.self, openAPI: document)
        addPages(to: router, document: document)
        router.add(
            middleware: GatewayProxy<GatewayRequestContext>(
                routes: RouteTableCache(
                    source: instances, staticRoutes: staticRoutes, defaultTimeout: configuration.defaultTimeout,
                    declaredRoutes: configuration.declaredRoutes),
                health: health, verifier: verifier, httpClient: httpClient, clock: clock,
                maxBodyBytes: configuration.maxBodyBytes, metricsFactory: runtime.metricsFactory))
        return router
    }

    static func loadStaticRoutes(_ configuration: GatewayConfiguration) throws -> StaticRoutesFile {
        try configuration.staticRoutesFile.map(StaticRoutesFile.load(path:)) ?? StaticRoutesFile(routes: [])
    }

    static func makeHealth(_ configuration: GatewayConfiguration) -> UpstreamHealth {
        UpstreamHealth(ejectionDuration: configuration.ejectionDuration, thresholds: configuration.healthCheckThresholds)
    }

    /// The gateway application, with its active health checker (when configured) among its
    /// services. Readiness waits on the `registry` condition, which whoever runs the instance
    /// source sets once it has a first view of the registry.
    public static func buildApplication(
        configuration: GatewayConfiguration, runtime: ServiceRuntime, instances: any ServiceInstanceSource,
        verifier: AccessTokenVerifier, httpClient: HTTPClient, services: [any Service], clock: any WallClock = SystemWallClock()
    ) async throws -> some ApplicationProtocol {
        runtime.readiness.require(.registry)
        let staticRoutes = try loadStaticRoutes(configuration)
        let health = makeHealth(configuration)
        var services = services
        if let interval = configuration.healthCheckInterval {
            services.append(
                UpstreamHealthChecker(
                    source: instances, staticRoutes: staticRoutes, health: health, httpClient: httpClient, interval: interval,
                    timeout: configuration.healthCheckTimeout, logger: runtime.logger, metricsFactory: runtime.metricsFactory))
        }
        let router = buildRouter(
            configuration: configuration, runtime: runtime, instances: instances, staticRoutes: staticRoutes,
            document: try publicDocument(services: configuration.serviceDocuments), verifier: verifier, httpClient: httpClient,
            health: health, clock: clock)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services)
    }
}
