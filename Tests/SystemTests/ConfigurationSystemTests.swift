import Foundation
import Testing

/// A present but unusable configuration value stops `malha up` before anything starts, with a
/// message naming the key — never silently replaced by the default.
@Suite("Configuration errors", .serialized)
struct ConfigurationSystemTests {
    @Test(arguments: [
        ("MALHA_ORDERS_STEP_TIMEOUT_MS", "5", "malha.orders.step-timeout-ms must be from 100"),
        ("MALHA_CATALOG_SEED_DEMO_DATA", "maybe", "malha.catalog.seed-demo-data must be true or false (got maybe)"),
        ("MALHA_PAYMENTS_PROVIDER", "stripe", "malha.payments.provider must be one of simulated, http (got stripe)"),
        ("MALHA_PAYMENTS_SIMULATED_FAILURE_RATE", "2", "malha.payments.simulated.failure-rate must be between 0"),
        ("MALHA_LOG_LEVEL", "verbose", "malha.log.level must be one of trace"),
        ("MALHA_LOG_FORMAT", "yaml", "malha.log.format must be one of json, text (got yaml)"),
        // bcrypt has a floor: below cost 10 a stolen hash falls to a GPU in hours.
        ("MALHA_IDENTITY_BCRYPT_COST", "4", "malha.identity.bcrypt-cost must be from 10 to 31 (got 4)"),
        ("MALHA_TESTING_WEAK_BCRYPT_COST", "2", "malha.testing.weak-bcrypt-cost must be from 4 to 9 (got 2)"),
        ("MALHA_HTTP_HEADER_TIMEOUT_MS", "0", "malha.http.header-timeout-ms must be from 100"),
    ])
    func unusableValueStopsTheStartNamingTheKey(variable: String, value: String, message: String) async throws {
        let sandbox = try UpSandbox("config-\(value)")
        let up = try sandbox.start(environment: [variable: value])
        defer { up.terminate() }
        let deadline = ContinuousClock.now + .seconds(30)
        while up.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try #require(!up.process.isRunning, "malha up started with \(variable)=\(value)")
        #expect(up.process.terminationStatus != 0)
        #expect(up.log.contains(message), "\(up.log.suffix(2000))")
        #expect(!up.log.contains("Fatal error"), "it stops cleanly: \(up.log.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: sandbox.dataDir + "/orders.sqlite"), "nothing was opened")
    }

    /// The weak bcrypt cost that test runs of `up` use is refused by `serve`: production never
    /// hashes below cost 10.
    @Test func serveRefusesTheTestOnlyBcryptCost() async throws {
        let (status, output) = try await MalhaProcess.run(
            ["serve", "identity", "--port", String(try freePort())],
            environment: ["MALHA_TESTING_WEAK_BCRYPT_COST": "4", "MALHA_DATA_DIR": "/nonexistent"])
        #expect(status != 0)
        #expect(output.contains("malha.testing.weak-bcrypt-cost is for test runs of `malha up`"), "\(output.suffix(800))")
    }

    /// `serve` with no word on `/metrics` stops, naming the keys: public metrics are a choice, and
    /// a token shorter than 16 characters is refused as guessable.
    @Test func serveNeedsAMetricsTokenOrAnExplicitlyPublicMetrics() async throws {
        let credential = try await GatewayFlowSystemTests.credential(for: "catalog")
        for (environment, message) in [
            ([:], "malha.metrics.token, malha.metrics.token-file or malha.metrics.public=true is required for `serve`"),
            (["MALHA_METRICS_TOKEN": "short"], "the metrics token must be at least 16 characters"),
        ] {
            let (status, output) = try await MalhaProcess.run(
                ["serve", "catalog", "--port", String(try freePort())],
                environment: environment.merging(["MALHA_REGISTRY_CREDENTIAL": credential, "MALHA_DATA_DIR": "/nonexistent"]) {
                    a, _ in a
                })
            #expect(status != 0)
            #expect(output.contains(message), "\(output.suffix(800))")
        }
    }
}
