import Contracts
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import Synchronization

/// The handlers of the identity API. Each one decodes, validates (Domain), calls the repository,
/// and maps outcomes to responses or problems.
struct IdentityRoutes: Sendable {
    let configuration: IdentityConfiguration
    let repository: IdentityRepository
    let keyRing: KeyRing
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    let attempts: AttemptThrottle
    let verifier: AccessTokenVerifier
    let clock: any WallClock
    let dummyHash: DummyPasswordHash
    /// Wakes the outbox relay after a commit that wrote an event.
    let wakeRelay: @Sendable () -> Void

    static let invalidCredentials = Problem(
        .unauthorized, code: "invalid_credentials", title: "Unauthorized", detail: "the email or password is not correct")
    static let invalidRefreshToken = Problem(
        .unauthorized, code: "invalid_refresh_token", title: "Unauthorized",
        detail: "the refresh token is not valid; log in again")

    /// The caller's address: the socket peer's, or behind a trusted proxy (the gateway) the last
    /// `X-Forwarded-For` entry, the one it appended (`ClientAddressMiddleware`).
    static func clientAddress(_ context: ServiceRequestContext) -> String {
        context.clientAddress ?? "unknown"
    }

    // MARK: Accounts

    @Sendable func register(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<UserResponse> {
        // Before anything else: each registration costs a bcrypt hash, and a flood of them from one
        // address would queue every login behind it.
        let address = Self.clientAddress(context)
        if let wait = attempts.admit("register:" + address, configuration.registrationsPerAddress) {
            throw Problem.tooManyRequests(retryAfterSeconds: wait, detail: "too many registrations from this address")
        }
        let body = try await request.decode(as: RegisterRequest.self, context: context)
        let email = AccountRules.normalizeEmail(body.email)
        var errors: [Problem.FieldError] = []
        if let problem = AccountRules.emailProblem(email) { errors.append(.init(field: "email", message: problem)) }
        if let problem = AccountRules.passwordProblem(body.password) { errors.append(.init(field: "password", message: problem)) }
        if let problem = AccountRules.nameProblem(body.name) { errors.append(.init(field: "name", message: problem)) }
        guard errors.isEmpty else { throw Problem.validation(errors) }

        if try await repository.user(email: email) != nil { throw AccountRefusal.emailTaken }
        let now = clock.now()
        let user = User(
            id: UUID.v7(at: now).lowercased, email: email, name: body.name.trimmingCharacters(in: .whitespacesAndNewlines),
            roles: [Role.customer], createdAt: now)
        let hash = try await hasher.hashAccountPassword(body.password)
        try await repository.insert(
            user: user, passwordHash: hash,
            audit: .init(event: .register, at: now, subject: user.id, email: email, clientAddress: address))
        return EditedResponse(status: .created, response: UserResponse(user))
    }

    @Sendable func login(request: Request, context: ServiceRequestContext) async throws -> LoginAnswer {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        var errors: [Problem.FieldError] = []
        if body.email.unicodeScalars.count > LoginRequest.maxFieldLength {
            errors.append(.init(field: "email", message: "is too long"))
        }
        if body.password.unicodeScalars.count > LoginRequest.maxFieldLength {
            errors.append(.init(field: "password", message: "is too long"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }

        let email = AccountRules.normalizeEmail(body.email)
        let address = Self.clientAddress(context)
        if let retryAfter = throttle.retryAfter(account: email, address: address) {
            throw Problem.tooManyRequests(retryAfterSeconds: retryAfter, detail: "too many failed logins; try again later")
        }
        let now = clock.now()
        let stored = try await repository.user(email: email)
        let verified: Bool
        if let stored, !AccountRules.hasControlCharacter(body.password) {
            verified = try await hasher.verifyAccountPassword(body.password, storedHash: stored.passwordHash)
        } else {
            // Same bcrypt work as a real check, so response time does not reveal whether the account
            // exists. A password with a control character matches no account (registration refuses
            // them; bcrypt would stop at a NUL), whichever account it names.
            _ = try await hasher.verifyAccountPassword(body.password, storedHash: try await dummyHash.value(using: hasher))
            verified = false
        }
        guard verified, let user = stored?.user else {
            throttle.recordFailure(account: email, address: address)
            try await repository.audit(
                .init(event: .loginFailure, at: now, subject: stored?.user.id, email: email, clientAddress: address))
            throw Self.invalidCredentials
        }
        if let factor = try await repository.mfaFactor(userID: user.id), factor.isActive {
            // The throttle is not reset by the right password: only a completed second step
            // resets it, so an attacker who knows the password still gets a handful of codes
            // per account and address, however often they start over.
            return .challenge(try await startChallenge(user: user, now: now, address: address))
        }
        throttle.recordSuccess(account: email, address: address)
        let refreshToken = newRefreshToken(userID: user.id, amr: AuthenticationMethod.passwordOnly, now: now)
        try await repository.insert(
            refreshToken: refreshToken.stored,
            audit: .init(event: .loginSuccess, at: now, subject: user.id, email: email, clientAddress: address))
        return .tokens(try await tokenPair(user: user, refreshToken: refreshToken))
    }

    @Sendable func refresh(request: Request, context: ServiceRequestContext) async throws -> TokenPair {
        let address = Self.clientAddress(context)
        if let wait = attempts.admit("refresh:" + address, configuration.refreshesPerAddress) {
            throw Problem.tooManyRequests(retryAfterSeconds: wait, detail: "too many refreshes from this address")
        }
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        guard body.refreshToken.unicodeScalars.count <= RefreshRequest.maxTokenLength else {
            throw Problem.validation(field: "refresh_token", "is too long")
        }
        // Per family too, before anything rotates: a stolen refresh token minting access tokens as
        // fast as it can is slowed to a legitimate client's pace (one every 15 minutes), and the
        // token presented stays valid for a retry once the window passes.
        if let family = try await repository.familyID(ofTokenHash: Secrets.hash(body.refreshToken)),
            let wait = attempts.admit("refresh-family:" + family, configuration.refreshesPerFamily)
        {
            throw Problem.tooManyRequests(retryAfterSeconds: wait, detail: "too many refreshes of this session")
        }
        let now = clock.now()
        let newToken = Secrets.generate()
        let outcome = try await repository.rotate(
            hash: Secrets.hash(body.refreshToken), newHash: Secrets.hash(newToken), now: now,
            expiresAt: now.addingTimeInterval(configuration.refreshTokenLifetimeSeconds), clientAddress: address)
        switch outcome {
        case .rotated(let user, _, let amr):
            return TokenPair(
                accessToken: try await accessToken(sub: user.id, roles: user.roles, scope: nil, amr: amr, now: now),
                expiresIn: configuration.accessTokenLifetimeSeconds, refreshToken: newToken)
        case .reused(let familyID, let userID):
            context.logger.warning(
                "refresh token reuse: family revoked", metadata: ["family": "\(familyID)", "user": "\(userID)"])
            throw Self.invalidRefreshToken
        case .invalid:
            throw Self.invalidRefreshToken
        }
    }

    @Sendable func logout(request: Request, context: ServiceRequestContext) async throws -> Response {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        guard body.refreshToken.unicodeScalars.count <= RefreshRequest.maxTokenLength else {
            throw Problem.validation(field: "refresh_token", "is too long")
        }
        // Idempotent: an unknown or already revoked token is logged out too.
        _ = try await repository.revokeFamily(
            ofTokenHash: Secrets.hash(body.refreshToken), now: clock.now(), clientAddress: Self.clientAddress(context))
        return Response(status: .noContent)
    }

    @Sendable func me(request: Request, context: ServiceRequestContext) async throws -> UserResponse {
        let principal = try context.requirePrincipal()
        guard let user = try await repository.user(id: principal.subject) else {
            throw Problem.notFound("User \(principal.subject)")
        }
        return UserResponse(user)
    }

    // MARK: Administration

    @Sendable func listUsers(request: Request, context: ServiceRequestContext) async throws -> Page<UserResponse> {
        var limit = 50
        if let raw = request.uri.queryParameters["limit"] {
            guard let value = Int(String(raw)), (1...100).contains(value) else {
                throw Problem.validation(field: "limit", "must be an integer from 1 to 100")
            }
            limit = value
        }
        let cursor = request.uri.queryParameters["cursor"].map(String.init)
        if let cursor, cursor.isEmpty || cursor.count > 64 {
            throw Problem.validation(field: "cursor", "is not a cursor from a previous page")
        }
        let users = try await repository.users(after: cursor, limit: limit + 1)
        let page = users.prefix(limit)
        return Page<UserResponse>(items: page.map(UserResponse.init), nextCursor: users.count > limit ? page.last?.id : nil)
    }

    @Sendable func setRoles(request: Request, context: ServiceRequestContext) async throws -> UserResponse {
        let principal = try context.requirePrincipal()
        let id = try context.parameters.require("id")
        let body = try await request.decode(as: RolesRequest.self, context: context)
        if let problem = AccountRules.rolesProblem(body.roles) { throw Problem.validation(field: "roles", problem) }
        let now = clock.now()
        let roles = Set(body.roles)
        let changed = RolesChanged(userID: id, roles: roles.sorted(), changedBy: principal.subject, changedAt: now)
        guard
            let user = try await repository.setRoles(
                userID: id, roles: roles, now: now,
                audit: .init(
                    event: .roleChange, at: now, subject: id, clientAddress: Self.clientAddress(context),
                    detail: "by \(principal.subject): \(roles.sorted().joined(separator: ","))"),
                event: try Envelope(changed, source: IdentityService.name, at: now, key: id))
        else { throw Problem.notFound("User \(id)") }
        wakeRelay()
        return UserResponse(user)
    }

    @Sendable func rotateKey(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<RotatedKey> {
        let principal = try context.requirePrincipal()
        let kid = try await keyRing.rotate(actor: principal.subject)
        // Our own verifier must know the new key at once (its refetch is rate-limited).
        await verifier.refresh()
        context.logger.info("signing key rotated", metadata: ["kid": "\(kid)"])
        return EditedResponse(status: .created, response: RotatedKey(kid: kid))
    }

    @Sendable func createClient(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<CreatedClient> {
        let principal = try context.requirePrincipal()
        let body = try await request.decode(as: CreateClientRequest.self, context: context)
        var errors: [Problem.FieldError] = []
        if let problem = AccountRules.nameProblem(body.name) { errors.append(.init(field: "name", message: problem)) }
        if let problem = AccountRules.scopeProblem(body.scopes) { errors.append(.init(field: "scopes", message: problem)) }
        let roles = body.roles ?? []
        if !roles.isEmpty, let problem = AccountRules.rolesProblem(roles) {
            errors.append(.init(field: "roles", message: problem))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let now = clock.now()
        let client = ServiceClient(
            id: UUID.v7(at: now).lowercased, name: body.name.trimmingCharacters(in: .whitespacesAndNewlines),
            scopes: Array(Set(body.scopes)).sorted(), roles: Array(Set(roles)).sorted(), createdAt: now)
        let secret = Secrets.generate()
        try await repository.insert(
            client: client, secretHash: Secrets.hash(secret),
            audit: .init(
                event: .clientCreated, at: now, subject: "\(Principal.clientPrefix)\(client.id)",
                detail: "by \(principal.subject)"))
        return EditedResponse(
            status: .created,
            response: CreatedClient(
                clientID: client.id, clientSecret: secret, name: client.name, scopes: client.scopes, roles: client.roles))
    }

    // MARK: OAuth and discovery

    @Sendable func oauthToken(request: Request, context: ServiceRequestContext) async throws -> Response {
        let parameters = try await OAuthTokenRequest.parse(request, context: context)
        guard let grantType = parameters.grantType, !grantType.isEmpty else {
            throw OAuthTokenRequest.oauthError(.badRequest, "invalid_request", "grant_type is required")
        }
        guard grantType == "client_credentials" else {
            throw OAuthTokenRequest.oauthError(
                .badRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported here")
        }
        let now = clock.now()
        guard let clientID = parameters.clientID, let secret = parameters.clientSecret,
            clientID.count <= 64, secret.count <= 512,
            let stored = try await repository.client(id: clientID),
            ConstantTime.equals(Secrets.hash(secret), stored.secretHash)
        else {
            try await repository.audit(
                .init(
                    event: .clientTokenFailure, at: now,
                    subject: parameters.clientID.map { "\(Principal.clientPrefix)\($0.prefix(64))" },
                    clientAddress: Self.clientAddress(context)))
            throw OAuthTokenRequest.oauthError(.unauthorized, "invalid_client", "client authentication failed")
        }
        var scopes = stored.client.scopes
        if let requested = parameters.scope?.split(separator: " ").map(String.init), !requested.isEmpty {
            let unknown = Set(requested).subtracting(stored.client.scopes)
            guard unknown.isEmpty else {
                throw OAuthTokenRequest.oauthError(
                    .badRequest, "invalid_scope", "the client may not request: \(unknown.sorted().joined(separator: " "))")
            }
            scopes = Array(Set(requested)).sorted()
        }
        let scope = scopes.joined(separator: " ")
        let token = try await accessToken(
            sub: "\(Principal.clientPrefix)\(stored.client.id)", roles: Set(stored.client.roles), scope: scope, amr: nil,
            now: now)
        try await repository.audit(
            .init(
                event: .clientToken, at: now, subject: "\(Principal.clientPrefix)\(stored.client.id)",
                clientAddress: Self.clientAddress(context),
                detail: scope))
        var response = try ClientTokenResponse(
            accessToken: token, expiresIn: configuration.accessTokenLifetimeSeconds, scope: scope
        )
        .response(from: request, context: context)
        // RFC 6749 §5.1: token responses must not be cached.
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func jwks(request: Request, context: ServiceRequestContext) async throws -> Response {
        try await keyRing.jwks().response
    }

    @Sendable func openIDConfiguration(request: Request, context: ServiceRequestContext) async throws -> OpenIDConfiguration {
        let base =
            configuration.publicBaseURL.hasSuffix("/")
            ? String(configuration.publicBaseURL.dropLast()) : configuration.publicBaseURL
        return OpenIDConfiguration(
            issuer: configuration.issuer, jwksURI: base + "/.well-known/jwks.json", tokenEndpoint: base + "/v1/oauth/token",
            userinfoEndpoint: base + "/v1/auth/me")
    }

    // MARK: Tokens

    /// An access token; `amr` says how a person logged in (nil for a service client).
    func accessToken(sub: String, roles: Set<String>, scope: String?, amr: [String]?, now: Date) async throws -> String {
        let claims = AccessTokenClaims(
            sub: sub, roles: roles.sorted(), scope: scope, iss: configuration.issuer, aud: configuration.audience,
            issuedAt: now, lifetime: .seconds(configuration.accessTokenLifetimeSeconds), amr: amr)
        return try await keyRing.currentSigner().sign(claims)
    }

    /// A new refresh token, starting a family that keeps `amr` through its rotations.
    func newRefreshToken(userID: String, amr: [String], now: Date) -> (token: String, stored: IdentityRepository.NewRefreshToken)
    {
        let token = Secrets.generate()
        return (
            token,
            .init(
                hash: Secrets.hash(token), familyID: UUID.v7(at: now).lowercased, userID: userID, amr: amr, now: now,
                expiresAt: now.addingTimeInterval(configuration.refreshTokenLifetimeSeconds))
        )
    }

    /// The pair a completed login answers: an access token with the family's `amr`, and its refresh token.
    func tokenPair(
        user: User, refreshToken: (token: String, stored: IdentityRepository.NewRefreshToken)
    ) async throws
        -> TokenPair
    {
        TokenPair(
            accessToken: try await accessToken(
                sub: user.id, roles: user.roles, scope: nil, amr: refreshToken.stored.amr, now: refreshToken.stored.now),
            expiresIn: configuration.accessTokenLifetimeSeconds, refreshToken: refreshToken.token)
    }
}

/// A bcrypt hash of a random password, computed once at the configured cost: what an unknown
/// email's login is checked against, so it costs the same time as a known one.
final class DummyPasswordHash: Sendable {
    private let hash = Mutex<String?>(nil)

    func value(using hasher: PasswordHasher) async throws -> String {
        if let hash = hash.withLock({ $0 }) { return hash }
        let computed = try await hasher.hashAccountPassword(Secrets.generate())
        hash.withLock { if $0 == nil { $0 = computed } }
        return computed
    }
}
