import AsyncHTTPClient
import Foundation
import Logging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

/// Starts registry, identity, catalog and gateway as four `malha serve` processes on loopback and
/// walks the README's curl flow through the gateway, including a stopped catalog and its return.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct GatewayFlowSystemTests {
    struct Cluster {
        var processes: [String: MalhaProcess] = [:]
        var environment: [String: String]
        var logDirectory: URL

        /// Only the registry holds the key; every other process gets its own service's credential,
        /// as `malha registry credential` prints it.
        mutating func start(_ service: String) async throws {
            var environment = environment
            if service == "registry" {
                environment["MALHA_REGISTRY_KEY"] = GatewayFlowSystemTests.registryKey
            } else {
                environment["MALHA_REGISTRY_CREDENTIAL"] = try await GatewayFlowSystemTests.credential(for: service)
            }
            processes[service] = try MalhaProcess(
                arguments: ["serve", service, "--text-logs"], environment: environment, name: service, logDirectory: logDirectory)
        }

        func stopAll() { for process in processes.values { process.terminate() } }
    }

    static func makeCluster() throws -> (Cluster, gatewayURL: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-system-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var environment: [String: String] = [
            "MALHA_DATA_DIR": directory.path,
            "MALHA_IDENTITY_KEY_ENCRYPTION_KEY": String(repeating: "5a", count: 32),
            "MALHA_METRICS_TOKEN": String(repeating: "6b", count: 32),
            "MALHA_ADMIN_EMAIL": "root@example.com",
            "MALHA_ADMIN_PASSWORD": "correct horse battery staple",
            "MALHA_CATALOG_SEED_DEMO_DATA": "true",
        ]
        var ports: [String: Int] = [:]
        for service in ["gateway", "registry", "identity", "catalog"] {
            let port = try freePort()
            ports[service] = port
            environment["MALHA_\(service.uppercased())_PORT"] = String(port)
            environment["MALHA_\(service.uppercased())_HOST"] = "127.0.0.1"
        }
        let gatewayURL = "http://127.0.0.1:\(ports["gateway"]!)"
        environment["MALHA_REGISTRY_URL"] = "http://127.0.0.1:\(ports["registry"]!)"
        environment["MALHA_AUTH_JWKS_URL"] = "http://127.0.0.1:\(ports["identity"]!)/.well-known/jwks.json"
        environment["MALHA_AUTH_ISSUER"] = gatewayURL
        environment["MALHA_GATEWAY_PUBLIC_URL"] = gatewayURL
        return (Cluster(environment: environment, logDirectory: directory), gatewayURL)
    }

    static let registryKey = "system-test-registry-key-0123456789abcdef"

    static func credential(for service: String) async throws -> String {
        let (status, output) = try await MalhaProcess.run(
            ["registry", "credential", service], environment: ["MALHA_REGISTRY_KEY": registryKey])
        try #require(status == 0, "\(output)")
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A service started with the registry's key, another service's credential, or the old shared
    /// token stops at once, saying which key is wrong; it never registers as someone else.
    @Test func aServiceStartsOnlyWithItsOwnRegistryCredential() async throws {
        let catalog = try await Self.credential(for: "catalog")
        #expect(catalog.hasPrefix("catalog.") && catalog.count > 40)
        let identity = try await Self.credential(for: "identity")
        for (environment, message) in [
            (["MALHA_REGISTRY_KEY": Self.registryKey], "malha.registry.key belongs to the registry alone"),
            (["MALHA_REGISTRY_CREDENTIAL": identity], "malha.registry.credential is identity's"),
            ([:], "malha.registry.credential (MALHA_REGISTRY_CREDENTIAL) is required for `serve catalog`"),
            (["MALHA_REGISTRY_TOKEN": "shared"], "malha.registry.token (one secret for every service) is gone"),
        ] {
            let port = try freePort()
            let (status, output) = try await MalhaProcess.run(
                ["serve", "catalog", "--port", String(port)],
                environment: environment.merging(["MALHA_DATA_DIR": "/nonexistent"]) { a, _ in a })
            #expect(status != 0, "\(environment.keys)")
            #expect(output.contains(message), "\(output.suffix(1000))")
        }
    }

    @Test func readmeFlowThroughTheGatewayOnSQLite() async throws {
        try await readmeFlow(databaseURLs: [:])
    }

    /// The same processes, each service on its own PostgreSQL database (`malha serve` as in production).
    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func readmeFlowThroughTheGatewayOnPostgreSQL() async throws {
        try await TestDatabases.withPostgresDatabase { registry in
            try await TestDatabases.withPostgresDatabase { identity in
                try await TestDatabases.withPostgresDatabase { catalog in
                    try await readmeFlow(databaseURLs: ["REGISTRY": registry, "IDENTITY": identity, "CATALOG": catalog])
                    // The data really is in PostgreSQL, one database per service.
                    #expect(try await Self.count("products", in: catalog) >= 200)
                    #expect(try await Self.count("users", in: identity) >= 2)
                    #expect(try await Self.count("schema_migrations", in: registry) >= 1)
                }
            }
        }
    }

    static func count(_ table: String, in url: String) async throws -> Int {
        let store = try PostgresStore(url: url, logger: Logger(label: "system-test"))
        return try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                try? await store.run()
                return nil
            }
            let count = try await store.read { db in
                try await db.raw("SELECT count(*) AS n FROM \(unsafeRaw: table)").first()?.decode(column: "n", as: Int.self) ?? 0
            }
            group.cancelAll()
            return count
        }
    }

    func readmeFlow(databaseURLs: [String: String]) async throws {
        var (cluster, gatewayURL) = try Self.makeCluster()
        for (service, url) in databaseURLs { cluster.environment["MALHA_\(service)_DATABASE_URL"] = url }
        defer { cluster.stopAll() }
        for service in ["registry", "identity", "catalog", "gateway"] { try await cluster.start(service) }
        let http = HTTPClient.shared
        let client = TestClient(base: gatewayURL, http: http)

        let products = try await client.eventually("/v1/products?limit=5", until: { $0.status == 200 })
        try #require(products?.status == 200, "catalog never became reachable: \(cluster.processes["gateway"]!.log.suffix(2000))")
        #expect((products?.json["items"] as? [Any])?.count == 5)
        // Each process registers on its own schedule; wait for identity's routes too.
        let jwks = try await client.eventually("/.well-known/jwks.json", until: { $0.status == 200 })
        try #require(jwks?.status == 200, "identity never became reachable: \(cluster.processes["identity"]!.log.suffix(2000))")
        #expect((try await client.request(.GET, "/health/ready")).status == 200)

        // register → login → me
        let email = "ana.\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let registered = try await client.request(
            .POST, "/v1/auth/register", json: ["email": email.uppercased(), "password": "a long passphrase 42", "name": "Ana"])
        #expect(registered.status == 201)
        #expect(registered.json["email"] as? String == email)
        let login = try await client.request(.POST, "/v1/auth/login", json: ["email": email, "password": "a long passphrase 42"])
        #expect(login.status == 200)
        let access = try #require(login.json["access_token"] as? String)
        let refresh = try #require(login.json["refresh_token"] as? String)
        let me = try await client.request(.GET, "/v1/auth/me", token: access)
        #expect(me.status == 200)
        #expect(me.json["email"] as? String == email)

        // Tokens the gateway must refuse.
        let parts = access.split(separator: ".").map(String.init)
        let forged = parts[0] + "." + parts[1] + "." + String(parts[2].reversed())
        let algNone = base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + "."
        for bad in [forged, algNone, "not-a-token"] {
            let response = try await client.request(.GET, "/v1/auth/me", token: bad)
            #expect(response.status == 401)
            #expect(response.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(response.headers.first(name: "Content-Type") == "application/problem+json")
        }
        #expect(try await client.request(.GET, "/v1/auth/me").status == 401)

        // A customer on an admin route.
        #expect(try await client.request(.GET, "/v1/users", token: access).status == 403)

        // Refresh rotation and reuse detection.
        let rotated = try await client.request(.POST, "/v1/auth/refresh", json: ["refresh_token": refresh])
        #expect(rotated.status == 200)
        let newRefresh = try #require(rotated.json["refresh_token"] as? String)
        #expect(try await client.request(.POST, "/v1/auth/refresh", json: ["refresh_token": refresh]).status == 401)
        #expect(try await client.request(.POST, "/v1/auth/refresh", json: ["refresh_token": newRefresh]).status == 401)

        // The admin sees users and the registry.
        let adminLogin = try await client.request(
            .POST, "/v1/auth/login", json: ["email": "root@example.com", "password": "correct horse battery staple"])
        let admin = try #require(adminLogin.json["access_token"] as? String)
        #expect(try await client.request(.GET, "/v1/users", token: admin).status == 200)
        let registry = try await client.request(.GET, "/v1/registry/instances", token: admin)
        #expect(registry.status == 200)
        #expect((registry.json["items"] as? [[String: Any]])?.compactMap { $0["service"] as? String }.contains("catalog") == true)

        // Bad input is a 4xx problem.
        let malformed = try await client.request(.POST, "/v1/auth/register", headers: [("Content-Type", "application/json")])
        #expect((400..<500).contains(malformed.status))

        // Stop the catalog: 503 problem+json at once; start it again: traffic returns, no gateway restart.
        cluster.processes["catalog"]!.terminate()
        let unavailable = try await client.request(.GET, "/v1/products?limit=1")
        #expect(unavailable.status == 503)
        #expect(unavailable.headers.first(name: "Content-Type") == "application/problem+json")
        try await cluster.start("catalog")
        let back = try await client.eventually("/v1/products?limit=1", until: { $0.status == 200 })
        #expect(back?.status == 200)

        // A crash (no deregistration): refused connections answer 503 at once, not a timeout.
        cluster.processes["catalog"]!.kill9()
        let before = ContinuousClock.now
        let crashed = try await client.request(.GET, "/v1/products?limit=1")
        #expect(crashed.status == 503)
        #expect(ContinuousClock.now - before < .seconds(2))
        try await cluster.start("catalog")
        #expect(try await client.eventually("/v1/products?limit=1", until: { $0.status == 200 })?.status == 200)
    }

    func base64URL(_ string: String) -> String {
        Data(string.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// `malha up`: ready quickly, lists the demo catalog, keeps data across a restart.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct EmbeddedUpSystemTests {
    @Test func upStartsServesAndKeepsDataAcrossRestart() async throws {
        let sandbox = try UpSandbox("up")
        let port = sandbox.port
        let http = HTTPClient.shared
        let client = TestClient(base: sandbox.baseURL, http: http)

        var up = try sandbox.start(name: "up-1")
        // Ready, not how fast: speed is measured in benchmarks, never in tests. This test starts
        // with the whole suite on 2 cores, where a first start (seeding included) has taken 12 s;
        // alone, a debug build's first start is ready in 0.8 s (2026-12-03, 5bb58ca and after).
        let ready = try await client.eventually("/health/ready", until: { $0.status == 200 })
        try #require(ready?.status == 200, "gateway never ready: \(up.log.suffix(3000))")
        let products = try await client.eventually("/v1/products?limit=100", until: { $0.status == 200 })
        #expect((products?.json["items"] as? [Any])?.count == 100)
        #expect(up.log.contains("Point a browser or curl at"))

        let email = "keep.\(UUID().uuidString.prefix(8))@example.com"
        #expect(
            try await client.request(
                .POST, "/v1/auth/register", json: ["email": email, "password": "a long passphrase 42", "name": "Keep"]
            ).status == 201)
        // After that traffic, every service's /metrics is valid Prometheus text (checked by promtool
        // when installed) for a scraper with the token `up` keeps in the data directory, and only for it.
        let metricsToken = try String(
            contentsOfFile: sandbox.dataDir + "/metrics.token", encoding: .utf8
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        for offset in [port] + sandbox.servicePorts.values.sorted() {
            let service = TestClient(base: "http://127.0.0.1:\(offset)", http: http)
            // Traffic of its own for each (the bus's admin API has none yet in this flow).
            #expect(try await service.request(.GET, "/openapi.json").status == 200)
            for refused in [nil, String(metricsToken.dropLast()) + "x"] {
                let answer = try await service.request(.GET, "/metrics", token: refused)
                #expect(answer.status == 401, "port \(offset) with token \(refused ?? "none")")
                #expect(answer.json["code"] as? String == "metrics_token_required")
            }
            let metrics = try await service.request(.GET, "/metrics", token: metricsToken)
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("http_requests_total"), "service on port \(offset) has no RED metrics")
            if let promtool = promtoolPath() {
                #expect(try runPromtool(promtool, input: metrics.body) == 0, "promtool rejected /metrics of port \(offset)")
            }
        }

        // SIGTERM: deregister, drain, close — promptly and cleanly (a rolling deploy waits on this).
        let stopping = ContinuousClock.now
        up.terminate()
        let stopTook = ContinuousClock.now - stopping
        #expect(stopTook < .seconds(5), "graceful shutdown took \(stopTook)")
        #expect(up.process.terminationReason == .exit && up.process.terminationStatus == 0)

        up = try sandbox.start(name: "up-2")
        defer { up.terminate() }
        let readyAgain = try await client.eventually("/health/ready", until: { $0.status == 200 })
        try #require(readyAgain?.status == 200)
        let login = try await client.eventually("/v1/auth/login", method: .POST, until: { $0.status != 503 && $0.status != 404 })
        _ = login
        let relogin = try await client.request(
            .POST, "/v1/auth/login", json: ["email": email, "password": "a long passphrase 42"])
        #expect(relogin.status == 200, "user lost across restart: \(relogin.text)")
    }
}

