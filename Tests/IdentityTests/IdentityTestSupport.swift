import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaService
import MalhaStore
import MalhaTesting
import Synchronization
import Testing

@testable import Identity

private let openStores = Mutex<[SQLiteStore]>([])

/// One HTTP answer, decoded for assertions.
struct Reply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var code: String? { json["code"] as? String }
    func string(_ key: String) -> String? { json[key] as? String }
}

/// An identity service on a fresh SQLite database, a manual clock and a cheap bcrypt cost.
/// `@unchecked`: the router (not `Sendable`) is built once and only read afterwards.
struct IdentityHarness: @unchecked Sendable {
    static let adminEmail = "root@malha.test"
    static let adminPassword = "root-password-for-tests"

    let store: any SQLStore
    let clock: ManualClock
    let configuration: IdentityConfiguration
    let repository: IdentityRepository
    let keyRing: KeyRing
    let hasher: PasswordHasher
    let router: Router<ServiceRequestContext>

    static func make(
        store givenStore: (any SQLStore)? = nil, configure: (inout IdentityConfiguration) -> Void = { _ in }
    ) async throws -> IdentityHarness {
        let store: any SQLStore
        if let given = givenStore {
            store = given
        } else {
            let sqlite = try await TestDatabases.sqlite()
            // SQLiteNIO asserts when a connection is deinitialised unclosed, and tests read the
            // repository after the HTTP client is done: keep the stores open for the process.
            openStores.withLock { $0.append(sqlite) }
            store = sqlite
        }
        var configuration = IdentityConfiguration()
        configuration.issuer = "https://malha.test"
        configuration.audience = "malha-test"
        configuration.publicBaseURL = "https://api.malha.test/"
        // Cost 4 keeps the suite fast; the cost is a parameter, the code path is the same as at 12.
        configuration.passwordCost = 4
        // Every test client shares one address; tests of the throttles set their own limits.
        configuration.registrationsPerAddress = AttemptLimit(10_000, per: .seconds(3600))
        configure(&configuration)
        let clock = ManualClock()
        var logger = Logger(label: "identity.test")
        logger.logLevel = .warning
        try await Migrator.migrate(store, IdentityService.migrations, logger: logger)
        let repository = IdentityRepository(store: store)
        let keyEncryption = KeyEncryptionKey.generate().key
        let keyRing = KeyRing(repository: repository, keyEncryption: keyEncryption, clock: clock)
        try await keyRing.ensureKey()
        let hasher = PasswordHasher(cost: configuration.passwordCost)
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: IdentityService.name), logger: logger)
        // The outbox and the event keys, without a bus: role changes wait in the outbox.
        let publishing = EventPublishing(
            service: IdentityService.name, store: store, transport: nil, keyEncryption: keyEncryption, runtime: runtime,
            clock: clock)
        try await publishing.migrate(store, logger: logger)
        let router = IdentityService.buildRouter(
            configuration: configuration, runtime: runtime, repository: repository, keyRing: keyRing, hasher: hasher,
            clock: clock,
            publishing: publishing)
        _ = try await IdentityService.ensureAdmin(
            email: adminEmail, password: adminPassword, store: store, hasher: hasher, clock: clock)
        return IdentityHarness(
            store: store, clock: clock, configuration: configuration, repository: repository, keyRing: keyRing, hasher: hasher,
            router: router)
    }

    func test<T: Sendable>(_ body: @Sendable (Client) async throws -> T) async throws -> T {
        let app = Application(router: router)
        return try await app.test(.router) { client in try await body(Client(client: client)) }
    }

    /// A verifier as another service would build it, fed by this service's JWKS.
    func verifier() -> AccessTokenVerifier {
        let keyRing = keyRing
        return AccessTokenVerifier(
            settings: .init(issuer: configuration.issuer, audience: configuration.audience),
            provider: ClosureJWKSProvider { try await keyRing.jwks() }, clock: clock, logger: Logger(label: "test"))
    }
}

/// Thin JSON helpers over the test client.
struct Client: Sendable {
    let client: any TestClientProtocol

    func send(
        _ method: HTTPRequest.Method, _ uri: String, body: String? = nil, token: String? = nil,
        contentType: String = "application/json", headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if body != nil { headers[.contentType] = contentType }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
        ) { response in
            Reply(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
        }
    }

