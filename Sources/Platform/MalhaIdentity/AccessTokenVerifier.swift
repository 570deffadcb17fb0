import Foundation
import JWTKit
public import Logging
public import MalhaCore
import Synchronization

/// Where verification keys come from (identity's `/.well-known/jwks.json`, or in-process).
public protocol JWKSProvider: Sendable {
    func fetchJWKS() async throws -> JWKSDocument
}

/// A JWKS provider backed by a closure (the identity service itself, tests).
public struct ClosureJWKSProvider: JWKSProvider {
    let body: @Sendable () async throws -> JWKSDocument
    public init(_ body: @escaping @Sendable () async throws -> JWKSDocument) { self.body = body }
    public func fetchJWKS() async throws -> JWKSDocument { try await body() }
}

/// Why a token was refused. Every case answers 401; the reason goes to logs and `detail`.
public enum TokenRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed
    case algorithmNotAllowed(String)
    case unknownKey
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    /// The header's `typ` is not `at+jwt` (RFC 9068): an ID token or another JWT is not an access token.
    case wrongType

    public var description: String {
        switch self {
        case .malformed: "the token is not a well-formed JWT"
        case .algorithmNotAllowed(let alg): "the token algorithm '\(alg)' is not accepted"
        case .unknownKey: "the token was signed by an unknown key"
        case .badSignature: "the token signature is invalid"
        case .expired: "the token has expired"
        case .notYetValid: "the token is not valid yet"
        case .wrongIssuer: "the token issuer is not accepted"
        case .wrongAudience: "the token audience is not accepted"
        case .wrongType: "the token is not an access token (typ must be at+jwt)"
        }
    }
}

/// Verifies Malha access tokens: the gateway and every service run one (zero trust).
///
/// jwt-kit checks the signature, but it would fall back to a default key for an unknown `kid` and
/// never compares the header's `alg` with the key (see NOTES.md). So the header is checked here
/// first: `alg` must be exactly ES256, the `kid` must be one we hold; each key lives in a
/// collection of its own, so no other key can ever be tried. Unknown `kid`s trigger at most one
/// JWKS refetch per `refetchInterval` (key rotation without a restart, without a request flood);
/// requests that arrive while that fetch runs wait for it.
public final class AccessTokenVerifier: Sendable {
    public struct Settings: Sendable {
        public var issuer: String
        public var audience: String
        public var leeway: Duration
        public var refetchInterval: Duration
        /// How old the key set may grow before the next verification fetches it again: a key
        /// identity withdrew stops verifying within this (plus the verified-token cache's minute).
        public var keySetMaxAge: Duration

        public init(
            issuer: String, audience: String, leeway: Duration = .seconds(30), refetchInterval: Duration = .seconds(10),
            keySetMaxAge: Duration = .seconds(300)
        ) {
            self.issuer = issuer
            self.audience = audience
            self.leeway = leeway
            self.refetchInterval = refetchInterval
            self.keySetMaxAge = keySetMaxAge
        }
    }

    public let settings: Settings
    private let clock: any WallClock
    private let keys: JWKSKeyCache<JWTKeyCollection>

    /// Tokens whose signature was verified, with their claims: a client sends the same token with
    /// every request for its lifetime, and an ECDSA verification costs more than the rest of a
    /// small request. Keyed by the whole token (signature included), so a token that differs in
    /// any byte is verified afresh; the claims' times, issuer and audience are checked on every use.
    /// The signature is checked again after `verifiedTokenTTL`, and at once after the key set is
    /// refreshed (a withdrawn key's tokens are refused); the cache is cleared when it reaches
    /// `verifiedTokenCapacity` tokens.
    private let verified: VerifiedTokens
    static let verifiedTokenCapacity = 10_000
    static let verifiedTokenTTL: TimeInterval = 60

    public init(settings: Settings, provider: any JWKSProvider, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.settings = settings
        self.clock = clock
        let verified = VerifiedTokens()
        self.verified = verified
        // Each key lives in a collection of its own, so no other key can ever be tried.
        keys = JWKSKeyCache(
            provider: provider, refetchInterval: settings.refetchInterval, maxAge: settings.keySetMaxAge, clock: clock,
            logger: logger,
            makeKey: { jwk in
                guard let publicKey = try? ES256PublicKey(parameters: (x: jwk.x, y: jwk.y)) else { return nil }
                return await JWTKeyCollection().add(ecdsa: publicKey, kid: JWKIdentifier(string: jwk.kid))
            },
            // A key may have been withdrawn: tokens verified with it must be verified again.
            onRefresh: { verified.entries.withLock { $0.removeAll() } })
    }

    /// Verifies `token` and returns its principal, or throws `TokenRejection`.
    public func verify(_ token: String) async throws(TokenRejection) -> Principal {
        let now = clock.now()
        if let hit = verified.entries.withLock({ $0[token] }), now.timeIntervalSince(hit.verifiedAt) < Self.verifiedTokenTTL {
            return try check(hit.claims)
        }
        let header = try Self.header(of: token)
        guard header.alg == "ES256" else { throw .algorithmNotAllowed(header.alg ?? "none") }
        guard let typ = header.typ?.lowercased(), typ == "at+jwt" || typ == "application/at+jwt" else { throw .wrongType }
        guard let kid = header.kid, !kid.isEmpty else { throw .unknownKey }
        guard case .found(let keys) = await keys.key(for: kid) else { throw .unknownKey }

        let claims: AccessTokenClaims
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            // Anything else jwt-kit reports is a token we cannot read: bad base64, bad JSON, bad claims.
            throw .malformed
        }
        let principal = try check(claims)
        verified.entries.withLock { verified in
            if verified.count >= Self.verifiedTokenCapacity { verified.removeAll(keepingCapacity: true) }
            verified[token] = (claims, now)
        }
        return principal
    }

    func check(_ claims: AccessTokenClaims) throws(TokenRejection) -> Principal {
        let now = clock.now().timeIntervalSince1970
        let leeway = settings.leeway.seconds
        guard Double(claims.exp) > now - leeway else { throw .expired }
        if let nbf = claims.nbf, Double(nbf) > now + leeway { throw .notYetValid }
        guard Double(claims.iat) <= now + leeway else { throw .notYetValid }
        guard claims.iss == settings.issuer else { throw .wrongIssuer }
        guard claims.aud.values.contains(settings.audience) else { throw .wrongAudience }
        let scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        return Principal(
            subject: claims.sub, roles: Set(claims.roles), scopes: scopes, tokenID: claims.jti,
            authenticationMethods: Set(claims.amr ?? []))
    }

    struct Header: Decodable {
        var alg: String?
        var typ: String?
        var kid: String?
        var crit: [String]?
    }

    static func header(of token: String) throws(TokenRejection) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // The signature may be empty here (an unsecured `alg: none` token): the alg check refuses it by name.
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, token.utf8.count <= 8192,
            let data = Data(base64URLEncoded: String(parts[0])),
            let header = try? JSONDecoder().decode(Header.self, from: data)
        else { throw .malformed }
        // We understand no critical extensions, so any token that names one must be refused (RFC 7515 §4.1.11).
        guard header.crit == nil else { throw .malformed }
        return header
    }

    /// Fetches the JWKS now and replaces the key set (keys absent from it are dropped).
    public func refresh() async {
        await keys.refresh()
    }

    /// The verified-token cache, shared with the key cache's refresh (which clears it).
    private final class VerifiedTokens: Sendable {
        let entries = Mutex<[String: (claims: AccessTokenClaims, verifiedAt: Date)]>([:])
    }
}
