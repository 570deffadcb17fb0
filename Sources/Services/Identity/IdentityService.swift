import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaOpenAPI
import MalhaRegistry
import MalhaService
import MalhaStore
import ServiceLifecycle

/// Identity's typed configuration.
public struct IdentityConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    /// `iss` of every token (gateway and services check it).
    public var issuer = "malha"
    /// `aud` of every token.
    public var audience = "malha"
    /// The public base URL (the gateway's) used in OpenID discovery documents.
    public var publicBaseURL = "http://127.0.0.1:8080"
    /// bcrypt cost (`malha` refuses less than 10 outside test runs).
    public var passwordCost: UInt8 = 12
    /// Seals the signing keys at rest. Required to build the application.
    public var keyEncryptionKey: KeyEncryptionKey?
    public var accessTokenLifetimeSeconds = 15 * 60
    public var refreshTokenLifetimeSeconds: TimeInterval = 30 * 24 * 3600
    public var loginThrottle = LoginThrottlePolicy()
    /// Registrations one address may make (each costs a bcrypt hash): 10 an hour.
    public var registrationsPerAddress = AttemptLimit(10, per: .seconds(3600))
    /// Refreshes one address may make: 60 a minute.
    public var refreshesPerAddress = AttemptLimit(60, per: .seconds(60))
    /// Refreshes of one family (one login's chain of refresh tokens): 10 a minute.
    public var refreshesPerFamily = AttemptLimit(10, per: .seconds(60))
    /// The first administrator, created at start when both are set and the email is not registered.
    public var adminEmail: String?
    public var adminPassword: String?
    /// Service clients set up on every start: created, or given this secret and these scopes
    /// (`malha up` provisions the topology's own, e.g. `consolidation` with `ledger.read`).
    public var provisionedClients: [ProvisionedClient] = []

    public init() {}
}

/// The identity service: accounts, login with rotating refresh tokens, ES256 access tokens,
/// JWKS and OpenID discovery, client-credentials tokens, role administration, audit.
public enum IdentityService {
    public static let name = "identity"

