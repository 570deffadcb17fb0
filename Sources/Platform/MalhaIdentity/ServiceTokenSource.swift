public import AsyncHTTPClient
public import Foundation
public import MalhaCore
import NIOCore
import NIOHTTP1

/// What a service presents when it calls another service as itself.
public protocol ServiceCredential: Sendable {
    /// The `Authorization` header value (`Bearer …`).
    func authorization() async throws -> String
    /// A call with the last one was answered 401: the next `authorization()` gets another.
    func invalidate() async
}

/// A service's own access token for its calls to other services: a client-credentials grant
/// (RFC 6749 §4.4) at identity's token endpoint, as the client `client:<id>` with exactly the
/// scopes the service declares it needs, kept until a minute before it expires.
///
/// Concurrent callers share one token and one request for it (an actor holding the fetch in
/// flight). A call answered 401 (identity rotated its keys, or withdrew the client) drops the
/// token with `invalidate()` so that the next call asks again.
public actor ServiceTokenSource: ServiceCredential {
    /// Who the service is to identity, and where it asks.
    public struct Credentials: Sendable, Hashable {
        public var clientID: String
        public var clientSecret: String
        /// Identity's `/v1/oauth/token` (directly or through the gateway).
        public var tokenURL: String
        /// What the token is asked for: each one the client holds, and no more.
        public var scopes: [String]

        public init(clientID: String, clientSecret: String, tokenURL: String, scopes: [String]) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.tokenURL = tokenURL
            self.scopes = scopes
        }
    }

    /// Identity did not give a token (down, or the credentials are refused).
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public nonisolated let credentials: Credentials
    let httpClient: HTTPClient
    let clock: any WallClock
    private var current: (token: String, renewAt: Date)?
    private var inFlight: Task<(token: String, renewAt: Date), any Error>?

    public init(credentials: Credentials, httpClient: HTTPClient, clock: any WallClock = SystemWallClock()) {
        self.credentials = credentials
        self.httpClient = httpClient
        self.clock = clock
    }

    /// `Bearer <token>`, for an `Authorization` header.
    public func authorization() async throws -> String {
        "Bearer " + (try await token())
    }

    /// A valid token: the kept one, or a new one.
    public func token() async throws -> String {
        if let current, clock.now() < current.renewAt { return current.token }
        if let inFlight { return try await inFlight.value.token }
        let task = Task { [credentials, httpClient, clock] in
            try await Self.fetch(credentials, httpClient: httpClient, now: clock.now())
        }
        inFlight = task
        defer { inFlight = nil }
        let fetched = try await task.value
        current = fetched
        return fetched.token
    }

    /// Forgets the kept token (a call with it was answered 401).
    public func invalidate() {
        current = nil
    }

    struct TokenResponse: Decodable {
        var accessToken: String
        var expiresIn: Int

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case expiresIn = "expires_in"
        }
    }

    static func fetch(
        _ credentials: Credentials, httpClient: HTTPClient, now: Date
    ) async throws -> (token: String, renewAt: Date) {
        var request = HTTPClientRequest(url: credentials.tokenURL)
        request.method = .POST
        let basic = Data("\(formEncoded(credentials.clientID)):\(formEncoded(credentials.clientSecret))".utf8)
        request.headers.add(name: "Authorization", value: "Basic " + basic.base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let form = "grant_type=client_credentials&scope=" + formEncoded(credentials.scopes.joined(separator: " "))
        request.body = .bytes(ByteBuffer(string: form))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: .seconds(5))
            body = try await response.body.collect(upTo: 64 << 10)
        } catch {
            throw Unavailable(description: "identity's token endpoint could not be reached: \(error)")
        }
        guard response.status == .ok else {
            throw Unavailable(
                description: "identity answered \(response.status.code) to client \(credentials.clientID)'s token request")
        }
        guard let answer = try? JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)), answer.expiresIn > 0
        else { throw Unavailable(description: "identity's token response could not be read") }
        // Renewed a minute early (or halfway, for a short-lived token), so a call never carries a
        // token that expires on its way.
        let margin = min(60, answer.expiresIn / 2)
        return (answer.accessToken, now.addingTimeInterval(TimeInterval(answer.expiresIn - margin)))
    }

    /// RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined for Basic.
    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
