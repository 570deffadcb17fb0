import ArgumentParser
import Configuration
import Crypto
import Foundation
import Logging
import MalhaHTTP
import MalhaRegistry
import MalhaService
import SystemPackage

/// A deployable unit's name: `malha serve <name>`, its `malha.<name>.…` keys, its database file.
/// The names are the topology's (`Topology.deployments`); nothing else lists them.
struct ServiceName: RawRepresentable, Hashable, Sendable, ExpressibleByArgument, CustomStringConvertible {
    var rawValue: String
    init(rawValue: String) { self.rawValue = rawValue }
    init(_ rawValue: String) { self.rawValue = rawValue }

    /// Only the topology's names parse (`malha serve catlog` is refused, listing them).
    init?(argument: String) {
        guard Topology.deployments.contains(where: { $0.name.rawValue == argument }) else { return nil }
        self.rawValue = argument
    }

    static var allValueStrings: [String] { Topology.deployments.map(\.name.rawValue) }
    var description: String { rawValue }

    // The platform's own pieces, which `malha` deploys itself.
    static let registry = Self("registry")
    static let bus = Self("bus")
    static let identity = Self("identity")
    static let gateway = Self("gateway")
}

/// `malha.log.format`.
enum LogFormat: String, CaseIterable, Sendable {
    case json, text
}

