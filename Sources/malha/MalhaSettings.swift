import ArgumentParser
import Configuration
import Foundation
import SystemPackage

/// The deployable units `malha` can run.
enum ServiceName: String, CaseIterable, Sendable, ExpressibleByArgument {
    // Start order in `up`: the registry first (others register with it), the gateway last.
    case registry, bus, identity, catalog, orders, payments, notifications, ledger, consolidation, gateway

    /// Port offset from the gateway port in `up`.
    var offset: Int {
        switch self {
        case .gateway: 0
        case .registry: 1
        case .identity: 2
        case .catalog: 3
        case .bus: 4
        case .orders: 5
        case .payments: 6
        case .notifications: 7
        case .ledger: 8
        case .consolidation: 9
        }
    }

    /// Whether the service publishes or consumes on the bus (and so needs the process's bus).
    var usesBus: Bool { [.bus, .catalog, .orders, .payments, .notifications, .ledger, .consolidation].contains(self) }
}

/// Typed configuration, read once at start from (highest first) command-line flags, `MALHA_*`
/// environment variables, and an optional JSON file. Every key is listed in README.md
/// ("Configuration"); each is read here and nowhere else.
struct MalhaSettings: Sendable {
    enum Mode: Sendable { case embedded, production }

    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var url: String { "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)" }
    }

    var mode: Mode
    /// `malha.data-dir`: where embedded SQLite files live (default `./data`).
    var dataDirectory: String
    /// `malha.<service>.host` / `malha.<service>.port`.
    var endpoints: [ServiceName: Endpoint]
    /// `malha.<service>.database-url`: a `postgres://` URL; absent → SQLite file in the data dir.
    var databaseURLs: [ServiceName: String]
    /// `malha.registry.url`: where instances register (default: the registry endpoint above).
    var registryURL: String
    /// `malha.registry.token`: shared registration secret (generated per process in `up`).
    var registryToken: String
    /// `malha.auth.issuer` / `malha.auth.audience` / `malha.auth.jwks-url`.
    var issuer: String
    var audience: String
    var jwksURL: String
    /// `malha.admin.email` / `malha.admin.password`: the first admin, created when absent.
    var adminEmail: String?
    var adminPassword: String?
    /// `malha.identity.bcrypt-cost` (default 12, at least 12 outside tests).
    var bcryptCost: Int
    /// `malha.catalog.seed-demo-data` (default true in `up`, false in `serve`).
    var seedDemoCatalog: Bool
    /// `malha.orders.catalog-url`: where orders reads current prices (default: the catalog endpoint).
    var ordersCatalogURL: String
    /// `malha.consolidation.ledger-url`: where the consolidation reads the ledger for rebuilds.
    var consolidationLedgerURL: String
    /// `malha.consolidation.cache-ttl-ms`: how long a rendered balance may be served from the cache.
    var consolidationCacheTTLMilliseconds: Int
    /// `malha.orders.step-timeout-ms`: how long a checkout step waits for its answer (default 30000).
    var orderStepTimeoutMilliseconds: Int
    /// `malha.payments.provider`: `simulated` (default) or `http`; with `http`,
    /// `malha.payments.provider-url` and `malha.payments.webhook-secret` are required.
    var paymentsProvider: String
    var paymentsProviderURL: String?
    var paymentsWebhookSecret: String?
    /// The simulated provider: `malha.payments.simulated.latency-ms` (default 0),
    /// `.failure-rate` (0…1, default 0), `.decline-above-cents` (default none).
    var simulatedLatencyMilliseconds: Int
    var simulatedFailureRate: Double
    var simulatedDeclineAboveCents: Int?
    /// Antifraud velocity per customer in a 10-minute window: `malha.payments.antifraud.velocity-review-above`
    /// (default 50) and `.velocity-deny-above` (default 200); `.max-amount-cents` (default 10,000,000)
    /// and `.review-above-cents` (default 2,000,000).
    var antifraudVelocityReviewAbove: Int
    var antifraudVelocityDenyAbove: Int
    var antifraudMaxAmountCents: Int
    var antifraudReviewAboveCents: Int
    /// `malha.notifications.webhook-url.email|sms|push`: where the webhook provider posts each
    /// channel (a channel without one stays local); `malha.notifications.webhook-secret` signs them;
    /// `malha.notifications.templates-dir`: template overrides.
    var notificationWebhookURLs: [String: String]
    var notificationWebhookSecret: String?
    var notificationTemplatesDirectory: String?
    /// `malha.gateway.routes-file`: static upstream routes (JSON).
    var gatewayRoutesFile: String?
    /// `malha.gateway.public-url`: what the banner and OIDC discovery advertise.
    var publicURL: String
    /// `malha.gateway.health-check-interval-ms` (0 turns active checks off),
    /// `malha.gateway.health-check-timeout-ms`, `malha.gateway.unhealthy-threshold`,
    /// `malha.gateway.healthy-threshold`.
    var healthCheckIntervalMilliseconds: Int
    var healthCheckTimeoutMilliseconds: Int
    var unhealthyThreshold: Int
    var healthyThreshold: Int
    /// `malha.log.level`, `malha.log.format` (json | text).
    var logLevel: String
    var logFormat: String

    static func load(file: String?, mode: Mode, gatewayPort: Int?, dataDir: String?) async throws -> MalhaSettings {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider()]
        if let file {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
        let config = ConfigReader(providers: providers)
        let defaultHost = mode == .embedded ? "127.0.0.1" : "0.0.0.0"
        let basePort = gatewayPort ?? config.int(forKey: "malha.gateway.port", default: 8080)
        guard (1...65_000).contains(basePort) else { throw ValidationError("the gateway port must be between 1 and 65000") }

        var endpoints: [ServiceName: Endpoint] = [:]
        var databaseURLs: [ServiceName: String] = [:]
        for service in ServiceName.allCases {
            let defaultPort = service == .gateway ? basePort : basePort + service.offset
            let port =
                service == .gateway && gatewayPort != nil
                ? basePort : config.int(forKey: ConfigKey("malha.\(service.rawValue).port"), default: defaultPort)
            endpoints[service] = Endpoint(
                host: config.string(forKey: ConfigKey("malha.\(service.rawValue).host"), default: defaultHost), port: port)
            databaseURLs[service] = config.string(forKey: ConfigKey("malha.\(service.rawValue).database-url"), isSecret: true)
        }
        let gateway = endpoints[.gateway]!
        let identity = endpoints[.identity]!
        let publicURL = config.string(forKey: "malha.gateway.public-url", default: gateway.url)
        let token = config.string(forKey: "malha.registry.token", isSecret: true)
        if mode == .production && token == nil {
            throw ValidationError("malha.registry.token (MALHA_REGISTRY_TOKEN) is required for `serve`")
        }
        let healthCheckInterval = config.int(forKey: "malha.gateway.health-check-interval-ms", default: 2000)
        let healthCheckTimeout = config.int(forKey: "malha.gateway.health-check-timeout-ms", default: 1000)
        let unhealthyThreshold = config.int(forKey: "malha.gateway.unhealthy-threshold", default: 2)
        let healthyThreshold = config.int(forKey: "malha.gateway.healthy-threshold", default: 1)
        let paymentsProvider = config.string(forKey: "malha.payments.provider", default: "simulated")
        let paymentsProviderURL = config.string(forKey: "malha.payments.provider-url")
        let paymentsWebhookSecret = config.string(forKey: "malha.payments.webhook-secret", isSecret: true)
        switch paymentsProvider {
        case "simulated": break
        case "http":
            guard paymentsProviderURL != nil, paymentsWebhookSecret != nil else {
                throw ValidationError(
                    "malha.payments.provider http needs malha.payments.provider-url and malha.payments.webhook-secret")
            }
        default: throw ValidationError("malha.payments.provider must be simulated or http")
        }
        let failureRate = config.double(forKey: "malha.payments.simulated.failure-rate", default: 0)
        guard (0...1).contains(failureRate) else {
            throw ValidationError("malha.payments.simulated.failure-rate must be between 0 and 1")
        }
        var webhookURLs: [String: String] = [:]
        for channel in ["email", "sms", "push"] {
            webhookURLs[channel] = config.string(forKey: ConfigKey("malha.notifications.webhook-url.\(channel)"))
        }
        let stepTimeout = config.int(forKey: "malha.orders.step-timeout-ms", default: 30_000)
        guard stepTimeout >= 100 else { throw ValidationError("malha.orders.step-timeout-ms must be at least 100") }
        guard healthCheckInterval >= 0, healthCheckTimeout > 0, unhealthyThreshold > 0, healthyThreshold > 0 else {
            throw ValidationError(
                "malha.gateway.health-check-interval-ms must be ≥ 0; the health-check timeout and thresholds must be positive")
        }
        return MalhaSettings(
            mode: mode,
            dataDirectory: dataDir ?? config.string(forKey: "malha.data-dir", default: "./data"),
            endpoints: endpoints,
            databaseURLs: databaseURLs,
            registryURL: config.string(forKey: "malha.registry.url", default: endpoints[.registry]!.url),
            registryToken: token ?? randomToken(),
            issuer: config.string(forKey: "malha.auth.issuer", default: publicURL),
            audience: config.string(forKey: "malha.auth.audience", default: "malha"),
            jwksURL: config.string(forKey: "malha.auth.jwks-url", default: identity.url + "/.well-known/jwks.json"),
            adminEmail: config.string(forKey: "malha.admin.email"),
            adminPassword: config.string(forKey: "malha.admin.password", isSecret: true),
            bcryptCost: config.int(forKey: "malha.identity.bcrypt-cost", default: 12),
            seedDemoCatalog: config.bool(forKey: "malha.catalog.seed-demo-data", default: mode == .embedded),
            ordersCatalogURL: config.string(forKey: "malha.orders.catalog-url", default: endpoints[.catalog]!.url),
            consolidationLedgerURL: config.string(
                forKey: "malha.consolidation.ledger-url", default: endpoints[.ledger]!.url),
            consolidationCacheTTLMilliseconds: max(0, config.int(forKey: "malha.consolidation.cache-ttl-ms", default: 60_000)),
            orderStepTimeoutMilliseconds: stepTimeout,
            paymentsProvider: paymentsProvider,
            paymentsProviderURL: paymentsProviderURL,
            paymentsWebhookSecret: paymentsWebhookSecret,
            simulatedLatencyMilliseconds: max(0, config.int(forKey: "malha.payments.simulated.latency-ms", default: 0)),
            simulatedFailureRate: failureRate,
            simulatedDeclineAboveCents: config.int(forKey: "malha.payments.simulated.decline-above-cents"),
            antifraudVelocityReviewAbove: config.int(forKey: "malha.payments.antifraud.velocity-review-above", default: 50),
            antifraudVelocityDenyAbove: config.int(forKey: "malha.payments.antifraud.velocity-deny-above", default: 200),
            antifraudMaxAmountCents: config.int(forKey: "malha.payments.antifraud.max-amount-cents", default: 10_000_000),
            antifraudReviewAboveCents: config.int(forKey: "malha.payments.antifraud.review-above-cents", default: 2_000_000),
            notificationWebhookURLs: webhookURLs,
            notificationWebhookSecret: config.string(forKey: "malha.notifications.webhook-secret", isSecret: true),
            notificationTemplatesDirectory: config.string(forKey: "malha.notifications.templates-dir"),
            gatewayRoutesFile: config.string(forKey: "malha.gateway.routes-file"),
            publicURL: publicURL,
            healthCheckIntervalMilliseconds: healthCheckInterval,
            healthCheckTimeoutMilliseconds: healthCheckTimeout,
            unhealthyThreshold: unhealthyThreshold,
            healthyThreshold: healthyThreshold,
            logLevel: config.string(forKey: "malha.log.level", default: "info"),
            logFormat: config.string(forKey: "malha.log.format", default: "json")
        )
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
