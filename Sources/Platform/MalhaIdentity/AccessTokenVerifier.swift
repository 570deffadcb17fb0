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

    private struct State {
        var keys: [String: JWTKeyCollection] = [:]
        var lastFetch: Date?
        /// The fetch running now: callers that meet an unknown `kid` meanwhile wait for it rather
        /// than being refused (a burst of first requests after a start all carry the new key).
        var inFlight: Task<Void, Never>?
    }

    public let settings: Settings
    private let provider: any JWKSProvider
    private let clock: any WallClock
    private let logger: Logger
    private let state = Mutex(State())

    /// Tokens whose signature was verified, with their claims: a client sends the same token with
    /// every request for its lifetime, and an ECDSA verification costs more than the rest of a
    /// small request. Keyed by the whole token (signature included), so a token that differs in
    /// any byte is verified afresh; the claims' times, issuer and audience are checked on every use.
    /// The signature is checked again after `verifiedTokenTTL`, and at once after the key set is
    /// refreshed (a withdrawn key's tokens are refused); the cache is cleared when it reaches
    /// `verifiedTokenCapacity` tokens.
    private let verified = Mutex<[String: (claims: AccessTokenClaims, verifiedAt: Date)]>([:])
    static let verifiedTokenCapacity = 10_000
    static let verifiedTokenTTL: TimeInterval = 60

    public init(settings: Settings, provider: any JWKSProvider, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.settings = settings
        self.provider = provider
        self.clock = clock
        self.logger = logger
    }

    /// Verifies `token` and returns its principal, or throws `TokenRejection`.
    public func verify(_ token: String) async throws(TokenRejection) -> Principal {
        let now = clock.now()
        if let hit = verified.withLock({ $0[token] }), now.timeIntervalSince(hit.verifiedAt) < Self.verifiedTokenTTL {
            return try check(hit.claims)
        }
        let header = try Self.header(of: token)
        guard header.alg == "ES256" else { throw .algorithmNotAllowed(header.alg ?? "none") }
        guard let typ = header.typ?.lowercased(), typ == "at+jwt" || typ == "application/at+jwt" else { throw .wrongType }
        guard let kid = header.kid, !kid.isEmpty else { throw .unknownKey }
        guard let keys = await keyCollection(for: kid) else { throw .unknownKey }

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
        verified.withLock { verified in
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

    private func keyCollection(for kid: String) async -> JWTKeyCollection? {
        let now = clock.now()
        let maxAge = settings.keySetMaxAge.seconds
        let fresh = state.withLock { state -> JWTKeyCollection? in
            // A stale key set is fetched again before it is trusted: withdrawn keys must stop verifying.
            if let last = state.lastFetch, now.timeIntervalSince(last) >= maxAge { return nil }
            return state.keys[kid]
        }
        if let fresh { return fresh }
        let fetch = state.withLock { state -> Task<Void, Never>? in
            if let running = state.inFlight { return running }
            if let last = state.lastFetch,
                now.timeIntervalSince(last) < settings.refetchInterval.seconds
            {
                return nil
            }
            state.lastFetch = now
            // Assigned under the lock before the task can take it to clear the slot.
            let task = Task {
                await self.refresh()
                self.state.withLock { $0.inFlight = nil }
            }
            state.inFlight = task
            return task
        }
        guard let fetch else { return nil }
        await fetch.value
        return state.withLock { $0.keys[kid] }
    }

    /// Fetches the JWKS now and replaces the key set (keys absent from it are dropped).
    public func refresh() async {
        do {
            let document = try await provider.fetchJWKS()
            var keys: [String: JWTKeyCollection] = [:]
            for jwk in document.keys where jwk.kty == "EC" && jwk.crv == "P-256" && jwk.alg == "ES256" {
                guard let publicKey = try? ES256PublicKey(parameters: (x: jwk.x, y: jwk.y)) else { continue }
                keys[jwk.kid] = await JWTKeyCollection().add(ecdsa: publicKey, kid: JWKIdentifier(string: jwk.kid))
            }
            state.withLock { $0.keys = keys }
            // A key may have been withdrawn: tokens verified with it must be verified again.
            verified.withLock { $0.removeAll() }
        } catch {
            logger.warning("JWKS fetch failed", metadata: ["error": "\(error)"])
        }
    }
}

extension Data {
    /// Decodes base64url without padding (RFC 7515 §2).
    public init?(base64URLEncoded string: String) {
        var base64 = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    public func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
