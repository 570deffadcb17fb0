import AsyncHTTPClient
import Foundation
import Hummingbird
import MalhaIdentity
import Testing

@testable import malha

/// The process's shared HTTP client follows no redirect: a JWKS URL that answers 302 towards
/// another key set is a failed fetch, not that key set.
@Suite("Shared HTTP client")
struct SharedHTTPClientTests {
    @Test func aRedirectingJWKSURLIsNotFollowed() async throws {
        let router = Router()
        router.get("/jwks") { _, _ -> Response in
            Response(status: .found, headers: [.location: "/attacker-keys"])
        }
        router.get("/attacker-keys") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"keys":[]}"#)))
        }
        let port = try freePort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        let client = Topology.makeSharedHTTPClient()
        defer { _ = client.shutdown() }
        let provider = HTTPJWKSProvider(url: "http://127.0.0.1:\(port)/jwks", httpClient: client)
        var outcome: (any Error)?
        for _ in 0..<100 {
            do {
                _ = try await provider.fetchJWKS()
                outcome = nil
                break
            } catch let error as HTTPJWKSProvider.UnexpectedStatus {
                outcome = error
                break
            } catch {
                outcome = error  // not listening yet
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let status = try #require(outcome as? HTTPJWKSProvider.UnexpectedStatus, "\(String(describing: outcome))")
        #expect(status.status == 302)
    }
}