    public static let routeRules: [RouteRule] = [
        .authenticated("/v1/auth/me"),
        .authenticated("/v1/auth/mfa"),
        .roles([Role.admin], "/v1/auth/keys"),
        .public("/v1/auth"),
        .public("/v1/oauth"),
        // The token keys, discovery, and identity's event keys (`/.well-known/event-keys`).
        .public("/.well-known"),
        .roles([Role.admin], "/v1/users"),
        .roles([Role.admin], "/v1/clients"),
    ]

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha identity", version: MalhaVersion.current,
            description: "Accounts, login with rotating refresh tokens, ES256 access tokens, JWKS and OpenID "
                + "discovery, client-credentials tokens, role administration.",
            operations: [
                .post(
                    "/v1/auth/register", "Create an account (role customer)", body: .json(RegisterRequest.self),
                    responses: [
                        .created(UserResponse.self, "The user", headers: []), badBearer,
                        .problem(409, "email_taken: an account with this email exists"),
                        .problem(422, "validation_failed: invalid email, password or name"),
                        .problem(429, "rate_limited: too many registrations from this address (Retry-After)"),
                        .problem(503, "password_hasher_busy: too many password checks waiting (Retry-After)"),
                    ]),
                .post(
                    "/v1/auth/login", "Log in with email and password",
                    description: "With MFA active the answer is a challenge instead of tokens: send its mfa_token and "
                        + "a code to /v1/auth/login/mfa within expires_in seconds.",
                    body: .json(LoginRequest.self),
                    responses: [
                        .init([
                            .init(
                                200, "Access and refresh tokens (amr pwd), or the MFA challenge",
                                content: [
                                    .init("application/json", .oneOf([.derived(TokenPair.self), .derived(MFAChallenge.self)]))
                                ])
                        ]),
                        .problem(401, "invalid_credentials (or an Authorization header that is not a valid bearer token)"),
                        .problem(422, "validation_failed: email or password too long"),
                        .problem(429, "Too many failed logins for the account or the address: retry after Retry-After"),
                        .problem(503, "password_hasher_busy: too many password checks waiting (Retry-After)"),
                    ]),
                .post(
                    "/v1/auth/login/mfa", "Log in, second step: a TOTP code or a recovery code",
                    description: "The access token says amr [\"pwd\",\"otp\"], as do the refreshes of its family. "
                        + "A code is accepted once (a code of its step or an older one is refused) within 30 s either "
                        + "side of now; a recovery code once. \(IdentityRoutes.challengeAttempts) wrong codes burn the "
                        + "mfa_token, and each counts as a failed login.",
                    body: .json(LoginMFARequest.self),
                    responses: [
                        .ok(TokenPair.self, "Access and refresh tokens (amr pwd, otp)"),
                        .problem(
                            401,
                            "invalid_mfa_token: unknown, expired, used or burnt; invalid_mfa_code: wrong, outside "
                                + "its window, replayed, or a spent recovery code (or a bad bearer token)"),
                        .problem(422, "validation_failed: neither code nor recovery_code, both, or too long"),
                        .problem(429, "Too many failed logins for the account or the address: retry after Retry-After"),
                    ]),
                .post(
                    "/v1/auth/mfa/enrolment", "Start (or restart) MFA enrolment: a new TOTP secret",
                    description: "Pending until confirmed by a first code; enrolling again while pending replaces the "
                        + "secret.", access: .authenticated,
                    responses: [
                        .created(MFAEnrolment.self, "The secret and its otpauth:// URI (shown once)", headers: []),
                        .problem(404, "The token's user no longer exists"),
                        .problem(409, "mfa_already_enabled"),
                    ]),
                .post(
                    "/v1/auth/mfa/enrolment/confirm", "Confirm the enrolment with a first code",
                    access: .authenticated, body: .json(ConfirmMFARequest.self),
                    responses: [
                        .ok(RecoveryCodes.self, "MFA is active; the recovery codes, shown this once"),
                        .problem(404, "The token's user no longer exists"),
                        .problem(409, "mfa_enrolment_not_started, or mfa_already_enabled"),
                        .problem(422, "invalid_mfa_code: the code does not match now; validation_failed: too long"),
                    ]),
                .post(
                    "/v1/auth/refresh", "Exchange a refresh token for a new pair (rotation)", body: .json(RefreshRequest.self),
                    responses: [
                        .ok(TokenPair.self, "A new token pair; the old refresh token is spent"),
                        .problem(
                            401,
                            "invalid_refresh_token: unknown, expired, revoked or reused (a reuse revokes the family)"),
                        .problem(422, "validation_failed: refresh_token too long"),
                        .problem(429, "rate_limited: too many refreshes from this address (Retry-After)"),
                    ]),
                .post(
                    "/v1/auth/logout", "Revoke the refresh token's family",
                    description: "Idempotent: an unknown or already revoked token is logged out too.",
                    body: .json(RefreshRequest.self),
                    responses: [
                        .noContent("Logged out"), badBearer, .problem(422, "validation_failed: refresh_token too long"),
                    ]),
                .get(
                    "/v1/auth/me", "The calling user", access: .authenticated,
                    responses: [.ok(UserResponse.self, "The user"), .problem(404, "The token's user no longer exists")]),
                .post(
                    "/v1/auth/keys/rotate", "Rotate the token signing key",
                    description: "The new key signs from now on; the previous one still verifies, the one before it "
                        + "is retired. Needs a token issued after a second factor.", access: .admin,
                    responses: [.created(RotatedKey.self, "The new key id", headers: []), .forbiddenWithoutSecondFactor]),
                .post(
                    "/v1/oauth/token", "OAuth 2.0 token endpoint (client_credentials)",
                    description: "Client credentials by HTTP Basic (RFC 6749 §2.3.1) or in the body.",
                    security: [.basic, .anonymous], body: .form(OAuthTokenRequest.self, orJSON: true),
                    responses: [
                        .ok(ClientTokenResponse.self, "An access token", headers: [noStore]),
                        .problem(400, "invalid_request, unsupported_grant_type, invalid_scope or malformed_json"),
                        .problem(
                            401, "invalid_client: unknown client, wrong secret, or an Authorization header that is not Basic"),
                        .problem(415, "Neither application/x-www-form-urlencoded nor application/json"),
                        .problem(422, "validation_failed: a JSON member that is not a string"),
                    ]),
                .get(
                    "/.well-known/jwks.json", "Token verification keys (current and previous)",
                    responses: [
                        .ok(JWKSDocument.self, "The JWKS (RFC 7517)", headers: [publicMaxAge60]), badBearer,
                    ]),
                .get(
                    "/.well-known/event-keys", "Keys identity signs its critical events with (ES256)",
                    description: "Consumers verify identity.roles-changed.v1 against these; every service that "
                        + "signs events serves its own at this path on its port.",
                    responses: [
                        .ok(JWKSDocument.self, "The JWKS (RFC 7517)", headers: [publicMaxAge60]), badBearer,
                    ]),
                .get(
                    "/.well-known/openid-configuration", "OpenID discovery",
                    responses: [.ok(OpenIDConfiguration.self, "The discovery document"), badBearer]),
                .get(
                    "/v1/users", "List users, oldest first", access: .admin,
                    parameters: [
                        .query("limit", .integer(1...100).defaulting(50)),
                        .query(
                            "cursor", .string(length: 1...64),
                            description: "The previous page's next_cursor (a user id)"),
                    ],
                    responses: [.page(of: UserResponse.self), .problem(422, "validation_failed: bad limit or cursor")]),
                .put(
                    "/v1/users/{id}/roles", "Replace a user's roles",
                    description: "Needs a token issued after a second factor.", access: .admin,
                    parameters: [.path("id", description: "The user id")], body: .json(RolesRequest.self),
                    responses: [
                        .ok(UserResponse.self, "The user with the new roles"), .problem(404, "No such user"),
                        .forbiddenWithoutSecondFactor,
                        .problem(422, "validation_failed: no role, too many, or an unknown one"),
                    ]),
                .post(
                    "/v1/clients", "Create a service client (its secret is shown once)", access: .admin,
                    body: .json(CreateClientRequest.self),
                    responses: [
                        .created(CreatedClient.self, "The client and its secret", headers: []),
                        .problem(422, "validation_failed: invalid name, scopes or roles"),
                    ]),
            ])
    }

    /// Public routes sit behind bearer authentication too: a token is optional there, but one
    /// that is sent must be valid.
    private static let badBearer = OpenAPIDocument.ResponseSpec.problem(
        401, "An Authorization header that is not a valid bearer token (none is needed)")

    private static let noStore = OpenAPIDocument.ResponseHeader(
        "Cache-Control", .enumeration(["no-store"]), required: true, description: "Token responses are never cached")

    private static let publicMaxAge60 = OpenAPIDocument.ResponseHeader(
        "Cache-Control", .enumeration(["public, max-age=60"]), required: true,
        description: "Keys may be cached for a minute")

    public static let migrations: [Migration] = IdentityMigrations.all

    /// The verifier identity uses for its own tokens: keys come straight from its key table.
    public static func makeVerifier(
        configuration: IdentityConfiguration, keyRing: KeyRing, clock: any WallClock, logger: Logger
    ) -> AccessTokenVerifier {
        AccessTokenVerifier(
            settings: .init(issuer: configuration.issuer, audience: configuration.audience),
            provider: ClosureJWKSProvider { try await keyRing.jwks() }, clock: clock, logger: logger)
    }

    /// Router with every route (used by in-process tests and by buildApplication).
    public static func buildRouter(
        configuration: IdentityConfiguration, runtime: ServiceRuntime, repository: IdentityRepository, keyRing: KeyRing,
        hasher: PasswordHasher, clock: any WallClock = SystemWallClock(), publishing: EventPublishing? = nil
    ) -> Router<ServiceRequestContext> {
        let verifier = makeVerifier(configuration: configuration, keyRing: keyRing, clock: clock, logger: runtime.logger)
        var wakeRelay: @Sendable () -> Void = {}
        if let publishing { wakeRelay = publishing.wakeRelay }
        let routes = IdentityRoutes(
            configuration: configuration, repository: repository, keyRing: keyRing, hasher: hasher,
            throttle: LoginThrottle(policy: configuration.loginThrottle, clock: clock),
            attempts: AttemptThrottle(clock: clock), verifier: verifier, clock: clock,
            dummyHash: DummyPasswordHash(), wakeRelay: wakeRelay)
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: NoStoreMiddleware())

        // The token endpoint takes HTTP Basic client credentials, so it sits outside Bearer authentication.
        router.post("/v1/oauth/token", use: routes.oauthToken)

        let api = router.group().add(middleware: BearerAuthenticationMiddleware(verifier: verifier))
        api.post("/v1/auth/register", use: routes.register)
        api.post("/v1/auth/login", use: routes.login)
        api.post("/v1/auth/refresh", use: routes.refresh)
        api.post("/v1/auth/logout", use: routes.logout)
        api.get("/.well-known/jwks.json", use: routes.jwks)
        api.get("/.well-known/openid-configuration", use: routes.openIDConfiguration)

        api.post("/v1/auth/login/mfa", use: routes.loginSecondStep)

        let authenticated = api.group().add(middleware: AccessPolicyMiddleware(.authenticated))
        authenticated.get("/v1/auth/me", use: routes.me)
        authenticated.post("/v1/auth/mfa/enrolment", use: routes.startEnrolment)
        authenticated.post("/v1/auth/mfa/enrolment/confirm", use: routes.confirmEnrolment)

        let admin = api.group().add(middleware: AccessPolicyMiddleware(.admin))
        admin.get("/v1/users", use: routes.listUsers)
        admin.post("/v1/clients", use: routes.createClient)
        // What could take the platform over needs the admin's second factor too.
        let secondFactor = admin.group().add(middleware: SecondFactorMiddleware())
        secondFactor.post("/v1/auth/keys/rotate", use: routes.rotateKey)
        secondFactor.put("/v1/users/{id}/roles", use: routes.setRoles)
        publishing?.addRoutes(to: router)
        return router
    }

    /// The application: `services` run before the server in order (the store first); migrations,
    /// the first signing keys (tokens and events) and the first admin are set up in
    /// `beforeServerStarts`. With a transport, the outbox relay publishes `identity.roles-changed.v1`
    /// signed with identity's event key (sealed with the same key-encryption key as its token keys).
    public static func buildApplication(
        configuration: IdentityConfiguration, runtime: ServiceRuntime, store: any SQLStore,
        transport: (any MessageTransport)? = nil, clock: any WallClock = SystemWallClock(), services: [any Service]
    ) async throws -> some ApplicationProtocol {
        guard let keyEncryptionKey = configuration.keyEncryptionKey else { throw MissingKeyEncryptionKey() }
        let repository = IdentityRepository(store: store)
        let keyRing = KeyRing(repository: repository, keyEncryption: keyEncryptionKey, clock: clock)
        let hasher = PasswordHasher(cost: configuration.passwordCost)
        let publishing = EventPublishing(
            service: name, store: store, transport: transport, keyEncryption: keyEncryptionKey, runtime: runtime, clock: clock)
        let router = buildRouter(
            configuration: configuration, runtime: runtime, repository: repository, keyRing: keyRing, hasher: hasher,
            clock: clock, publishing: publishing)
        runtime.readiness.require(.migrations)
        let logger = runtime.logger
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port,
            services: services + publishing.services(readiness: runtime.readiness)
        ) {
            try await Migrator.migrate(store, migrations, logger: logger)
            try await publishing.migrate(store, logger: logger)
            let sealed = try await keyRing.sealPlaintextKeys()
            if sealed > 0 { logger.notice("sealed signing keys stored in plaintext", metadata: ["keys": "\(sealed)"]) }
            if try await keyRing.ensureKey() { logger.info("created the first signing key") }
            if let email = configuration.adminEmail, let password = configuration.adminPassword {
                if try await ensureAdmin(email: email, password: password, store: store, hasher: hasher, clock: clock) {
                    logger.info("created the first administrator", metadata: ["email": "\(AccountRules.normalizeEmail(email))"])
                }
            }
            for client in configuration.provisionedClients {
                try await provision(client, repository: repository, clock: clock)
            }
            runtime.readiness.set(.migrations, true)
        }
    }

    /// Creates an administrator with `email` and `password` unless that email is registered.
    /// Returns true when it created the account. Throws `AdminConfigurationError` for an invalid
    /// email or a weak password (the same rules as registration).
    public static func ensureAdmin(
        email: String, password: String, store: any SQLStore, hasher: PasswordHasher = PasswordHasher(),
        clock: any WallClock = SystemWallClock()
    ) async throws -> Bool {
        let repository = IdentityRepository(store: store)
        let normalized = AccountRules.normalizeEmail(email)
        if let problem = AccountRules.emailProblem(normalized) {
            throw AdminConfigurationError(field: "adminEmail", problem: problem)
        }
        if let problem = AccountRules.passwordProblem(password) {
            throw AdminConfigurationError(field: "adminPassword", problem: problem)
        }
        if try await repository.user(email: normalized) != nil { return false }
        let now = clock.now()
        let user = User(
            id: UUID.v7(at: now).lowercased, email: normalized, name: "Administrator", roles: [Role.admin], createdAt: now)
        do {
            try await repository.insert(
                user: user, passwordHash: try await hasher.hashAccountPassword(password),
                audit: .init(event: .register, at: now, subject: user.id, email: normalized, detail: "first administrator"))
        } catch AccountRefusal.emailTaken {
            return false  // another instance created it first
        }
        return true
    }
}

