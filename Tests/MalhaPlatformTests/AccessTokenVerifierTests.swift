import Crypto
import Foundation
import JWTKit
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaTesting
import Synchronization
import Testing

/// A JWKS provider whose keys tests change and whose calls tests count.
final class CountingJWKS: Sendable {
    private let state: Mutex<(keys: [PublicJWK], calls: Int)>

    init(_ keys: [PublicJWK]) { state = Mutex((keys, 0)) }

    var calls: Int { state.withLock { $0.calls } }
    func publish(_ keys: [PublicJWK]) { state.withLock { $0.keys = keys } }

    var provider: ClosureJWKSProvider {
        ClosureJWKSProvider { [self] in
            self.state.withLock { state in
                state.calls += 1
                return JWKSDocument(keys: state.keys)
            }
        }
    }
}

@Suite("Access token verification")
struct AccessTokenVerifierTests {
    static let issuer = "https://identity.malha.test"
    static let audience = "malha"

    let clock = ManualClock()
    let key = SigningKey.generate()
    let jwks: CountingJWKS
    let verifier: AccessTokenVerifier

    init() {
        jwks = CountingJWKS([key.publicJWK])
        verifier = AccessTokenVerifier(
            settings: .init(issuer: Self.issuer, audience: Self.audience), provider: jwks.provider, clock: clock,
            logger: Logger(label: "test"))
    }

    func claims(
        sub: String = "user-1", roles: [String] = [Role.customer], iss: String = issuer, aud: String = audience,
        lifetime: Duration = .seconds(900)
    ) -> AccessTokenClaims {
        AccessTokenClaims(
            sub: sub, roles: roles, scope: "orders:read orders:write", iss: iss, aud: aud, issuedAt: clock.now(),
            lifetime: lifetime)
    }

    func sign(_ claims: AccessTokenClaims, with key: SigningKey? = nil) async throws -> String {
        try await TokenSigner(key: key ?? self.key).sign(claims)
    }

