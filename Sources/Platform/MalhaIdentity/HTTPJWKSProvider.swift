import AsyncHTTPClient
import Foundation
import NIOCore

/// Fetches a JWKS document over HTTP (identity's `/.well-known/jwks.json`).
public struct HTTPJWKSProvider: JWKSProvider {
    public let url: String
    let httpClient: HTTPClient

    public init(url: String, httpClient: HTTPClient) {
        self.url = url
        self.httpClient = httpClient
    }

    public struct UnexpectedStatus: Error { public var status: Int }

    public func fetchJWKS() async throws -> JWKSDocument {
        let response = try await httpClient.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw UnexpectedStatus(status: Int(response.status.code)) }
        return try JSONDecoder().decode(JWKSDocument.self, from: Data(body.readableBytesView))
    }
}
