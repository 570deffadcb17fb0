import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaRegistry
import MalhaStore
import MalhaTesting
import NIOCore
import Testing

@Suite struct RegistryTests {
    static let key = RegistryCredential.key(from: String(repeating: "registry-key-", count: 4))!
    static let catalog = RegistryCredential(service: "catalog", key: key)
    static let ownership = RouteOwnership([
        "catalog": ["/v1/products", "/v1/categories"], "identity": ["/v1/auth", "/.well-known"],
        "ledger": ["/v1/accounts"], "consolidation": ["/v1/accounts/*/balances"],
    ])

    struct Fixture {
        nonisolated(unsafe) let router: Router<ServiceRequestContext>
        let clock: ManualClock
        let signer: TokenSigner
    }

    static func withRegistry(_ store: any SQLStore, _ body: (Fixture) async throws -> Void) async throws {
        let logger = Logger(label: "test")
        try await Migrator.migrate(store, RegistryService.migrations, logger: logger)
        let clock = ManualClock()
        let key = SigningKey.generate(at: clock.now())
        let signer = await TokenSigner(key: key)
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: "test", audience: "malha"),
            provider: ClosureJWKSProvider { JWKSDocument(keys: [key.publicJWK]) }, clock: clock, logger: logger)
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "registry"), logger: logger)
        let router = RegistryService.buildRouter(
            configuration: RegistryConfiguration(credentialKey: Self.key, ownership: Self.ownership), runtime: runtime,
            repository: RegistryRepository(store: store), verifier: verifier, clock: clock)
        try await body(Fixture(router: router, clock: clock, signer: signer))
    }

    static func registration(
        id: String, service: String = "catalog", ttl: Int = 10, baseURL: String = "http://127.0.0.1:9001",
        healthURL: String? = nil, adminPolicy: String = "roles:admin", prefixes: [String] = ["/v1/products"]
    ) -> ByteBuffer {
        let json: [String: Any] = [
            "id": id, "service": service, "version": "1.0.0", "base_url": baseURL,
            "health_url": healthURL ?? baseURL + "/health/ready", "ttl_seconds": ttl,
            "routes": prefixes.flatMap { prefix -> [[String: Any]] in
                [["prefix": prefix, "policy": "public"], ["prefix": prefix, "methods": ["POST"], "policy": adminPolicy]]
            },
        ]
        return ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: json))
    }

    static let serviceHeaders = headers(catalog)

    static func headers(_ credential: RegistryCredential) -> HTTPFields {
        [.registryToken: credential.header, .contentType: "application/json"]
    }

    func listed(_ client: some TestClientProtocol) async throws -> [String] {
        try await client.execute(uri: "/v1/registry/instances", method: .get, headers: Self.serviceHeaders) { response in
            #expect(response.status == .ok)
            let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
            return (object?["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
    }

    /// A service whose server never binds (its port taken, another service failed first) must not
    /// hold its registrar forever: cancelled, the registrar returns at once, registering nothing.
    @Test func aRegistrarWhoseServerNeverBindsStopsWhenCancelled() async throws {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "never-bound"))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = httpClient.shutdown() }
        let registrar = RegistryRegistrar(
            client: RegistryClient(baseURL: "http://127.0.0.1:9", credential: Self.catalog, httpClient: httpClient),
            runtime: runtime, routes: [])
        let run = Task { try await registrar.run() }
        try await Task.sleep(for: .milliseconds(100))
        let cancelled = ContinuousClock.now
        run.cancel()
        _ = await run.result
        // A registrar that waited for the bind would never return. Idle it returns within
        // milliseconds; with the whole suite on 2 cores 1.09 s was seen, so the bound tells
        // "returned" from "waited" without timing the scheduler.
        #expect(ContinuousClock.now - cancelled < .seconds(5))
        #expect(!runtime.readiness.isReady, "nothing was registered")

        // And a waiter for the address still gets it once the server binds.
        let waiter = Task { try await runtime.boundAddress.value() }
        try await Task.sleep(for: .milliseconds(50))
        runtime.boundAddress.set(host: "127.0.0.1", port: 4242)
        #expect(try await waiter.value.port == 4242)
    }

    @Test func leaseLifecycleOnEachBackend() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Self.withRegistry(store) { fixture in
                let app = Application(router: fixture.router)
                let clock = fixture.clock
                try await app.test(.router) { client in
                    try await client.execute(
                        uri: "/v1/registry/instances", method: .post, headers: Self.serviceHeaders,
                        body: Self.registration(id: "a")
                    ) { response in
                        #expect(response.status == .created)
                    }
                    #expect(try await listed(client) == ["a"])

                    // Renewed before it lapses: still there after the original TTL.
                    clock.advance(by: .seconds(8))
                    try await client.execute(
                        uri: "/v1/registry/instances/a/lease?ttl_seconds=10", method: .put, headers: Self.serviceHeaders
                    ) {
                        #expect($0.status == .ok)
                    }
                    clock.advance(by: .seconds(8))
                    #expect(try await listed(client) == ["a"])

                    // Not renewed: the lease lapses and the instance drops out; renewing is refused.
                    clock.advance(by: .seconds(3))
                    #expect(try await listed(client) == [])
                    try await client.execute(uri: "/v1/registry/instances/a/lease", method: .put, headers: Self.serviceHeaders) {
                        response in
                        #expect(response.status == .notFound)
                        #expect(String(buffer: response.body).contains("lease_lapsed"))
                    }

                    // Registering again brings it back; deregistering removes it at once.
                    try await client.execute(
                        uri: "/v1/registry/instances", method: .post, headers: Self.serviceHeaders,
                        body: Self.registration(id: "a")
                    ) { #expect($0.status == .created) }
                    #expect(try await listed(client) == ["a"])
                    try await client.execute(uri: "/v1/registry/instances/a", method: .delete, headers: Self.serviceHeaders) {
                        #expect($0.status == .noContent)
                    }
                    #expect(try await listed(client) == [])
                }
            }
        }
    }

    @Test func expiredLeasesArePurged() async throws {
        let store = try await TestDatabases.sqlite()
        try await Migrator.migrate(store, RegistryService.migrations, logger: Logger(label: "test"))
        let repository = RegistryRepository(store: store)
        let now = Date(timeIntervalSince1970: 1_000_000)
        for (id, ttl) in [("short", 5.0), ("long", 50.0)] {
            _ = try await repository.upsert(
                ServiceInstance(
                    id: id, service: "catalog", version: "1", baseURL: "http://127.0.0.1:1", healthURL: "http://127.0.0.1:1/h",
                    routes: [], registeredAt: now, leaseExpiresAt: now.addingTimeInterval(ttl)))
        }
        #expect(try await repository.purgeExpired(before: now.addingTimeInterval(10)) == 1)
        #expect(try await repository.live(at: now).map(\.id) == ["long"])
        #expect(try await repository.live(at: now).first?.routes == [])
    }

    @Test func authenticationAndValidation() async throws {
        try await Self.withRegistry(try await TestDatabases.sqlite()) { fixture in
            let app = Application(router: fixture.router)
            let now = fixture.clock.now()
            let signer = fixture.signer
            try await app.test(.router) { client in
                // No credentials, a wrong token: 401 problems.
                try await client.execute(uri: "/v1/registry/instances", method: .get) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                try await client.execute(
                    uri: "/v1/registry/instances", method: .post, headers: [.registryToken: "wrong"],
                    body: Self.registration(id: "x")
                ) { #expect($0.status == .unauthorized) }

                // An admin may list; a customer may not; nobody registers with a JWT.
                let admin = try await signer.sign(
                    AccessTokenClaims(
                        sub: "u1", roles: ["admin"], iss: "test", aud: "malha", issuedAt: now, lifetime: .seconds(900)))
                let customer = try await signer.sign(
                    AccessTokenClaims(
                        sub: "u2", roles: ["customer"], iss: "test", aud: "malha", issuedAt: now, lifetime: .seconds(900)))
                try await client.execute(
                    uri: "/v1/registry/instances", method: .get, headers: [.authorization: "Bearer \(admin)"]
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(
                    uri: "/v1/registry/instances", method: .get, headers: [.authorization: "Bearer \(customer)"]
                ) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(
                    uri: "/v1/registry/instances", method: .post, headers: [.authorization: "Bearer \(admin)"],
                    body: Self.registration(id: "x")
                ) { #expect($0.status == .unauthorized) }

                // Invalid registrations: 422 with the field; malformed JSON: 400.
                try await client.execute(
                    uri: "/v1/registry/instances", method: .post, headers: Self.serviceHeaders,
                    body: Self.registration(id: "x", ttl: 0, baseURL: "ftp://nowhere")
                ) { response in
                    #expect(response.status == .unprocessableContent)
                    let body = String(buffer: response.body)
                    #expect(body.contains("base_url") && body.contains("ttl_seconds"))
                }
                // A mistyped policy is refused, naming the rule, rather than the route being
                // dropped by the gateway later (which would leave it unrouted, or worse, open).
                for policy in ["admin", "roles:", "Public", "roles: , "] {
                    try await client.execute(
                        uri: "/v1/registry/instances", method: .post, headers: Self.serviceHeaders,
                        body: Self.registration(id: "typo", adminPolicy: policy)
                    ) { response in
                        #expect(response.status == .unprocessableContent, "\(policy)")
                        let body = String(buffer: response.body)
                        #expect(body.contains("routes[1].policy") && body.contains("roles:<role>"), "\(policy): \(body)")
                    }
                }
                try await client.execute(uri: "/v1/registry/instances", method: .get, headers: Self.serviceHeaders) { response in
                    #expect(!String(buffer: response.body).contains("typo"))
                }
                try await client.execute(
                    uri: "/v1/registry/instances", method: .post, headers: Self.serviceHeaders, body: ByteBuffer(string: "{nope")
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("malformed_json"))
                }
                try await client.execute(uri: "/v1/registry/instances/missing", method: .delete, headers: Self.serviceHeaders) {
                    #expect($0.status == .notFound)
                }
            }
        }
    }

    /// Each hole of the shared-token registry, closed: a credential acts as its own service only,
    /// on the prefixes that service owns, on its own instances, with a health URL on its own host.
    @Test func aServiceCredentialCannotTakeOverAnotherService() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Self.withRegistry(store) { fixture in
                let app = Application(router: fixture.router)
                try await app.test(.router) { client in
                    func register(
                        _ body: ByteBuffer, as credential: RegistryCredential = Self.catalog
                    ) async throws -> (
                        HTTPResponse.Status, String
                    ) {
                        try await client.execute(
                            uri: "/v1/registry/instances", method: .post, headers: Self.headers(credential), body: body
                        ) { ($0.status, String(buffer: $0.body)) }
                    }
                    // Catalog's own registration passes; identity registers its own.
                    #expect(try await register(Self.registration(id: "c1")).0 == .created)
                    let identity = RegistryCredential(service: "identity", key: Self.key)
                    #expect(
                        try await register(Self.registration(id: "i1", service: "identity", prefixes: ["/v1/auth"]), as: identity)
                            .0 == .created)

                    // Under another service's name: 403 foreign_service.
                    let foreign = try await register(Self.registration(id: "x1", service: "identity", prefixes: ["/v1/auth"]))
                    #expect(foreign.0 == .forbidden)
                    #expect(foreign.1.contains("foreign_service"))
                    // Another service's prefix, a longer one inside it, or one nobody owns: 403 route_not_owned.
                    for prefixes in [["/v1/auth/login"], ["/v1/auth"], ["/v1/products", "/v1/auth/login/x"], ["/"], ["/v2"]] {
                        let claim = try await register(Self.registration(id: "c2", prefixes: prefixes))
                        #expect(claim.0 == .forbidden, "\(prefixes)")
                        #expect(claim.1.contains("route_not_owned"), "\(prefixes)")
                    }
                    // Patterns: consolidation's balances inside the ledger's accounts stay consolidation's.
                    let ledger = RegistryCredential(service: "ledger", key: Self.key)
                    let consolidation = RegistryCredential(service: "consolidation", key: Self.key)
                    let balances = "/v1/accounts/*/balances"
                    #expect(
                        try await register(Self.registration(id: "l1", service: "ledger", prefixes: [balances]), as: ledger).0
                            == .forbidden)
                    #expect(
                        try await register(
                            Self.registration(id: "l1", service: "ledger", prefixes: ["/v1/accounts/7/balances"]), as: ledger
                        ).0 == .forbidden)
                    #expect(
                        try await register(
                            Self.registration(id: "k1", service: "consolidation", prefixes: [balances]), as: consolidation
                        ).0 == .created)
                    // Another service's instance id: 409, and the instance stays identity's.
                    let taken = try await register(Self.registration(id: "i1"))
                    #expect(taken.0 == .conflict)
                    #expect(taken.1.contains("instance_id_taken"))
                    // A health URL off the instance's own host: 422, the field named.
                    for health in ["http://169.254.169.254/latest", "http://127.0.0.1:9002/health", "https://127.0.0.1:9001/h"] {
                        let probe = try await register(Self.registration(id: "c3", healthURL: health))
                        #expect(probe.0 == .unprocessableContent, "\(health)")
                        #expect(probe.1.contains("health_url"), "\(health)")
                    }
                    // A forged credential (right shape, wrong secret) or one for a name under another key: 401.
                    let forged = RegistryCredential(header: "identity.\(Self.catalog.secret)")!
                    #expect(try await register(Self.registration(id: "i9", service: "identity"), as: forged).0 == .unauthorized)
                    let otherKey = RegistryCredential(
                        service: "identity", key: RegistryCredential.key(from: String(repeating: "k", count: 40))!)
                    #expect(try await register(Self.registration(id: "i9", service: "identity"), as: otherKey).0 == .unauthorized)

                    // Renewing or deregistering another service's instance: 404, and it stays.
                    try await client.execute(
                        uri: "/v1/registry/instances/i1/lease", method: .put, headers: Self.serviceHeaders
                    ) { #expect($0.status == .notFound) }
                    try await client.execute(uri: "/v1/registry/instances/i1", method: .delete, headers: Self.serviceHeaders) {
                        #expect($0.status == .notFound)
                    }
                    #expect(try await listed(client).sorted() == ["c1", "i1", "k1"])
                    let kept = try await client.execute(uri: "/v1/registry/instances", method: .get, headers: Self.serviceHeaders)
                    {
                        String(buffer: $0.body)
                    }
                    #expect(!kept.contains("/v1/auth/login"))
                    // Its own service deregisters it.
                    try await client.execute(uri: "/v1/registry/instances/i1", method: .delete, headers: Self.headers(identity)) {
                        #expect($0.status == .noContent)
                    }
                }
            }
        }
    }

    @Test func credentialsAreBoundToTheirService() throws {
        let credential = RegistryCredential(service: "catalog", key: Self.key)
        #expect(credential.isValid(under: Self.key))
        #expect(RegistryCredential(header: credential.header) == credential)
        #expect(!RegistryCredential(header: "identity.\(credential.secret)")!.isValid(under: Self.key))
        #expect(RegistryCredential(header: "no-secret") == nil)
        #expect(RegistryCredential(header: "catalog.") == nil)
        #expect(RegistryCredential(header: ".secret") == nil)
        #expect(!credential.description.contains(credential.secret), "the secret is never printed")
        #expect(RegistryCredential.key(from: "short") == nil)
        #expect(RouteOwnership.parse("legacy=/legacy,/old; shop=/shop") == ["legacy": ["/legacy", "/old"], "shop": ["/shop"]])
        #expect(RouteOwnership.parse("legacy=legacy") == nil)
        #expect(RouteOwnership.parse("=/x") == nil)
    }

    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await Self.withRegistry(try await TestDatabases.sqlite()) { fixture in
            let routes = Set(fixture.router.routes.map { "\($0.method) \($0.path)" })
            #expect(routes == RegistryService.openAPI.routeKeys)
        }
    }
}
