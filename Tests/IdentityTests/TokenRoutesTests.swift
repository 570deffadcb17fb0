import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import Testing

@testable import Identity

@Suite("Identity: refresh tokens, keys, discovery")
struct TokenRoutesTests {
    @Test func refreshRotatesAndReuseRevokesTheWholeFamily() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let first = try await client.session("gil@example.com")
            let rotated = try await client.post("/v1/auth/refresh", ["refresh_token": first.refresh])
            #expect(rotated.status == .ok)
            let second = try #require(rotated.string("refresh_token"))
            #expect(second != first.refresh)
            #expect(rotated.string("access_token") != nil)

            // Replaying the spent token: refused, and the family is revoked…
            let replay = try await client.post("/v1/auth/refresh", ["refresh_token": first.refresh])
            #expect(replay.status == .unauthorized)
            #expect(replay.code == "invalid_refresh_token")
            // …so the newest token of the family stops working too.
            let newest = try await client.post("/v1/auth/refresh", ["refresh_token": second])
            #expect(newest.status == .unauthorized)

            let unknown = try await client.post("/v1/auth/refresh", ["refresh_token": "bm90LWEtdG9rZW4"])
            #expect(unknown.status == .unauthorized)
            let wrongType = try await client.post("/v1/auth/refresh", ["refresh_token": 7])
            #expect(wrongType.status == .unprocessableContent)
        }
        let reuse = try await harness.repository.auditRecords(event: .refreshReuse)
        #expect(reuse.count == 2)  // the replay, then the revoked newest token
        let family = try #require(reuse.first?.detail)
        #expect(try await harness.repository.isFamilyRevoked(family))
        #expect(try await harness.repository.auditRecords(event: .refresh).count == 1)
    }

    @Test func refreshTokensExpire() async throws {
        let harness = try await IdentityHarness.make { $0.refreshTokenLifetimeSeconds = 3600 }
        try await harness.test { client in
            let session = try await client.session("hana@example.com")
            harness.clock.advance(by: .seconds(3601))
            #expect(try await client.post("/v1/auth/refresh", ["refresh_token": session.refresh]).status == .unauthorized)
        }
        // Expiry is not theft: nothing was revoked.
        #expect(try await harness.repository.auditRecords(event: .refreshReuse).isEmpty)
    }

    @Test func logoutRevokesTheFamily() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let session = try await client.session("ines@example.com")
            let other = try await client.login("ines@example.com", "a-long-enough-password")  // a second device
            let otherRefresh = try #require(other.string("refresh_token"))

            #expect(try await client.post("/v1/auth/logout", ["refresh_token": session.refresh]).status == .noContent)
            #expect(try await client.post("/v1/auth/refresh", ["refresh_token": session.refresh]).status == .unauthorized)
            // Another login is another family and stays valid.
            #expect(try await client.post("/v1/auth/refresh", ["refresh_token": otherRefresh]).status == .ok)
            // Idempotent.
            #expect(try await client.post("/v1/auth/logout", ["refresh_token": session.refresh]).status == .noContent)
            #expect(try await client.post("/v1/auth/logout", ["refresh_token": "unknown"]).status == .noContent)
        }
        #expect(try await harness.repository.auditRecords(event: .logout).count == 2)
    }

    @Test func jwksPublishesTheSigningKeyAndDiscoveryPointsAtIt() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let session = try await client.session("joao@example.com")
            let kid = try #require(keyID(of: session.access))
            let jwks = try await client.send(.get, "/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let keys = try #require(jwks.json["keys"] as? [[String: Any]])
            #expect(keys.count == 1)
            #expect(keys.first?["kid"] as? String == kid)
            #expect(keys.first?["alg"] as? String == "ES256")
            #expect(keys.first?["kty"] as? String == "EC")
            #expect(keys.first?["crv"] as? String == "P-256")
            #expect(keys.first?["d"] == nil)  // never the private part

            let discovery = try await client.send(.get, "/.well-known/openid-configuration")
            #expect(discovery.status == .ok)
            #expect(discovery.string("issuer") == "https://malha.test")
            #expect(discovery.string("jwks_uri") == "https://api.malha.test/.well-known/jwks.json")
            #expect(discovery.string("token_endpoint") == "https://api.malha.test/v1/oauth/token")
            // Only what exists: client credentials at the token endpoint, no authorization
            // endpoint (so no response type), no ID tokens.
            #expect(discovery.json["grant_types_supported"] as? [String] == ["client_credentials"])
            #expect(discovery.json["response_types_supported"] as? [String] == [])
            #expect(discovery.json["id_token_signing_alg_values_supported"] == nil)
            #expect(
                discovery.json["token_endpoint_auth_methods_supported"] as? [String] == [
                    "client_secret_basic", "client_secret_post",
                ])
        }
    }

    @Test func keyRotationKeepsPreviousTokensValidForOneGeneration() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let (totp, _) = try await harness.enrolMFA(client)
            let admin = try await harness.loginWithSecondFactor(client, totp: totp).access
            let before = try await client.session("kai@example.com")
            let firstKid = try #require(keyID(of: before.access))

            let customer = try await client.post("/v1/auth/keys/rotate", [:], token: before.access)
            #expect(customer.status == .forbidden)

            let rotated = try await client.post("/v1/auth/keys/rotate", [:], token: admin)
            #expect(rotated.status == .created)
            let secondKid = try #require(rotated.string("kid"))
            #expect(secondKid != firstKid)

            let kids = try await client.send(.get, "/.well-known/jwks.json").json["keys"] as? [[String: Any]]
            #expect(Set(kids?.compactMap { $0["kid"] as? String } ?? []) == [firstKid, secondKid])

            // Old token still accepted; new tokens are signed with the new key.
            #expect(try await client.send(.get, "/v1/auth/me", token: before.access).status == .ok)
            let after = try await client.login("kai@example.com", "a-long-enough-password")
            let newAccess = try #require(after.string("access_token"))
            #expect(keyID(of: newAccess) == secondKid)
            #expect(try await client.send(.get, "/v1/auth/me", token: newAccess).status == .ok)

            // A second rotation retires the first key: its tokens stop verifying.
            let admin2 = try await harness.loginWithSecondFactor(client, totp: totp).access
            #expect(try await client.post("/v1/auth/keys/rotate", [:], token: admin2).status == .created)
            let kidsNow = try await client.send(.get, "/.well-known/jwks.json").json["keys"] as? [[String: Any]]
            #expect(kidsNow?.count == 2)
            #expect(kidsNow?.contains { $0["kid"] as? String == firstKid } == false)
            #expect(try await client.send(.get, "/v1/auth/me", token: before.access).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/auth/me", token: newAccess).status == .ok)
        }
        #expect(try await harness.repository.auditRecords(event: .keyRotation).count == 2)
    }

    @Test func openAPIDocumentsExactlyTheRoutes() async throws {
        let harness = try await IdentityHarness.make()
        let routes = Set(harness.router.routes.map { "\($0.method) \($0.path)" })
        #expect(routes == IdentityService.openAPI.routeKeys)
        try await harness.test { client in
            let document = try await client.send(.get, "/openapi.json")
            #expect(document.status == .ok)
            let paths = try #require(document.json["paths"] as? [String: Any])
            #expect(paths["/v1/users/{id}/roles"] != nil)
        }
    }
}