/// Typed configuration, read once at start from (highest first) command-line flags, `MALHA_*`
/// environment variables, and an optional JSON file. Every key is listed in README.md
/// ("Configuration"); each is read here and nowhere else.
struct MalhaSettings: Sendable {
    typealias Mode = DeploymentMode

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
    /// `malha.registry.key`: what every service's registry credential derives from. Only the
    /// registry holds it in production (generated per process in `up`).
    var registryKey: SymmetricKey?
    /// `malha.registry.credential`: this service's own credential (`malha registry credential
    /// <service>` prints it), for `serve` of anything but the registry.
    var registryCredential: RegistryCredential?
    /// `malha.registry.owners`: route prefixes of services `malha` does not declare itself,
    /// `service=/prefix,/prefix;service=/prefix` (a static upstream needs none).
    var routeOwners: [String: [String]]
    /// `malha.auth.issuer` / `malha.auth.audience` / `malha.auth.jwks-url`.
    var issuer: String
    var audience: String
    var jwksURL: String
    /// `malha.admin.email` / `malha.admin.password`: the first admin, created when absent.
    var adminEmail: String?
    var adminPassword: String?
    /// `malha.identity.bcrypt-cost` (default 12, at least 10); `malha.testing.weak-bcrypt-cost`
    /// (4…9) overrides it in `up` only, for test suites and benchmarks, and stops `serve`.
    var bcryptCost: Int
    /// `malha.metrics.token` or `malha.metrics.token-file`: what a scraper presents for `/metrics`
    /// on every listener (`up` keeps one in `<data-dir>/metrics.token`); `malha.metrics.public`
    /// (default false) opens `/metrics` to anyone who reaches the port instead.
    var metricsToken: String?
    var metricsTokenFile: String?
    var metricsPublic: Bool
    /// `malha.identity.registrations-per-hour` / `.refreshes-per-minute`: per client address.
    var registrationsPerHour: Int
    var refreshesPerMinute: Int
    /// `malha.identity.refreshes-per-family-per-minute`: per login's refresh-token family.
    var refreshesPerFamilyPerMinute: Int
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
    /// `malha.http.header-timeout-ms`, `.idle-timeout-ms`, `.max-connections`, `.max-header-bytes`,
    /// `.backlog`: what every listener allows a client connection.
    var listenerLimits: ListenerLimits
    /// `malha.http.trusted-proxies`: peers whose `X-Forwarded-For` names the client (loopback).
    var trustedProxies: TrustedProxies
    /// `malha.log.level` (trace … critical, default info), `malha.log.format` (json | text, default json).
    var logLevel: Logger.Level
    var logFormat: LogFormat
    /// The whole configuration, for each service to read its own keys from (`reader(for:)`).
    var config: ConfigReader

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
        for deployment in Topology.deployments {
            let service = deployment.name
            let defaultPort = service == .gateway ? basePort : basePort + deployment.portOffset
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
        if config.string(forKey: "malha.registry.token", isSecret: true) != nil {
            throw ValidationError(
                "malha.registry.token (one secret for every service) is gone: the registry takes malha.registry.key, and "
                    + "each service its own malha.registry.credential (`malha registry credential <service>` prints it)")
        }
        let keyText = config.string(forKey: "malha.registry.key", isSecret: true)
        var registryKey: SymmetricKey?
        if let keyText {
            guard let key = RegistryCredential.key(from: keyText) else {
                throw ValidationError("malha.registry.key must be at least 32 characters (openssl rand -hex 32)")
            }
            registryKey = key
        } else if mode == .embedded {
            registryKey = RegistryCredential.key(from: randomToken())
        }
        var registryCredential: RegistryCredential?
        if let text = config.string(forKey: "malha.registry.credential", isSecret: true) {
            guard let credential = RegistryCredential(header: text) else {
                throw ValidationError(
                    "malha.registry.credential must be <service>.<secret>, as `malha registry credential` prints")
            }
            registryCredential = credential
        }
        let ownersText = config.string(forKey: "malha.registry.owners", default: "")
        guard let routeOwners = ownersText.isEmpty ? [:] : RouteOwnership.parse(ownersText) else {
            throw ValidationError("malha.registry.owners must read service=/prefix,/prefix;service=/prefix")
        }
        let healthCheckInterval = config.int(forKey: "malha.gateway.health-check-interval-ms", default: 2000)
        let healthCheckTimeout = config.int(forKey: "malha.gateway.health-check-timeout-ms", default: 1000)
        let unhealthyThreshold = config.int(forKey: "malha.gateway.unhealthy-threshold", default: 2)
        let healthyThreshold = config.int(forKey: "malha.gateway.healthy-threshold", default: 1)
        let identityKeys = ServiceConfigReader(service: "identity", mode: mode, root: config)
        let http = ServiceConfigReader(service: "http", mode: mode, root: config)
        let defaults = ListenerLimits()
        let listenerLimits = ListenerLimits(
            headerTimeout: .milliseconds(
                try http.int("header-timeout-ms", default: Int(defaults.headerTimeout.milliseconds), in: 100...600_000)),
            idleTimeout: .milliseconds(
                try http.int("idle-timeout-ms", default: Int(defaults.idleTimeout.milliseconds), in: 100...3_600_000)),
            maxConnections: try http.int("max-connections", default: defaults.maxConnections, in: 1...1_000_000),
            maxHeaderBytes: try http.int("max-header-bytes", default: defaults.maxHeaderBytes, in: 1024...1_048_576),
            backlog: try http.int("backlog", default: defaults.backlog, in: 16...65_535))
        let proxiesText = config.string(forKey: "malha.http.trusted-proxies", default: "127.0.0.0/8, ::1")
        guard let trustedProxies = TrustedProxies(parsing: proxiesText) else {
            throw ValidationError("malha.http.trusted-proxies must list addresses or IPv4 blocks (10.0.0.0/8), comma-separated")
        }
        let metrics = ServiceConfigReader(service: "metrics", mode: mode, root: config)
        let log = ServiceConfigReader(service: "log", mode: mode, root: config)
        let logLevel = try log.choice("level", default: Logger.Level.info)
        let logFormat = try log.choice("format", default: LogFormat.json)
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
            registryKey: registryKey,
            registryCredential: registryCredential,
            routeOwners: routeOwners,
            issuer: config.string(forKey: "malha.auth.issuer", default: publicURL),
            audience: config.string(forKey: "malha.auth.audience", default: "malha"),
            jwksURL: config.string(forKey: "malha.auth.jwks-url", default: identity.url + "/.well-known/jwks.json"),
            adminEmail: config.string(forKey: "malha.admin.email"),
            adminPassword: config.string(forKey: "malha.admin.password", isSecret: true),
            bcryptCost: try bcryptCost(identityKeys, testing: ServiceConfigReader(service: "testing", mode: mode, root: config)),
            metricsToken: metrics.string("token", isSecret: true),
            metricsTokenFile: metrics.string("token-file"),
            metricsPublic: try metrics.bool("public", default: false),
            registrationsPerHour: try identityKeys.int("registrations-per-hour", default: 10, in: 1...1_000_000),
            refreshesPerMinute: try identityKeys.int("refreshes-per-minute", default: 60, in: 1...1_000_000),
            refreshesPerFamilyPerMinute: try identityKeys.int(
                "refreshes-per-family-per-minute", default: 10, in: 1...1_000_000),
            gatewayRoutesFile: config.string(forKey: "malha.gateway.routes-file"),
            publicURL: publicURL,
            healthCheckIntervalMilliseconds: healthCheckInterval,
            healthCheckTimeoutMilliseconds: healthCheckTimeout,
            unhealthyThreshold: unhealthyThreshold,
            healthyThreshold: healthyThreshold,
            listenerLimits: listenerLimits,
            trustedProxies: trustedProxies,
            logLevel: logLevel,
            logFormat: logFormat,
            config: config
        )
    }

    /// The bcrypt cost: 10 or more, except the test-only override in `up`.
    static func bcryptCost(_ identity: ServiceConfigReader, testing: ServiceConfigReader) throws -> Int {
        let cost = try identity.int("bcrypt-cost", default: 12, in: 10...31)
        guard let weak = try testing.int("weak-bcrypt-cost", in: 4...9) else { return cost }
        guard testing.mode == .embedded else {
            throw ValidationError("malha.testing.weak-bcrypt-cost is for test runs of `malha up`; `serve` refuses it")
        }
        return weak
    }

    /// What service `name` reads its own keys through; other services' URLs come from this topology.
    func reader(for name: String) -> ServiceConfigReader {
        let endpoints = self.endpoints
        return ServiceConfigReader(service: name, mode: mode, root: config) { endpoints[ServiceName($0)]?.url }
    }

    /// The credential `service` registers with: derived from the key where this process holds it
    /// (`up`, or the registry itself), otherwise the configured one, which must be that service's.
    func registryCredential(for service: ServiceName) throws -> RegistryCredential {
        if let registryKey, mode == .embedded || service == .registry {
            return RegistryCredential(service: service.rawValue, key: registryKey)
        }
        guard mode == .production, registryKey == nil else {
            throw ValidationError(
                "malha.registry.key belongs to the registry alone: give \(service) its own malha.registry.credential "
                    + "(`malha registry credential \(service)` prints it)")
        }
        guard let registryCredential else {
            throw ValidationError(
                "malha.registry.credential (MALHA_REGISTRY_CREDENTIAL) is required for `serve \(service)`: "
                    + "`malha registry credential \(service)` prints it from malha.registry.key")
        }
        guard registryCredential.service == service.rawValue else {
            throw ValidationError(
                "malha.registry.credential is \(registryCredential.service)'s; `serve \(service)` needs \(service)'s")
        }
        return registryCredential
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