    func post(_ uri: String, _ json: [String: Any], token: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await send(.post, uri, body: String(decoding: data, as: UTF8.self), token: token, headers: headers)
    }

    @discardableResult
    func register(_ email: String, password: String = "a-long-enough-password", name: String = "Ana") async throws -> Reply {
        try await post("/v1/auth/register", ["email": email, "password": password, "name": name])
    }

    func login(_ email: String, _ password: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await post("/v1/auth/login", ["email": email, "password": password], headers: headers)
    }

    /// Registers (when needed) and logs in; returns the token pair.
    func session(_ email: String, password: String = "a-long-enough-password") async throws -> (access: String, refresh: String) {
        _ = try await register(email, password: password)
        let reply = try await login(email, password)
        try #require(reply.status == .ok)
        return (try #require(reply.string("access_token")), try #require(reply.string("refresh_token")))
    }

    /// The first step for an account with MFA: its password answers an `mfa_token`, no token.
    func mfaToken(
        _ email: String = IdentityHarness.adminEmail, _ password: String = IdentityHarness.adminPassword
    ) async throws -> String {
        let reply = try await login(email, password)
        try #require(reply.status == .ok && reply.json["mfa_required"] as? Bool == true, "\(reply.json)")
        return try #require(reply.string("mfa_token"))
    }

    func adminToken() async throws -> String {
        let reply = try await login(IdentityHarness.adminEmail, IdentityHarness.adminPassword)
        try #require(reply.status == .ok)
        return try #require(reply.string("access_token"))
    }
}

/// The `kid` in a JWT's header.
func keyID(of token: String) -> String? {
    guard let header = token.split(separator: ".").first, let data = Data(base64URLEncoded: String(header)),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return nil }
    return object["kid"] as? String
}

/// The event a role change writes to the outbox.
func rolesChanged(_ userID: String, roles: [String] = [Role.admin], now: Date) throws -> Envelope {
    try Envelope(
        RolesChanged(userID: userID, roles: roles, changedBy: "admin", changedAt: now), source: IdentityService.name, at: now,
        key: userID)
}

// MARK: MFA

extension IdentityHarness {
    /// Enrols `email` in MFA: logs in with the password, starts the enrolment and confirms it
    /// with the code of the clock's step. Returns the factor and the recovery codes.
    func enrolMFA(
        _ client: Client, email: String = IdentityHarness.adminEmail, password: String = IdentityHarness.adminPassword
    ) async throws -> (totp: TOTP, recoveryCodes: [String]) {
        let login = try await client.login(email, password)
        try #require(login.status == .ok)
        let token = try #require(login.string("access_token"))
        let enrolment = try await client.post("/v1/auth/mfa/enrolment", [:], token: token)
        try #require(enrolment.status == .created)
        let totp = try enrolledFactor(enrolment)
        let confirmed = try await client.post(
            "/v1/auth/mfa/enrolment/confirm", ["code": totp.code(at: clock.now())], token: token)
        try #require(confirmed.status == .ok, "\(confirmed.json)")
        return (totp, try #require(confirmed.json["recovery_codes"] as? [String]))
    }

    /// Logs in with both steps. The clock moves to the next time step first, so the code is one
    /// no earlier login has used (the replay rule would refuse it).
    func loginWithSecondFactor(
        _ client: Client, totp: TOTP, email: String = IdentityHarness.adminEmail,
        password: String = IdentityHarness.adminPassword
    ) async throws -> (access: String, refresh: String) {
        clock.advance(by: .seconds(30))
        let second = try await client.post(
            "/v1/auth/login/mfa", ["mfa_token": try await client.mfaToken(email, password), "code": totp.code(at: clock.now())])
        try #require(second.status == .ok, "\(second.json)")
        return (try #require(second.string("access_token")), try #require(second.string("refresh_token")))
    }

    /// The admin's access token after both steps (enrolling the admin first).
    func secondFactorAdminToken(_ client: Client) async throws -> String {
        let (totp, _) = try await enrolMFA(client)
        return try await loginWithSecondFactor(client, totp: totp).access
    }
}

/// The factor an enrolment answered (its `secret`).
func enrolledFactor(_ reply: Reply) throws -> TOTP {
    let secret = try #require(reply.string("secret"))
    return TOTP(secret: try #require(Base32.decode(secret)))
}