    static func b64(_ data: Data) -> String { data.base64URLEncodedString() }
    static func b64(json: [String: Any]) throws -> String {
        b64(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
    }
    func payload(_ claims: AccessTokenClaims) throws -> String { Self.b64(try JSONEncoder().encode(claims)) }

    @Test func validTokenYieldsPrincipal() async throws {
        let claims = self.claims(roles: [Role.customer, Role.admin])
        let principal = try await verifier.verify(try await sign(claims))
        #expect(principal.subject == "user-1")
        #expect(principal.roles == [Role.customer, Role.admin])
        #expect(principal.scopes == ["orders:read", "orders:write"])
        #expect(principal.tokenID == claims.jti)
        #expect(principal.isAdmin)
        #expect(jwks.calls == 1)
        // Keys are cached: a second verification does not refetch.
        _ = try await verifier.verify(try await sign(claims))
        #expect(jwks.calls == 1)
    }

    @Test func forgedSignatureIsRejected() async throws {
        let forger = SigningKey(kid: key.kid, privateKey: ES256PrivateKey(), createdAt: clock.now())
        let token = try await sign(claims(roles: [Role.admin]), with: forger)
        await #expect(throws: TokenRejection.badSignature) { try await verifier.verify(token) }
        // A genuine token's signature grafted onto other claims fails too.
        let genuine = try await sign(claims()).split(separator: ".")
        let tampered = try [genuine[0], Substring(payload(claims(roles: [Role.admin]))), genuine[2]].joined(separator: ".")
        await #expect(throws: TokenRejection.badSignature) { try await verifier.verify(tampered) }
    }

    @Test func aVerifiedTokenIsRecheckedOnEveryUseAndVerifiedAgainAfterAMinute() async throws {
        let token = try await sign(claims(lifetime: .seconds(900)))
        _ = try await verifier.verify(token)
        // The same token again is served from the verified cache: the keys are not even looked at.
        jwks.publish([])
        #expect(try await verifier.verify(token).subject == "user-1")
        // A byte changed in the signature is a different token: verified, and refused.
        var bytes = Array(token.utf8)
        bytes[bytes.count - 2] = bytes[bytes.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        await #expect(throws: TokenRejection.self) { try await verifier.verify(String(decoding: bytes, as: UTF8.self)) }
        // After a minute the signature is checked again (with the key the verifier holds).
        clock.advance(by: .seconds(61))
        #expect(try await verifier.verify(token).subject == "user-1")
        // A refresh that drops the key drops what was verified with it.
        await verifier.refresh()
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(token) }
    }

    @Test func expiryHonoursLeeway() async throws {
        let token = try await sign(claims(lifetime: .seconds(900)))
        clock.advance(by: .seconds(900 + 29))
        _ = try await verifier.verify(token)
        clock.advance(by: .seconds(2))
        await #expect(throws: TokenRejection.expired) { try await verifier.verify(token) }
    }

    @Test func notBeforeInTheFutureIsRejected() async throws {
        var future = claims()
        future.nbf = Int64(clock.now().timeIntervalSince1970) + 120
        let token = try await sign(future)
        await #expect(throws: TokenRejection.notYetValid) { try await verifier.verify(token) }
        clock.advance(by: .seconds(121))
        _ = try await verifier.verify(token)
        // An iat in the future is refused as well.
        var issuedLater = claims()
        issuedLater.iat = Int64(clock.now().timeIntervalSince1970) + 3600
        issuedLater.nbf = nil
        let later = try await sign(issuedLater)
        await #expect(throws: TokenRejection.notYetValid) { try await verifier.verify(later) }
    }

    /// RFC 9068: tokens say `typ: at+jwt` and nothing else passes as an access token, not even a
    /// JWT signed by the right key (an ID token, say, which is typed `JWT`).
    @Test func onlyTokensTypedAsAccessTokensPass() async throws {
        let token = try await sign(claims())
        let header = try #require(token.split(separator: ".").first)
        let decoded = try #require(Data(base64URLEncoded: String(header)))
        #expect(String(decoding: decoded, as: UTF8.self).contains(#""typ":"at+jwt""#))
        _ = try await verifier.verify(token)
        let keys = await JWTKeyCollection().add(ecdsa: key.privateKey, kid: JWKIdentifier(string: key.kid))
        for typ in ["JWT", "jwt", nil, "at+jwt+x", "JOSE"] as [String?] {
            var plain = JWTHeader()
            plain.typ = typ
            let other = try await keys.sign(claims(), kid: JWKIdentifier(string: key.kid), header: plain)
            await #expect(throws: TokenRejection.wrongType, "\(typ ?? "no typ")") { try await verifier.verify(other) }
        }
        var explicit = JWTHeader()
        explicit.typ = "application/at+jwt"
        let mediaType = try await keys.sign(claims(), kid: JWKIdentifier(string: key.kid), header: explicit)
        _ = try await verifier.verify(mediaType)
    }

    /// A key identity withdrew stops verifying within the key set's maximum age, with no unknown
    /// `kid` needed to force a refetch.
    @Test func aWithdrawnKeyStopsVerifyingWithinTheKeySetMaximumAge() async throws {
        let token = try await sign(claims(lifetime: .seconds(3600)))
        _ = try await verifier.verify(token)
        let replacement = SigningKey.generate()
        jwks.publish([replacement.publicJWK])
        clock.advance(by: .seconds(120))
        _ = try await verifier.verify(token)  // within the maximum age: still the old set
        clock.advance(by: .seconds(181))
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(token) }
        _ = try await verifier.verify(try await sign(claims(), with: replacement))
    }

