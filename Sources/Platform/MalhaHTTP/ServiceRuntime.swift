import Foundation
public import Hummingbird
public import Logging
import MalhaCore
public import MalhaOpenAPI
public import Metrics
public import NIOCore
public import Prometheus
public import ServiceLifecycle
import Synchronization

/// Who a running service instance is.
public struct ServiceDescriptor: Sendable, Hashable {
    public var name: String
    public var version: String
    public var instanceID: String

    public init(name: String, version: String = MalhaVersion.current, instanceID: String = UUID.v7().lowercased) {
        self.name = name
        self.version = version
        self.instanceID = instanceID
    }
}

public enum MalhaVersion {
    public static let current = "0.1.0"
}

/// The infrastructure every service instance has: its logger, its own metrics registry, its
/// readiness conditions, and the address its server bound to.
public final class ServiceRuntime: Sendable {
    public let descriptor: ServiceDescriptor
    public let logger: Logger
    public let metricsRegistry: PrometheusCollectorRegistry
    public let metricsFactory: PrometheusMetricsFactory
    public let readiness: Readiness
    public let boundAddress = BoundAddress()
    /// What the listener allows each client connection (timeouts, caps).
    public let limits: ListenerLimits
    /// The listener's open connections.
    public let connections = ConnectionCount()

    /// Which peers' `X-Forwarded-For` names the client (`ClientAddressMiddleware`).
    public let trustedProxies: TrustedProxies
    /// Who may read `/metrics`. `malha` passes what `malha.metrics.*` says (a token unless made
    /// public); the open default is for in-process tests, which have no scraper.
    public let metricsAccess: MetricsAccess

    public init(
        descriptor: ServiceDescriptor, logger: Logger? = nil, limits: ListenerLimits = ListenerLimits(),
        trustedProxies: TrustedProxies = .loopback, metricsAccess: MetricsAccess = .open
    ) {
        self.descriptor = descriptor
        self.limits = limits
        self.trustedProxies = trustedProxies
        self.metricsAccess = metricsAccess
        var logger = logger ?? Logger(label: "malha.\(descriptor.name)")
        logger[metadataKey: "service"] = .string(descriptor.name)
        self.logger = logger
        metricsRegistry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: metricsRegistry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        metricsFactory = factory
        readiness = Readiness()
    }

    /// A router with the platform's middleware (request id → RED metrics → problem+json) and the
    /// endpoints every service has: `/health/live`, `/health/ready`, `/metrics`, `/openapi.json`.
    public func makeRouter<Context: MalhaRequestContext>(
        context: Context.Type = ServiceRequestContext.self,
        openAPI: OpenAPIDocument
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ClientAddressMiddleware(trusted: trustedProxies))
        router.add(middleware: REDMetricsMiddleware(factory: metricsFactory))
        router.add(middleware: ProblemMiddleware())
        addPlatformRoutes(to: router, openAPI: openAPI)
        return router
    }

    func addPlatformRoutes<Context: MalhaRequestContext>(to router: Router<Context>, openAPI: OpenAPIDocument) {
        let readiness = self.readiness
        let registry = self.metricsRegistry
        let descriptor = self.descriptor
        let metricsAccess = self.metricsAccess
        router.get("/health/live") { _, _ in
            HealthStatus(status: "ok", service: descriptor.name, instance: descriptor.instanceID, checks: [:])
        }
        router.get("/health/ready") { _, _ -> Response in
            let checks = readiness.snapshot()
            let ready = !checks.isEmpty && checks.values.allSatisfy { $0 }
            let body = HealthStatus(
                status: ready ? "ok" : "unavailable", service: descriptor.name, instance: descriptor.instanceID,
                checks: checks.mapValues { $0 ? "ok" : "pending" })
            let data = try JSONCoding.encoder.encode(body)
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/metrics") { request, _ -> Response in
            guard metricsAccess.admits(authorization: request.headers[.authorization]) else { throw MetricsAccess.refusal }
            var buffer = [UInt8]()
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            buffer = MetricsExposition.addingHelp(to: buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let openAPIBody = openAPI.jsonBytes()
        router.get("/openapi.json") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: openAPIBody)))
        }
    }

    /// An application bound to `host:port` (port 0 picks a free one; `boundAddress` tells which).
    /// `services` start before the server, in order (the store first) and stop after it drains;
    /// `beforeServerStarts` runs once they are up (migrations, seeding).
    public func makeApplication<Responder: HTTPResponder>(
        responder: Responder,
        host: String,
        port: Int,
        services: [any Service] = [],
        beforeServerStarts: (@Sendable () async throws -> Void)? = nil
    ) -> some ApplicationProtocol where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        let boundAddress = self.boundAddress
        var application = Application(
            responder: responder,
            server: limits.serverBuilder(connections: connections, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: limits.backlog),
            services: services,
            onServerRunning: { channel in
                boundAddress.set(host: host, port: channel.localAddress?.port ?? port)
            },
            logger: logger
        )
        if let beforeServerStarts { application.beforeServerStarts(perform: beforeServerStarts) }
        return application
    }
}

