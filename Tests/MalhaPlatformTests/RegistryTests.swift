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
    static let token = "registry-secret"

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
            configuration: RegistryConfiguration(registrationToken: token), runtime: runtime,
            repository: RegistryRepository(store: store), verifier: verifier, clock: clock)
        try await body(Fixture(router: router, clock: clock, signer: signer))
    }

    static func registration(
        id: String, ttl: Int = 10, baseURL: String = "http://127.0.0.1:9001", adminPolicy: String = "roles:admin"
    ) -> ByteBuffer {
        let json: [String: Any] = [
            "id": id, "service": "catalog", "version": "1.0.0", "base_url": baseURL,
            "health_url": baseURL + "/health/ready", "ttl_seconds": ttl,
            "routes": [
                ["prefix": "/v1/products", "policy": "public"],
                ["prefix": "/v1/products", "methods": ["POST"], "policy": adminPolicy],
            ],
        ]
        return ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: json))
    }

    static let serviceHeaders: HTTPFields = [.registryToken: token, .contentType: "application/json"]

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
            client: RegistryClient(baseURL: "http://127.0.0.1:9", token: "unused", httpClient: httpClient),
            runtime: runtime, routes: [])
        let run = Task { try await registrar.run() }
        try await Task.sleep(for: .milliseconds(100))
        let cancelled = ContinuousClock.now
        run.cancel()
        _ = await run.result
        #expect(ContinuousClock.now - cancelled < .seconds(1))
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
            try await repository.upsert(
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

    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await Self.withRegistry(try await TestDatabases.sqlite()) { fixture in
            let routes = Set(fixture.router.routes.map { "\($0.method) \($0.path)" })
            #expect(routes == RegistryService.openAPI.routeKeys)
        }
    }
}
