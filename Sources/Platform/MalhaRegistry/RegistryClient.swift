import AsyncHTTPClient
import Foundation
import Logging
import MalhaCore
import MalhaHTTP
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Talks to the registry over HTTP with one service's registry credential.
public struct RegistryClient: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case leaseLapsed
        /// The registry refused the registration (a foreign route, another service's instance id):
        /// the status and the problem's detail.
        case refused(Int, String)
        case unexpectedStatus(Int)

        public var description: String {
            switch self {
            case .leaseLapsed: "the lease lapsed"
            case .refused(let status, let detail): "refused (\(status)): \(detail)"
            case .unexpectedStatus(let status): "unexpected status \(status)"
            }
        }
    }

    public let baseURL: String
    let credential: RegistryCredential
    let httpClient: HTTPClient
    let timeout: Duration

    public init(baseURL: String, credential: RegistryCredential, httpClient: HTTPClient, timeout: Duration = .seconds(2)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credential = credential
        self.httpClient = httpClient
        self.timeout = timeout
    }

    public struct Registration: Encodable, Sendable {
        public var id: String
        public var service: String
        public var version: String
        public var baseURL: String
        public var healthURL: String
        public var routes: [RouteRule]
        public var ttlSeconds: Int

        enum CodingKeys: String, CodingKey {
            case id, service, version, routes
            case baseURL = "base_url"
            case healthURL = "health_url"
            case ttlSeconds = "ttl_seconds"
        }
    }

    public func register(_ registration: Registration) async throws {
        let body = try JSONCoding.encoder.encode(registration)
        let (status, answer) = try await send(.POST, "/v1/registry/instances", body: body)
        if (400..<500).contains(status) {
            struct Detail: Decodable { var detail: String? }
            let detail = (try? JSONCoding.decoder.decode(Detail.self, from: Data(answer.readableBytesView)))?.detail
            throw Failure.refused(status, detail ?? "no detail")
        }
        guard status == 201 else { throw Failure.unexpectedStatus(status) }
    }

    public func renew(id: String, ttlSeconds: Int) async throws {
        let status = try await send(.PUT, "/v1/registry/instances/\(id)/lease?ttl_seconds=\(ttlSeconds)").status
        if status == 404 { throw Failure.leaseLapsed }
        guard status == 200 else { throw Failure.unexpectedStatus(status) }
    }

    public func deregister(id: String) async throws {
        let status = try await send(.DELETE, "/v1/registry/instances/\(id)").status
        guard status == 204 || status == 404 else { throw Failure.unexpectedStatus(status) }
    }

    public func instances() async throws -> [ServiceInstance] {
        struct List: Decodable { var items: [ServiceInstance] }
        let (status, body) = try await send(.GET, "/v1/registry/instances")
        guard status == 200 else { throw Failure.unexpectedStatus(status) }
        return try JSONCoding.decoder.decode(List.self, from: Data(body.readableBytesView)).items
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (status: Int, body: ByteBuffer) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "X-Registry-Token", value: credential.header)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await httpClient.execute(request, timeout: .init(timeout))
        let buffer = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), buffer)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.nanoseconds)
    }
}

/// Keeps one instance registered for as long as it runs: registers once the server is bound
/// (retrying with backoff while the registry is unreachable), renews the lease every third of its
/// TTL, registers again if the lease lapsed, and deregisters on graceful shutdown.
///
/// Put it in the service group *after* the application, so shutdown deregisters first (the
/// gateway stops routing here) and the server drains after.
public struct RegistryRegistrar: Service {
    let client: RegistryClient
    let runtime: ServiceRuntime
    let routes: [RouteRule]
    let ttl: Duration

    public init(client: RegistryClient, runtime: ServiceRuntime, routes: [RouteRule], ttl: Duration = .seconds(10)) {
        self.client = client
        self.runtime = runtime
        self.routes = routes
        self.ttl = ttl
        runtime.readiness.require(.registered)
    }

    public func run() async throws {
        // Stopped before the server was bound (its port taken, another service failed): nothing to
        // register, and no waiting for a server that will never come.
        guard let baseURL = try? await cancelWhenGracefulShutdown({ try await runtime.boundAddress.baseURL() }) else {
            return
        }
        let ttlSeconds = Int(max(1, ttl.secondsRoundedUp))
        let registration = RegistryClient.Registration(
            id: runtime.descriptor.instanceID, service: runtime.descriptor.name, version: runtime.descriptor.version,
            baseURL: baseURL, healthURL: baseURL + "/health/ready", routes: routes, ttlSeconds: ttlSeconds)
        let backoff = Backoff(base: .milliseconds(50), cap: .seconds(2))
        var registered = false
        var failures = 0
        await withGracefulShutdownHandler {
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                do {
                    if registered {
                        try await client.renew(id: registration.id, ttlSeconds: ttlSeconds)
                    } else {
                        try await client.register(registration)
                        registered = true
                        runtime.readiness.set(.registered, true)
                        runtime.logger.info("registered", metadata: ["registry": "\(client.baseURL)", "url": "\(baseURL)"])
                    }
                    failures = 0
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: ttl / 3) }
                } catch RegistryClient.Failure.leaseLapsed {
                    registered = false
                    runtime.logger.warning("lease lapsed; registering again")
                } catch {
                    failures += 1
                    if failures == 1 || failures % 20 == 0 {
                        // Refused is a configuration error (a wrong credential, an unowned route)
                        // that retrying will not mend; it keeps trying so a corrected registry is
                        // picked up.
                        if case .refused = error as? RegistryClient.Failure {
                            runtime.logger.error(
                                "registration refused", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                        } else {
                            runtime.logger.warning(
                                "registry unreachable", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                        }
                    }
                    let delay = backoff.delay(attempt: failures)
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                }
            }
        } onGracefulShutdown: {
        }
        if registered {
            runtime.readiness.set(.registered, false)
            do {
                try await client.deregister(id: registration.id)
                runtime.logger.info("deregistered")
            } catch {
                runtime.logger.warning("deregistration failed; the lease will lapse", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// The gateway's view of the registry: polls the live instances every `interval` and serves the
/// last good snapshot (a registry outage keeps the last view; leases keep their meaning upstream).
public final class PollingInstanceSource: ServiceInstanceSource, Service {
    let client: RegistryClient
    let interval: Duration
    let logger: Logger
    let onFirstView: @Sendable () -> Void
    private let snapshot = Mutex<[ServiceInstance]>([])

    public init(
        client: RegistryClient, interval: Duration = .milliseconds(250), logger: Logger,
        onFirstView: @escaping @Sendable () -> Void = {}
    ) {
        self.client = client
        self.interval = interval
        self.logger = logger
        self.onFirstView = onFirstView
    }

    public func currentInstances() -> [ServiceInstance] { snapshot.withLock { $0 } }

    public func run() async throws {
        var haveView = false
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let instances = try await client.instances()
                snapshot.withLock { $0 = instances }
                failures = 0
                if !haveView {
                    haveView = true
                    onFirstView()
                }
            } catch {
                failures += 1
                if failures == 1 || failures % 40 == 0 {
                    logger.warning("registry poll failed", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
