import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaGateway
import MalhaHTTP
import MalhaOpenAPI
import MalhaIdentity
import MalhaRegistry
import MalhaTesting
import NIOCore
import NIOHTTP1
import Synchronization

/// What an upstream test server saw, echoed back as JSON.
struct GatewayEcho: Codable, Sendable {
    var upstream: String
    var method: String
    var target: String
    var headers: [String: String]
    var body: String
}

/// A real Hummingbird server on 127.0.0.1, port 0, run until `stop()`.
final class GatewayTestServer: Sendable {
    let name: String
    let baseURL: String
    private let task: Task<Void, any Error>
    /// A request to `/slow` waits until this opens (a gate, not a timer).
    let released: GatewayGate
    /// What `/health/ready` answers.
    let health: HealthSwitch

    private init(name: String, baseURL: String, task: Task<Void, any Error>, released: GatewayGate, health: HealthSwitch) {
        self.name = name
        self.baseURL = baseURL
        self.task = task
        self.released = released
        self.health = health
    }

    func setHealth(_ mode: HealthSwitch.Mode) { health.set(mode) }

    /// An upstream echoing every request (any path), with a gated `/slow` path.
    static func upstream(_ name: String) async throws -> GatewayTestServer {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: name), logger: Logger(label: "test.\(name)"))
        let released = GatewayGate()
        let health = HealthSwitch()
        let router = Router()
        router.get("/health/ready") { _, _ -> Response in
            switch health.mode {
            case .notReady: return Response(status: .serviceUnavailable)
            case .hanging:
                try await Task.sleep(for: .seconds(5))
                return Response(status: .ok)
            case .ready: return Response(status: .ok)
            }
        }
        router.get("/slow") { _, _ -> Response in
            // Waits for the test to release it (bounded, so a failing test cannot hang forever).
            for _ in 0..<500 where !released.isOpen {
                try await Task.sleep(for: .milliseconds(10))
            }
            return Response(status: .ok)
        }
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
            }
            // HTTPTypes carries Host as the request's authority.
            if let authority = request.head.authority { headers["host"] = authority }
            let echo = GatewayEcho(
                upstream: name, method: request.method.rawValue, target: request.head.path ?? "",
                headers: headers, body: String(buffer: body))
            var responseHeaders: HTTPFields = [.contentType: "application/json"]
            responseHeaders[HTTPField.Name("X-Upstream")!] = name
            responseHeaders[HTTPField.Name("Keep-Alive")!] = "timeout=5"
            responseHeaders[HTTPField.Name("X-Secret-Hop")!] = "must not pass"
            responseHeaders.append(HTTPField(name: .connection, value: "X-Secret-Hop"))
            let status: HTTPResponse.Status = request.method == .post ? .created : .ok
            return Response(
                status: status, headers: responseHeaders,
                body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(echo))))
        }
        // Answers from the headers alone, never reading the body (as a 401 or 415 does). Its own
        // first segment: the router's trie does not fall back from a matched segment to `/**`.
        router.post("/refuse-early") { _, _ in Response(status: .unauthorized) }
        router.on("/**", method: .get, use: echo)
        router.on("/**", method: .post, use: echo)
        router.on("/**", method: .delete, use: echo)
        router.on("/", method: .get, use: echo)
        let app = runtime.makeApplication(responder: router.buildResponder(), host: "127.0.0.1", port: 0)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        let baseURL = try await runtime.boundAddress.baseURL()
        return GatewayTestServer(name: name, baseURL: baseURL, task: task, released: released, health: health)
    }

    /// The gateway itself, on port 0.
    static func gateway(
        configuration: GatewayConfiguration, runtime: ServiceRuntime, instances: any ServiceInstanceSource,
        verifier: AccessTokenVerifier, httpClient: HTTPClient, clock: any WallClock
    ) async throws -> GatewayTestServer {
        var configuration = configuration
        configuration.port = 0
        let app = try await GatewayService.buildApplication(
            configuration: configuration, runtime: runtime, instances: instances, verifier: verifier, httpClient: httpClient,
            services: [], clock: clock)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        let baseURL = try await runtime.boundAddress.baseURL()
        return GatewayTestServer(
            name: "gateway", baseURL: baseURL, task: task, released: GatewayGate(), health: HealthSwitch())
    }

    func stop() async {
        released.open()
        task.cancel()
        _ = try? await task.value
    }
}

/// What a test upstream's `/health/ready` answers, switched by the test.
final class HealthSwitch: Sendable {
    enum Mode: Int {
        case ready = 0
        /// 503, as a service whose database is down answers.
        case notReady = 1
        /// Accepts the request and answers only after any probe timeout.
        case hanging = 2
    }
    private let raw = Atomic<Int>(Mode.ready.rawValue)
    var mode: Mode { Mode(rawValue: raw.load(ordering: .relaxed)) ?? .ready }
    func set(_ mode: Mode) { raw.store(mode.rawValue, ordering: .relaxed) }
}

final class GatewayGate: Sendable {
    private let flag = Atomic<Bool>(false)
    var isOpen: Bool { flag.load(ordering: .relaxed) }
    func open() { flag.store(true, ordering: .relaxed) }
}

/// A test instance source whose view tests change.
final class MutableInstanceSource: ServiceInstanceSource {
    private let instances: Mutex<[ServiceInstance]>
    init(_ instances: [ServiceInstance] = []) { self.instances = Mutex(instances) }
    func currentInstances() -> [ServiceInstance] { instances.withLock { $0 } }
    func set(_ new: [ServiceInstance]) { instances.withLock { $0 = new } }
}

func gatewayInstance(_ id: String, service: String, baseURL: String, routes: [RouteRule]) -> ServiceInstance {
    ServiceInstance(
        id: id, service: service, version: "1", baseURL: baseURL, healthURL: baseURL + "/health/ready", routes: routes,
        registeredAt: Date(timeIntervalSince1970: 0), leaseExpiresAt: Date(timeIntervalSince1970: 1e10))
}

/// A plain HTTP response read whole.
struct GatewayTestResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    func echo() throws -> GatewayEcho { try JSONDecoder().decode(GatewayEcho.self, from: body) }
    func problem() throws -> ProblemBody { try JSONDecoder().decode(ProblemBody.self, from: body) }
}

extension HTTPClient {
    func send(
        _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> GatewayTestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return GatewayTestResponse(
            status: Int(response.status.code), headers: response.headers, body: Data(bytes.readableBytesView))
    }
}
