public import AsyncHTTPClient
import Foundation
public import Logging
public import MalhaRegistry
import Metrics
import NIOCore
public import ServiceLifecycle

/// Active health checks: every `interval`, probes the health URL of each registered instance and
/// of each static upstream that declares a `health_path`, all at once, and records the outcome in
/// `UpstreamHealth`. A probe passes on a 2xx within `timeout`; anything else (refused, timed out,
/// 503 from `/health/ready`) fails it.
public struct UpstreamHealthChecker: Service {
    public struct Target: Sendable, Hashable {
        /// The upstream as routes name it (normalised base URL).
        public var baseURL: String
        public var healthURL: String
        public var service: String
    }

    let source: any ServiceInstanceSource
    let staticRoutes: StaticRoutesFile
    let health: UpstreamHealth
    let httpClient: HTTPClient
    let interval: Duration
    let timeout: Duration
    let logger: Logger
    let metricsFactory: any MetricsFactory

    public init(
        source: any ServiceInstanceSource, staticRoutes: StaticRoutesFile, health: UpstreamHealth, httpClient: HTTPClient,
        interval: Duration, timeout: Duration, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.source = source
        self.staticRoutes = staticRoutes
        self.health = health
        self.httpClient = httpClient
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            await checkOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Probes every current target once and records the outcomes.
    public func checkOnce() async {
        let targets = currentTargets()
        health.retainProbes(of: Set(targets.map(\.baseURL)))
        await withTaskGroup(of: (Target, Bool).self) { group in
            for target in targets {
                group.addTask { (target, await probe(target)) }
            }
            for await (target, passed) in group {
                Gauge(
                    label: "gateway_upstream_healthy", dimensions: [("service", target.service), ("upstream", target.baseURL)],
                    factory: metricsFactory
                ).record(passed ? 1 : 0)
                switch health.record(probeOf: target.baseURL, succeeded: passed) {
                case true?:
                    logger.warning(
                        "upstream failing its health checks; out of rotation",
                        metadata: ["upstream": "\(target.baseURL)", "service": "\(target.service)"])
                case false?:
                    logger.info(
                        "upstream passing its health checks again",
                        metadata: ["upstream": "\(target.baseURL)", "service": "\(target.service)"])
                case nil: break
                }
            }
        }
    }

    func currentTargets() -> [Target] {
        var targets: Set<Target> = []
        for instance in source.currentInstances() {
            targets.insert(
                Target(
                    baseURL: RouteTable.normalized(instance.baseURL), healthURL: instance.healthURL, service: instance.service))
        }
        for route in staticRoutes.routes {
            guard let path = route.healthPath else { continue }
            for upstream in route.upstreams {
                let base = RouteTable.normalized(upstream)
                targets.insert(Target(baseURL: base, healthURL: base + path, service: route.service ?? "static"))
            }
        }
        return Array(targets)
    }

    func probe(_ target: Target) async -> Bool {
        var request = HTTPClientRequest(url: target.healthURL)
        request.method = .GET
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            // Drain (bounded) so the connection goes back to the pool.
            _ = try await response.body.collect(upTo: 64 << 10)
            return (200..<300).contains(response.status.code)
        } catch {
            return false
        }
    }
}