    @Test func unsecuredAlgNoneIsRejected() async throws {
        let header = try Self.b64(json: ["alg": "none", "kid": key.kid, "typ": "JWT"])
        let body = try payload(claims(roles: [Role.admin]))
        for signature in ["", "AAAA", "c2lnbmF0dXJl"] {
            await #expect(throws: TokenRejection.algorithmNotAllowed("none")) {
                try await verifier.verify("\(header).\(body).\(signature)")
            }
        }
        for alg in ["None", "NONE"] {
            let other = try Self.b64(json: ["alg": alg, "kid": key.kid])
            await #expect(throws: TokenRejection.algorithmNotAllowed(alg)) { try await verifier.verify("\(other).\(body).") }
        }
        let noAlg = try Self.b64(json: ["kid": key.kid])
        await #expect(throws: TokenRejection.algorithmNotAllowed("none")) { try await verifier.verify("\(noAlg).\(body).AAAA") }
    }

    /// The classic key-confusion attack: HMAC with the public key as the shared secret.
    @Test func hmacWithPublicKeyMaterialIsRejected() async throws {
        let jwk = key.publicJWK
        let x = try #require(Data(base64URLEncoded: jwk.x))
        let y = try #require(Data(base64URLEncoded: jwk.y))
        let x963 = Data([0x04]) + x + y
        #expect(x963.count == 65)
        let jwkJSON = try JSONEncoder().encode(jwk)
        let body = try payload(claims(roles: [Role.admin]))
        for secret in [x963, jwkJSON, Data(jwk.x.utf8)] {
            for alg in ["HS256", "HS384", "HS512"] {
                let header = try Self.b64(json: ["alg": alg, "kid": jwk.kid, "typ": "JWT"])
                let input = "\(header).\(body)"
                let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
                let token = "\(input).\(Self.b64(Data(mac)))"
                await #expect(throws: TokenRejection.algorithmNotAllowed(alg)) { try await verifier.verify(token) }
            }
        }
    }

    @Test(arguments: ["RS256", "ES384", "ES512", "PS256", "EdDSA", "es256"])
    func otherAlgorithmsAreRejected(alg: String) async throws {
        let header = try Self.b64(json: ["alg": alg, "kid": key.kid])
        let token = "\(header).\(try payload(claims())).\(Self.b64(Data(repeating: 7, count: 64)))"
        await #expect(throws: TokenRejection.algorithmNotAllowed(alg)) { try await verifier.verify(token) }
    }

    @Test func wrongIssuerAndAudienceAreRejected() async throws {
        let wrongIssuer = try await sign(claims(iss: "https://evil.example"))
        await #expect(throws: TokenRejection.wrongIssuer) { try await verifier.verify(wrongIssuer) }
        let wrongAudience = try await sign(claims(aud: "other-system"))
        await #expect(throws: TokenRejection.wrongAudience) { try await verifier.verify(wrongAudience) }
        // An audience array that includes ours is accepted.
        var multi = claims()
        multi.aud = Audience(["other-system", Self.audience])
        _ = try await verifier.verify(try await sign(multi))
    }

    @Test func unknownKidRefetchesAtMostOncePerInterval() async throws {
        _ = try await verifier.verify(try await sign(claims()))
        #expect(jwks.calls == 1)
        let stranger = try await sign(claims(), with: SigningKey.generate())
        // Within the interval of the first fetch: no new fetch.
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(stranger) }
        #expect(jwks.calls == 1)
        clock.advance(by: .seconds(11))
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(stranger) }
        #expect(jwks.calls == 2)
        for _ in 0..<20 {
            await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(stranger) }
        }
        #expect(jwks.calls == 2)
        clock.advance(by: .seconds(5))
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(stranger) }
        #expect(jwks.calls == 2)
        clock.advance(by: .seconds(6))
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(stranger) }
        #expect(jwks.calls == 3)
        // Known keys keep verifying without fetches.
        _ = try await verifier.verify(try await sign(claims()))
        #expect(jwks.calls == 3)
    }

    /// A leeway with a fraction keeps it (it once counted whole seconds only: 1.5 s acted as 1 s).
    @Test func fractionalLeewayIsHonoured() async throws {
        clock.set(Date(timeIntervalSince1970: 1_800_000_000))
        let lenient = AccessTokenVerifier(
            settings: .init(issuer: Self.issuer, audience: Self.audience, leeway: .milliseconds(1500)),
            provider: jwks.provider, clock: clock, logger: Logger(label: "test"))
        let token = try await sign(claims(lifetime: .seconds(1)))
        clock.advance(by: .milliseconds(2200))  // 1.2 s past its expiry: within 1.5 s
        #expect(try await lenient.verify(token).subject == "user-1")
        let later = try await sign(claims(sub: "user-2", lifetime: .seconds(1)))
        clock.advance(by: .milliseconds(2600))  // 1.6 s past the second token's expiry
        await #expect(throws: TokenRejection.expired) { try await lenient.verify(later) }
    }

    /// The first burst after a start: every request carries a key the verifier has not fetched
    /// yet. All of them wait for the one fetch and pass — none is refused for arriving second.
    @Test func concurrentFirstRequestsShareOneFetch() async throws {
        let slow = CountingJWKS([key.publicJWK])
        let gate = AsyncGate()
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: Self.issuer, audience: Self.audience),
            provider: ClosureJWKSProvider {
                await gate.wait()
                return try await slow.provider.fetchJWKS()
            }, clock: clock, logger: Logger(label: "test"))
        let token = try await sign(claims())
        try await withThrowingTaskGroup(of: Principal.self) { group in
            for _ in 0..<20 { group.addTask { try await verifier.verify(token) } }
            try await Task.sleep(for: .milliseconds(50))
            await gate.open()
            var verified = 0
            for try await principal in group where principal.subject == "user-1" { verified += 1 }
            #expect(verified == 20)
        }
        #expect(slow.calls == 1)
    }

    @Test func rotatedKeyIsAcceptedAfterRefetch() async throws {
        _ = try await verifier.verify(try await sign(claims()))
        let next = SigningKey.generate()
        jwks.publish([key.publicJWK, next.publicJWK])
        let rotated = try await sign(claims(sub: "user-2"), with: next)
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(rotated) }
        clock.advance(by: .seconds(10))
        #expect(try await verifier.verify(rotated).subject == "user-2")
        _ = try await verifier.verify(try await sign(claims()))
        // Retiring the old key: once refetched, its tokens are unknown.
        jwks.publish([next.publicJWK])
        clock.advance(by: .seconds(10))
        await #expect(throws: TokenRejection.unknownKey) {
            try await verifier.verify(try await sign(claims(), with: SigningKey.generate()))
        }
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(try await sign(claims())) }
        #expect(try await verifier.verify(rotated).subject == "user-2")
    }

    @Test func jwksKeysWithoutES256AreIgnored() async throws {
        var unlabeled = key.publicJWK
        unlabeled.alg = nil
        jwks.publish([unlabeled])
        await #expect(throws: TokenRejection.unknownKey) { try await verifier.verify(try await sign(claims())) }
    }

    @Test func critHeaderIsRefused() async throws {
        let genuine = try await sign(claims()).split(separator: ".")
        let header = try Self.b64(json: ["alg": "ES256", "kid": key.kid, "crit": ["exp"], "exp": 1])
        let token = "\(header).\(genuine[1]).\(genuine[2])"
        await #expect(throws: TokenRejection.malformed) { try await verifier.verify(token) }
    }

    @Test func garbageIsMalformed() async throws {
        let valid = try await sign(claims()).split(separator: ".").map(String.init)
        let garbage = [
            "", ".", "..", "...", "abc", "a.b", "a.b.c", "a.b.c.d", "not a token at all",
            "%%%.%%%.%%%",
            "\(Self.b64(Data("not json".utf8))).\(valid[1]).\(valid[2])",
            "\(Self.b64(Data("[1,2]".utf8))).\(valid[1]).\(valid[2])",
            "\(valid[0]).\(valid[1]).\(valid[2]).extra",
            "\(valid[0]).\(valid[1])",
            "\(valid[0])==.\(valid[1]).\(valid[2])",
            "\(valid[0]).!!!.\(valid[2])",
            "\(valid[0]).\(Self.b64(Data("{}".utf8))).\(valid[2])",
            String(repeating: "a", count: 9000) + ".b.c",
        ]
        for token in garbage {
            do {
                _ = try await verifier.verify(token)
                Issue.record("accepted garbage \(token.prefix(60))")
            } catch {
                let rejection: TokenRejection = error
                #expect(rejection == .malformed || rejection == .badSignature, "\(token.prefix(60)) → \(error)")
                if token.split(separator: ".", omittingEmptySubsequences: false).count != 3 {
                    #expect(rejection == .malformed)
                }
            }
        }
    }

    @Test func accessPolicyEvaluation() {
        let customer = Principal(subject: "u1", roles: [Role.customer])
        let admin = Principal(subject: "u2", roles: [Role.admin])
        #expect(AccessPolicy.public.evaluate(nil) == nil)
        #expect(AccessPolicy.public.evaluate(customer) == nil)
        #expect(AccessPolicy.authenticated.evaluate(nil)?.status == .unauthorized)
        #expect(AccessPolicy.authenticated.evaluate(nil)?.code == "unauthorized")
        #expect(AccessPolicy.authenticated.evaluate(customer) == nil)
        #expect(AccessPolicy.admin.evaluate(nil)?.status == .unauthorized)
        #expect(AccessPolicy.admin.evaluate(customer)?.status == .forbidden)
        #expect(AccessPolicy.admin.evaluate(customer)?.code == "forbidden")
        #expect(AccessPolicy.admin.evaluate(admin) == nil)
        let staff = AccessPolicy.anyRole([Role.finance, Role.operator_])
        #expect(staff.evaluate(Principal(subject: "u3", roles: [Role.operator_])) == nil)
        #expect(staff.evaluate(Principal(subject: "u4", roles: []))?.status == .forbidden)
        #expect(AccessPolicy.authenticated.evaluate(nil)?.headers[.wwwAuthenticate] == "Bearer")
    }

    /// A service client passes only by a scope the route names (or a role an admin gave it):
    /// a token created for `catalog.read` is not "authenticated" for anything else.
    @Test func serviceClientsPassOnlyByTheirScopes() {
        let catalogReader = Principal(subject: "client:c1", roles: [], scopes: ["catalog.read"])
        let ledgerReader = Principal(subject: "client:c2", roles: [], scopes: ["ledger.read"])
        let adminClient = Principal(subject: "client:c3", roles: [Role.admin], scopes: [])
        let person = Principal(subject: "u1", roles: [Role.customer])
        #expect(AccessPolicy.authenticated.evaluate(catalogReader)?.status == .forbidden)
        #expect(AccessPolicy.authenticated.evaluate(catalogReader)?.code == "forbidden")
        #expect(AccessPolicy.authenticated.evaluate(person) == nil)
        let ledger = AccessPolicy.authenticated.orScopes(["ledger.read"])
        #expect(ledger.evaluate(ledgerReader) == nil)
        #expect(ledger.evaluate(catalogReader)?.status == .forbidden)
        #expect(ledger.evaluate(person) == nil)
        let scopedOnly = AccessPolicy.scopes(["ledger.read"])
        #expect(scopedOnly.evaluate(person)?.status == .forbidden, "a person holds no scopes")
        #expect(scopedOnly.evaluate(ledgerReader) == nil)
        #expect(scopedOnly.evaluate(nil)?.status == .unauthorized)
        #expect(AccessPolicy.admin.evaluate(adminClient) == nil, "a role an admin granted the client")
        #expect(AccessPolicy.admin.evaluate(catalogReader)?.status == .forbidden)
        #expect(AccessPolicy.public.evaluate(catalogReader) == nil)
        // A scope named like a role grants nothing by role, and vice versa.
        #expect(
            AccessPolicy.admin.evaluate(Principal(subject: "client:c4", roles: [], scopes: [Role.admin]))?.status == .forbidden)
    }

    @Test func bearerHeaderParsing() {
        #expect(BearerAuthenticationMiddleware<ServiceRequestContext>.bearerToken("Bearer abc") == "abc")
        #expect(BearerAuthenticationMiddleware<ServiceRequestContext>.bearerToken("bearer  abc ") == "abc")
        #expect(BearerAuthenticationMiddleware<ServiceRequestContext>.bearerToken("Basic abc") == nil)
        #expect(BearerAuthenticationMiddleware<ServiceRequestContext>.bearerToken("Bearer ") == nil)
        #expect(BearerAuthenticationMiddleware<ServiceRequestContext>.bearerToken("Bearer") == nil)
    }
}

/// Holds callers until opened.
actor AsyncGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}
