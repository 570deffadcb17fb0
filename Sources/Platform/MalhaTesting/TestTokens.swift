public import Foundation
public import HTTPTypes
public import MalhaCore
public import MalhaIdentity

/// Access tokens for in-process service tests: a fresh ES256 key, a verifier that trusts only it
/// (as a service's would, through a JWKS), and request headers carrying a signed token.
public struct TestTokens: Sendable {
    public static let issuer = "https://identity.test"
    public static let audience = "malha-test"

    public let signer: TokenSigner
    public let verifier: AccessTokenVerifier

    public static func make() async -> TestTokens {
        let key = SigningKey.generate()
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: issuer, audience: audience),
            provider: ClosureJWKSProvider { JWKSDocument(keys: [key.publicJWK]) }, logger: .init(label: "test.tokens"))
        return TestTokens(signer: await TokenSigner(key: key), verifier: verifier)
    }

    /// A signed access token for `subject` with `roles` (and `scopes`), valid for 15 minutes, as
    /// issued after `amr` (a password alone by default; `AuthenticationMethod.passwordAndOneTimePassword`
    /// for an operation that needs a second factor).
    public func token(
        subject: String, roles: [String] = [Role.customer], scopes: [String] = [],
        amr: [String] = AuthenticationMethod.passwordOnly
    ) async throws -> String {
        try await signer.sign(
            AccessTokenClaims(
                sub: subject, roles: roles, scope: scopes.isEmpty ? nil : scopes.joined(separator: " "), iss: Self.issuer,
                aud: Self.audience, issuedAt: Date(), lifetime: .seconds(900), amr: amr.isEmpty ? nil : amr))
    }

    /// `Authorization: Bearer …` and a JSON content type.
    public func headers(
        subject: String, roles: [String] = [Role.customer], scopes: [String] = [],
        amr: [String] = AuthenticationMethod.passwordOnly
    ) async throws -> HTTPFields {
        [
            .authorization: "Bearer \(try await token(subject: subject, roles: roles, scopes: scopes, amr: amr))",
            .contentType: "application/json",
        ]
    }

    /// What a service presents when it calls another as the client `client:<id>` with `scopes`:
    /// tokens signed here, as identity would issue them.
    public func serviceCredential(_ id: String, scopes: [String]) -> any ServiceCredential {
        TestServiceCredential(tokens: self, subject: Principal.clientPrefix + id, scopes: scopes)
    }

    /// A service client's headers: a client-credentials token (`client:<id>`) with `scopes`, no role.
    public func clientHeaders(_ id: String, scopes: [String]) async throws -> HTTPFields {
        try await headers(subject: Principal.clientPrefix + id, roles: [], scopes: scopes, amr: [])
    }
}

/// `TestTokens.serviceCredential`: a fresh token on every call (so `invalidate` has nothing to drop).
struct TestServiceCredential: ServiceCredential {
    let tokens: TestTokens
    let subject: String
    let scopes: [String]

    func authorization() async throws -> String {
        "Bearer " + (try await tokens.token(subject: subject, roles: [], scopes: scopes))
    }

    func invalidate() async {}
}