extension EmbeddedUpSystemTests {
    /// A service stuck in its start (here the bus's PostgreSQL never accepts a connection) must
    /// not make `malha up` deaf to SIGTERM: the graceful stop escalates to cancellation.
    @Test func sigtermEndsAStartThatHangs() async throws {
        let sandbox = try UpSandbox("stuck")
        // Port 9 on loopback refuses connections: the client retries for ever.
        let up = try sandbox.start(environment: ["MALHA_BUS_DATABASE_URL": "postgres://malha@127.0.0.1:9/bus"], name: "stuck")
        defer { up.kill9() }
        try await Task.sleep(for: .seconds(3))
        #expect(up.process.isRunning, "up gave up on its own: \(up.log.suffix(2000))")
        let stopping = ContinuousClock.now
        kill(up.process.processIdentifier, SIGTERM)
        while up.process.isRunning && ContinuousClock.now - stopping < .seconds(50) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let took = ContinuousClock.now - stopping
        #expect(!up.process.isRunning, "still running \(took) after SIGTERM")
        // 15 s of graceful stop (what a healthy drain may use), then cancellation.
        #expect(took < .seconds(40), "stop took \(took)")
    }
}

func promtoolPath() -> String? {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// `promtool check metrics` reads the exposition from standard input; returns its exit status.
func runPromtool(_ path: String, input: Data) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["check", "metrics"]
    let stdin = Pipe()
    process.standardInput = stdin
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    stdin.fileHandleForWriting.write(input)
    try stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    return process.terminationStatus
}