extension IdentityService {
    static func provision(
        _ provisioned: ProvisionedClient, repository: IdentityRepository, clock: any WallClock
    )
        async throws
    {
        if let problem = AccountRules.scopeProblem(provisioned.scopes) {
            throw AdminConfigurationError(field: "provisioned client \(provisioned.id) scopes", problem: problem)
        }
        let now = clock.now()
        let client = ServiceClient(
            id: provisioned.id, name: "\(provisioned.id) (service)", scopes: Array(Set(provisioned.scopes)).sorted(),
            roles: [], createdAt: now)
        try await repository.provision(
            client: client, secretHash: Secrets.hash(provisioned.secret),
            audit: .init(
                event: .clientProvisioned, at: now, subject: Principal.clientPrefix + client.id,
                detail: client.scopes.joined(separator: " ")))
    }
}

/// A service client the deployment sets up itself: its id (the service's name), its secret (the
/// service holds it; identity keeps only its hash) and the scopes it may ask for.
public struct ProvisionedClient: Sendable, Hashable {
    public var id: String
    public var secret: String
    public var scopes: [String]

    public init(id: String, secret: String, scopes: [String]) {
        self.id = id
        self.secret = secret
        self.scopes = scopes
    }
}

/// The configured first administrator is not acceptable.
public struct AdminConfigurationError: Error, CustomStringConvertible {
    public var field: String
    public var problem: String
    public var description: String { "\(field) \(problem)" }
}

/// Identity was built without a key-encryption key: its signing keys would be stored in clear.
public struct MissingKeyEncryptionKey: Error, CustomStringConvertible {
    public init() {}
    public var description: String {
        "identity needs a key-encryption key for its signing keys (malha.identity.key-encryption-key or -file)"
    }
}