/// swift-metrics handles carry no help text, so the registry emits `# TYPE` without `# HELP`, which
/// `promtool check metrics` refuses. Every family without one gets a `# HELP` line here.
enum MetricsExposition {
    static let help: [String: String] = [
        "http_requests_total": "HTTP requests answered, by method, route template and status.",
        "http_request_duration_seconds": "HTTP request handling time, by method and route template.",
        "gateway_upstream_requests_total": "Requests the gateway forwarded upstream, by service and status.",
        "gateway_upstream_duration_seconds": "Time spent waiting for upstream services, by service.",
    ]

    static func addingHelp(to exposition: [UInt8]) -> [UInt8] {
        var helped = Set<Substring>()
        var output = ""
        output.reserveCapacity(exposition.count + 512)
        for line in String(decoding: exposition, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("# HELP "), let name = line.dropFirst(7).split(separator: " ").first {
                helped.insert(name)
            } else if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first, !helped.contains(name)
            {
                helped.insert(name)
                output += "# HELP \(name) \(help[String(name)] ?? "Malha metric \(name).")\n"
            }
            output += line
            output += "\n"
        }
        return Array(output.utf8)
    }
}

struct HealthStatus: ResponseEncodable {
    var status: String
    var service: String
    var instance: String
    var checks: [String: String]
}

/// The address a server actually bound to, known once it runs. Waiters suspend until then, or
/// until their task is cancelled (a server that never binds — its port taken — must not keep the
/// services waiting for it from stopping).
public final class BoundAddress: Sendable {
    private struct State {
        var address: (host: String, port: Int)?
        var waiters: [UInt64: CheckedContinuation<(host: String, port: Int), any Error>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func set(host: String, port: Int) {
        let waiters = state.withLock { state in
            state.address = (host, port)
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: (host, port)) }
    }

    public var current: (host: String, port: Int)? { state.withLock { $0.address } }

    /// Suspends until the server is bound; throws `CancellationError` when the task is cancelled first.
    public func value() async throws -> (host: String, port: Int) {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enum Next {
                    case ready((host: String, port: Int))
                    case cancelled, waiting
                }
                let next = state.withLock { state -> Next in
                    if let address = state.address { return .ready(address) }
                    if Task.isCancelled { return .cancelled }
                    state.waiters[id] = continuation
                    return .waiting
                }
                switch next {
                case .ready(let address): continuation.resume(returning: address)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// `http://host:port` once bound.
    public func baseURL() async throws -> String {
        let (host, port) = try await value()
        return "http://\(host):\(port)"
    }
}

/// Runs `service` once a readiness condition holds (a consumer waits for its service's
/// `migrations`); returns without starting it when shutdown comes first.
public struct StartsWhenReady: Service {
    let readiness: Readiness
    let condition: ReadinessCondition
    let service: any Service

    public init(_ service: any Service, readiness: Readiness, condition: ReadinessCondition = .migrations) {
        self.service = service
        self.readiness = readiness
        self.condition = condition
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await readiness.wait(for: condition) }
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        try await service.run()
    }
}
