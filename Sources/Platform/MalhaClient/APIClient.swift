public import AsyncHTTPClient
public import Foundation
import MalhaCore
import NIOCore
public import NIOHTTP1

/// A small JSON-over-HTTP client for Malha's API, as a person's tool talks to it from outside:
/// the gateway, or one service directly. For the operator commands of `malha` and the load tools
/// of `malha-bench`. It owns its `HTTPClient`: use it within `with(base:_:)`, or `shutdown()` it.
public struct APIClient: Sendable {
    /// Where paths are sent, e.g. `http://127.0.0.1:8080`.
    public let base: String
    public let http: HTTPClient

    public init(base: String) {
        self.base = base
        http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
    }

    /// An answer, whatever its status.
    public struct Response: Sendable {
        public var status: Int
        /// `Idempotent-Replayed: true`: the answer of an earlier request with the same key.
        public var replayed: Bool
        public var body: Data

        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body's first 300 bytes, for a message.
        public var excerpt: String { String(decoding: body.prefix(300), as: UTF8.self) }
        /// A problem+json answer's `code`.
        public var problemCode: String? { json["code"] as? String }
    }

    /// The sign-in failed: its answer.
    public struct SignInFailed: Error, CustomStringConvertible {
        public var email: String
        public var status: Int
        public var detail: String
        public var description: String { "login \(email) failed: \(status) \(detail)" }
    }

    /// A request with a body already encoded (so that a retry can send the very same bytes).
    public func send(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, token: String? = nil, headers: [(String, String)] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
        let collected = try await response.body.collect(upTo: 16 << 20)
        return Response(
            status: Int(response.status.code), replayed: response.headers.first(name: "Idempotent-Replayed") == "true",
            body: Data(collected.readableBytesView))
    }

    /// A request with a JSON object for its body.
    public func send(
        _ method: HTTPMethod, _ path: String, json: [String: Any], token: String? = nil, headers: [(String, String)] = []
    ) async throws -> Response {
        try await send(method, path, body: try JSONSerialization.data(withJSONObject: json), token: token, headers: headers)
    }

    /// Signs in through identity (`POST /v1/auth/login`): the access token.
    public func login(_ email: String, _ password: String) async throws -> String {
        let login = try await send(.POST, "/v1/auth/login", json: ["email": email, "password": password])
        guard let token = login.json["access_token"] as? String else {
            throw SignInFailed(email: email, status: login.status, detail: login.text)
        }
        return token
    }

    public func shutdown() async throws { try await http.shutdown() }

    /// Runs `body` with a client of `base`, shut down afterwards whether `body` returns or throws.
    public static func with<Result>(base: String, _ body: (APIClient) async throws -> Result) async throws -> Result {
        let client = APIClient(base: base)
        let result: Result
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }
}
