import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaIdentity
import MalhaTesting
import Testing

@testable import Identity

/// The topology's own service clients: provisioned at start, and a service's token source
/// asking for exactly its scopes and keeping the token.
@Suite("Identity: provisioned service clients and their tokens")
struct ServiceClientTests {
    static func basic(_ id: String, _ secret: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()]
    }

    static let form = "grant_type=client_credentials"
    static let formType = "application/x-www-form-urlencoded"

    /// Provisioning creates the client with its scopes and no role, and provisioning it again (the
    /// next start of `up`) replaces its secret: the previous one stops working.
    @Test func provisioningCreatesThenReplacesTheSecret() async throws {
        let harness = try await IdentityHarness.make()
        let first = ProvisionedClient(id: "consolidation", secret: "first-secret-0123456789", scopes: ["ledger.read"])
        try await IdentityService.provision(first, repository: harness.repository, clock: harness.clock)
        try await harness.test { client in
            let token = try await client.send(
                .post, "/v1/oauth/token", body: Self.form, contentType: Self.formType,
                headers: Self.basic("consolidation", first.secret))
            #expect(token.status == .ok)
            #expect(token.string("scope") == "ledger.read")
            let principal = try await harness.verifier().verify(try #require(token.string("access_token")))
            #expect(principal.subject == "client:consolidation" && principal.roles.isEmpty)
            #expect(principal.scopes == ["ledger.read"])
            let wider = try await client.send(
                .post, "/v1/oauth/token", body: Self.form + "&scope=ledger.read%20ledger.write", contentType: Self.formType,
                headers: Self.basic("consolidation", first.secret))
            #expect(wider.status == .badRequest && wider.code == "invalid_scope")

            var second = first
            second.secret = "second-secret-0123456789"
            try await IdentityService.provision(second, repository: harness.repository, clock: harness.clock)
            let stale = try await client.send(
                .post, "/v1/oauth/token", body: Self.form, contentType: Self.formType,
                headers: Self.basic("consolidation", first.secret))
            #expect(stale.status == .unauthorized && stale.code == "invalid_client")
            let fresh = try await client.send(
                .post, "/v1/oauth/token", body: Self.form, contentType: Self.formType,
                headers: Self.basic("consolidation", second.secret))
            #expect(fresh.status == .ok)
        }
        #expect(try await harness.repository.auditRecords(event: .clientProvisioned).count == 2)
    }

    /// Against identity over a real socket: one token request however many callers ask at once,
    /// the token kept until a minute before it expires, asked again after `invalidate()`; a
    /// refused secret is `Unavailable`, never a token.
    @Test func theTokenSourceAsksOnceAndRenewsBeforeExpiry() async throws {
        let harness = try await IdentityHarness.make()
        let secret = "orders-secret-0123456789"
        try await IdentityService.provision(
            ProvisionedClient(id: "orders", secret: secret, scopes: ["catalog.read"]), repository: harness.repository,
            clock: harness.clock)
        let requests: @Sendable () async throws -> Int = { try await harness.repository.auditRecords(event: .clientToken).count }
        try await Application(router: harness.router).test(.live) { client in
            let url = "http://127.0.0.1:\(try #require(client.port))/v1/oauth/token"
            let source = ServiceTokenSource(
                credentials: .init(clientID: "orders", clientSecret: secret, tokenURL: url, scopes: ["catalog.read"]),
                httpClient: .shared, clock: harness.clock)
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 { group.addTask { try await source.authorization() } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1 && tokens.first?.hasPrefix("Bearer ") == true)
            #expect(try await requests() == 1)
            let principal = try await harness.verifier().verify(String(try #require(tokens.first).dropFirst(7)))
            #expect(principal.subject == "client:orders" && principal.scopes == ["catalog.read"])

            harness.clock.advance(by: .seconds(13 * 60))
            _ = try await source.token()
            #expect(try await requests() == 1, "kept: 15-minute token, renewed from minute 14")
            harness.clock.advance(by: .seconds(61))
            _ = try await source.token()
            #expect(try await requests() == 2, "renewed a minute before it expires")
            await source.invalidate()
            _ = try await source.token()
            #expect(try await requests() == 3, "asked again once a call was refused")

            let refused = ServiceTokenSource(
                credentials: .init(clientID: "orders", clientSecret: "wrong", tokenURL: url, scopes: ["catalog.read"]),
                httpClient: .shared, clock: harness.clock)
            await #expect(throws: ServiceTokenSource.Unavailable.self) { try await refused.token() }
        }
    }
}
