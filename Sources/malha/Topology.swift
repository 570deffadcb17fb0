import ArgumentParser
import AsyncHTTPClient
import Catalog
import Consolidation
import Foundation
import Identity
import Ledger
import Logging
import MalhaBus
import MalhaCore
import MalhaGateway
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaRegistry
import MalhaService
import MalhaStore
import NIOCore
import NIOPosix
import Notifications
import Orders
import Payments
import ServiceLifecycle

/// Wires the chosen services into one service group. This file is the whole topology: which
/// service gets which store, verifier, client and registrar, and in which order they start.
///
/// Order: for each service its application (which starts its store first, migrates, then binds),
/// then its registrar. A service group stops in reverse: registrars deregister first (the gateway
/// stops routing), then servers drain in-flight requests, then stores close.
struct Topology {
    let settings: MalhaSettings
    let services: [Deployment]
    let logger = Logger(label: "malha")
    /// In `up`, each service that calls others as itself is a client at identity with a secret
    /// made for this start: identity is given its hash, the service the secret, nothing is stored.
    let serviceClientSecrets: [ServiceName: String] = Dictionary(
        uniqueKeysWithValues: deployments.filter { !$0.clientScopes.isEmpty }.map { ($0.name, SecretFile.randomHex()) })

    /// What identity provisions in `up`: a client per service that names scopes, id = its name.
    var provisionedClients: [ProvisionedClient] {
        Self.deployments.compactMap { deployment in
            serviceClientSecrets[deployment.name].map {
                ProvisionedClient(id: deployment.name.rawValue, secret: $0, scopes: deployment.clientScopes)
            }
        }
    }

    func run(printBanner: Bool) async throws {
        let builders = try services.map { try $0.prepare(settings) }
        // Once, before anything writes there: every database, the key file, the demo admin's file.
        if settings.mode == .embedded { try Self.ensurePrivateDirectory(settings.dataDirectory) }
        // Each service talks to the registry as itself; a missing or foreign credential stops the
        // start here, naming the key, before anything binds.
        let credentials = try Dictionary(
            uniqueKeysWithValues: services.map { ($0.name, try settings.registryCredential(for: $0.name)) })
        let metricsAccess = try self.metricsAccess()
        try await checkPortsAreFree()
        let httpClient = Self.makeSharedHTTPClient()
        let eventVerifier = eventSignatureVerifier(httpClient: httpClient)
        var group: [ReportsFailure] = []
        var registrars: [ReportsFailure] = []
        var gatewayRuntime: ServiceRuntime?
        var gatewayInstances: PollingInstanceSource?
        var otherRuntimes: [ServiceRuntime] = []
        var registeringServices: Set<String> = []
        // One bus per process, shared by every service in it that publishes or consumes. It starts
        // first and stops last (a service group stops in reverse order).
        var bus: SQLTransport?
        if services.contains(where: \.usesBus) {
            var busLogger = Logger(label: "malha.bus")
            busLogger[metadataKey: "service"] = "bus"
            let store = try await openStore(for: .bus, logger: busLogger)
            let transport = SQLTransport(store: store, logger: busLogger)
            group += [
                ReportsFailure(store, name: "bus store", logger: logger),
                ReportsFailure(transport, name: "bus transport", logger: logger),
            ]
            bus = transport
        }
        for (deployment, builder) in zip(services, builders) {
            let name = deployment.name
            let runtime = ServiceRuntime(
                descriptor: ServiceDescriptor(name: name.rawValue), limits: settings.listenerLimits,
                trustedProxies: settings.trustedProxies, metricsAccess: metricsAccess)
            let wiring = Wiring(
                topology: self, name: name, runtime: runtime, httpClient: httpClient, bus: bus,
                registryCredential: credentials[name]!, eventVerifier: eventVerifier)
            let built = try await builder(wiring)
            group.append(ReportsFailure(built.application, name: name.rawValue, logger: logger))
            if let registrar = built.registrar {
                registrars.append(ReportsFailure(registrar, name: "\(name.rawValue) registration", logger: logger))
                registeringServices.insert(built.runtime.descriptor.name)
            }
            if name == .gateway {
                gatewayRuntime = built.runtime
                gatewayInstances = built.instances
            } else {
                otherRuntimes.append(built.runtime)
            }
        }
        // With everything in one process, the gateway reports ready only when every service is
        // migrated and its registration is in the gateway's own view of the registry (the route
        // table is built from that view), so "ready" means the whole system answers.
        if let gatewayRuntime, let gatewayInstances, !otherRuntimes.isEmpty {
            gatewayRuntime.readiness.require(.services)
            Task { [registeringServices] in
                while !otherRuntimes.allSatisfy(\.readiness.isReady)
                    || !registeringServices.isSubset(of: Set(gatewayInstances.currentInstances().map(\.service)))
                {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                gatewayRuntime.readiness.set(.services, true)
            }
        }
        var configuration = ServiceGroupConfiguration(
            services: (group + registrars).map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // A service stuck in its start (a database that never answers) ignores a graceful stop;
        // after this long the stop turns into cancellation, so SIGTERM always ends the process.
        configuration.maximumGracefulShutdownDuration = .seconds(15)
        configuration.maximumCancellationDuration = .seconds(5)
        let serviceGroup = ServiceGroup(configuration: configuration)
        if printBanner, let gatewayRuntime {
            Task { await printWhenReady(gateway: gatewayRuntime) }
        }
        // Started before the group (whose stop it backs up), kept until the group returns.
        let watchdog = ShutdownWatchdog()
        defer { withExtendedLifetime(watchdog) {} }
        do {
            try await serviceGroup.run()
        } catch {
            // `reflecting`: PostgresNIO's errors hide their detail from `description`.
            logger.error("malha stopped", metadata: ["error": "\(String(reflecting: error))"])
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    /// The client every service in the process shares for its outbound calls (JWKS, the registry,
    /// webhooks, the payment provider, other services): a 1 s connect timeout, and no redirect
    /// followed — a JWKS URL or a webhook that answers 3xx fails instead of being steered to
    /// wherever the answer points.
    static func makeSharedHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(1)), decompression: .disabled)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    struct PortTaken: Error, CustomStringConvertible {
        var service: ServiceName
        var endpoint: MalhaSettings.Endpoint
        var description: String {
            "port \(endpoint.port) on \(endpoint.host) (\(service.rawValue)) is in use: stop what holds it, or start "
                + "elsewhere (--port, or malha.\(service.rawValue).port)"
        }
    }

    /// Refuses to start when a service's port is taken, saying which: otherwise that service fails
    /// to bind after the others started, and the whole process stops halfway. (A port taken in the
    /// instant between this check and the bind still stops it, with the bind error logged.)
    func checkPortsAreFree() async throws {
        for name in services.map(\.name) {
            guard let endpoint = settings.endpoints[name], endpoint.port != 0 else { continue }
            do {
                let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: endpoint.host, port: endpoint.port).get()
                try await channel.close()
            } catch {
                throw PortTaken(service: name, endpoint: endpoint)
            }
        }
    }

    struct Built {
        var runtime: ServiceRuntime
        var application: any Service
        var registrar: (any Service)?
        /// The gateway's view of the registry.
        var instances: PollingInstanceSource? = nil
    }

    /// What a deployment is built with: this process's settings, HTTP client and bus, and the
    /// instance's runtime.
    struct Wiring {
        let topology: Topology
        let name: ServiceName
        let runtime: ServiceRuntime
        let httpClient: HTTPClient
        let bus: SQLTransport?
        /// This service's own registry credential.
        let registryCredential: RegistryCredential
        /// Checks the signed events this process's consumers receive (one for the process: its
        /// key caches serve every service in it).
        let eventVerifier: EventSignatureVerifier

        var settings: MalhaSettings { topology.settings }
        var endpoint: MalhaSettings.Endpoint { settings.endpoints[name]! }

        func store() async throws -> any SQLStore & Service {
            try await topology.openStore(for: name, logger: runtime.logger)
        }

        func registrar(_ routes: [RouteRule]) -> RegistryRegistrar {
            RegistryRegistrar(client: registryClient, runtime: runtime, routes: routes)
        }

        var registryClient: RegistryClient {
            RegistryClient(baseURL: settings.registryURL, credential: registryCredential, httpClient: httpClient)
        }

        /// This service's client-credentials token for its calls to others, asked for `scopes`:
        /// in `up` as the client identity provisioned for it, in `serve` as
        /// `malha.<service>.client-id` (default: its name) with `malha.<service>.client-secret`,
        /// at `malha.auth.token-url` (default: identity's `/v1/oauth/token`). Nil when it names no
        /// scope, or `serve` is given no secret (its calls then go without: see the service).
        func serviceCredential(scopes: [String]) -> ServiceTokenSource? {
            guard !scopes.isEmpty else { return nil }
            let reader = settings.reader(for: name.rawValue)
            let secret =
                settings.mode == .embedded
                ? topology.serviceClientSecrets[name] : reader.string("client-secret", isSecret: true)
            guard let secret else { return nil }
            let tokenURL = settings.config.string(
                forKey: "malha.auth.token-url", default: settings.endpoints[.identity]!.url + "/v1/oauth/token")
            return ServiceTokenSource(
                credentials: .init(
                    clientID: reader.string("client-id") ?? name.rawValue, clientSecret: secret, tokenURL: tokenURL,
                    scopes: scopes),
                httpClient: httpClient)
        }

        func verifier() -> AccessTokenVerifier {
            AccessTokenVerifier(
                settings: .init(issuer: settings.issuer, audience: settings.audience),
                provider: HTTPJWKSProvider(url: settings.jwksURL, httpClient: httpClient), logger: runtime.logger)
        }

        /// A declared service: its configuration from its own keys, its database, the process's
        /// bus; the platform assembles the rest (`ServiceDeclaration.buildApplication`).
        func service<Declaration: ServiceDeclaration>(
            _ declaration: Declaration.Type, configuration: Declaration.Configuration
        ) async throws -> Built {
            let store = try await store()
            let signs = Declaration.platformTables.contains(.eventSigningKeys)
            let keyEncryption: KeyEncryptionKey? = try signs ? topology.keyEncryptionKey(for: name) : nil
            let application = try await Declaration.buildApplication(
                configuration: configuration, runtime: runtime, store: store, verifier: verifier(), transport: bus,
                keyEncryption: keyEncryption, eventVerifier: eventVerifier, httpClient: httpClient,
                serviceCredential: serviceCredential(scopes: Declaration.clientScopes), host: endpoint.host,
                port: endpoint.port, services: [store])
            return Built(runtime: runtime, application: application, registrar: registrar(Declaration.routeRules))
        }
    }

    /// Verifies signed events against the keys of every service that signs them, fetched from
    /// `malha.<publisher>.event-keys-url` (default: the publisher's own port, `/.well-known/event-keys`)
    /// — service to service, as the token keys are fetched from identity.
    func eventSignatureVerifier(httpClient: HTTPClient) -> EventSignatureVerifier {
        var publishers: [String: any JWKSProvider] = [:]
        for deployment in Self.deployments where deployment.signsEvents {
            let name = deployment.name
            let url =
                settings.reader(for: name.rawValue).string("event-keys-url")
                ?? settings.endpoints[name]!.url + EventKeyRing.path
            publishers[name.rawValue] = HTTPJWKSProvider(url: url, httpClient: httpClient)
        }
        return EventSignatureVerifier(publishers: publishers, logger: logger)
    }

    /// The route prefixes each service owns: what the topology's services declare, and what
    /// `malha.registry.owners` adds for services `malha` does not know.
    static func routeOwnership(settings: MalhaSettings) -> RouteOwnership {
        var owners = declaredRoutes.mapValues { Array(Set($0.map(\.prefix))) }
        for (service, prefixes) in settings.routeOwners { owners[service, default: []] += prefixes }
        return RouteOwnership(owners)
    }

    /// The routes each of the topology's services declares, by service name.
    static var declaredRoutes: [String: [RouteRule]] {
        Dictionary(deployments.filter { !$0.routeRules.isEmpty }.map { ($0.name.rawValue, $0.routeRules) }) { $0 + $1 }
    }

    /// What seals a service's signing keys (identity's token keys, every signing service's event
    /// keys): `malha.<service>.key-encryption-key`, or the key file `…-key-encryption-key-file`, or
    /// in `up` `<data-dir>/<service>.kek` (created, mode 0600, on the first start).
    ///
    /// One key per service, not one shared: in production each service runs apart and should
    /// hold only the key to its own secrets, and `up` lays its files out the same way (it costs
    /// nothing there), so a setup tried with `up` carries over.
    func keyEncryptionKey(for service: ServiceName) throws -> KeyEncryptionKey {
        let reader = settings.reader(for: service.rawValue)
        if let text = reader.string("key-encryption-key", isSecret: true) {
            guard let key = KeyEncryptionKey(text: text) else {
                throw ValidationError("\(reader.fullName("key-encryption-key")) must be 32 bytes as 64 hex digits or base64")
            }
            return key
        }
        if let file = reader.string("key-encryption-key-file") {
            guard settings.mode == .embedded || FileManager.default.fileExists(atPath: file) else {
                throw ValidationError("\(reader.fullName("key-encryption-key-file")) \(file) does not exist")
            }
            return try KeyEncryptionKey.loadOrCreate(path: file)
        }
        guard settings.mode == .embedded else {
            throw ValidationError(
                "\(reader.fullName("key-encryption-key")) or \(reader.fullName("key-encryption-key-file")) is required for "
                    + "`serve \(service.rawValue)` (its signing keys are stored sealed with it; openssl rand -hex 32 makes one)")
        }
        return try KeyEncryptionKey.loadOrCreate(
            path: Self.keyEncryptionKeyFile(for: service, in: settings.dataDirectory).path)
    }

    /// Who may read `/metrics` on every listener of the process: anyone when `malha.metrics.public`
    /// says so, else a scraper with the configured token, the token file's, or in `up`
    /// `<data-dir>/metrics.token` (created, mode 0600, on the first start). `serve` without any of
    /// them stops, naming the keys: metrics name every route and upstream, so exposing them is a
    /// choice an operator makes, not a default.
    func metricsAccess() throws -> MetricsAccess {
        if settings.metricsPublic { return .open }
        let invalid = ValidationError("the metrics token must be at least \(MetricsToken.minimumLength) characters")
        if let text = settings.metricsToken {
            guard let token = MetricsToken(text) else { throw invalid }
            return .bearer(token)
        }
        let text: String
        if let file = settings.metricsTokenFile {
            text = try SecretFile.load(path: file)
        } else if settings.mode == .embedded {
            text = try SecretFile.loadOrCreate(path: Self.metricsTokenFile(in: settings.dataDirectory).path) {
                SecretFile.randomHex()
            }
        } else {
            throw ValidationError(
                "malha.metrics.token, malha.metrics.token-file or malha.metrics.public=true is required for `serve` "
                    + "(/metrics answers only a scraper with the token; openssl rand -hex 32 makes one)")
        }
        guard let token = MetricsToken(text) else { throw invalid }
        return .bearer(token)
    }

    /// Where `up` keeps the metrics token.
    static func metricsTokenFile(in dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("metrics.token")
    }

    /// Where `up` keeps a service's key-encryption key.
    static func keyEncryptionKeyFile(for service: ServiceName, in dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("\(service.rawValue).kek")
    }

    /// `malha up`'s data directory: created, or narrowed, to mode 0700 (it holds every database,
    /// the key-encryption key and the demo admin's password).
    static func ensurePrivateDirectory(_ path: String) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } else {
            try files.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        }
    }

    /// The first admin: from configuration, or in `up` a demo admin whose generated password is
    /// kept in `<data-dir>/demo-admin.txt` (identity stores only its hash) and printed once.
    func adminCredentials() throws -> (email: String, password: String)? {
        if let email = settings.adminEmail, let password = settings.adminPassword { return (email, password) }
        guard settings.mode == .embedded else { return nil }
        if let stored = Self.demoAdmin(in: settings.dataDirectory) { return stored }
        let file = Self.demoAdminFile(in: settings.dataDirectory)
        let credentials = (email: "admin@malha.local", password: MalhaSettings.randomToken().prefix(20).description)
        FileManager.default.createFile(
            atPath: file.path, contents: Data("\(credentials.email)\n\(credentials.password)\n".utf8),
            attributes: [.posixPermissions: 0o600])
        printNow("Demo admin created: \(credentials.email) / \(credentials.password)  (also in \(file.path))")
        return credentials
    }

    /// Where `up` keeps the demo admin's credentials: the e-mail, then the password, a line each.
    static func demoAdminFile(in dataDirectory: String) -> URL {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("demo-admin.txt")
    }

    /// The demo admin `up` created in `dataDirectory`, if any.
    static func demoAdmin(in dataDirectory: String) -> (email: String, password: String)? {
        guard let text = try? String(contentsOf: demoAdminFile(in: dataDirectory), encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        return lines.count >= 2 ? (lines[0], lines[1]) : nil
    }

    /// The service's own database: PostgreSQL when `malha.<service>.database-url` is set,
    /// otherwise `<data-dir>/<service>.sqlite`.
    func openStore(for name: ServiceName, logger: Logger) async throws -> any SQLStore & Service {
        if let url = settings.databaseURLs[name] {
            return try PostgresStore(url: url, logger: logger)
        }
        return try await SQLiteStore.open(path: sqlitePath(for: name), logger: logger)
    }

    /// `<data-dir>/<service>.sqlite`.
    func sqlitePath(for name: ServiceName) -> String {
        URL(fileURLWithPath: settings.dataDirectory).appendingPathComponent("\(name.rawValue).sqlite").path
    }

    /// Runs `body` on a service's database that must already exist, for operator commands: the
    /// store running (PostgreSQL needs its pool running) and closed afterwards. A missing SQLite
    /// file is refused (opening it would create an empty database).
    func withExistingStore<T: Sendable>(
        for name: ServiceName, logger: Logger, _ body: (any SQLStore) async throws -> T
    ) async throws -> T {
        if settings.databaseURLs[name] == nil {
            let path = sqlitePath(for: name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no \(name) database at \(path) (start `malha up` once, or pass --data-dir)")
            }
        }
        let store = try await openStore(for: name, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            if let postgres = store as? PostgresStore {
                group.addTask { try await postgres.run() }
            }
            defer { group.cancelAll() }
            let result: Result<T, any Error>
            do { result = .success(try await body(store)) } catch { result = .failure(error) }
            if let sqlite = store as? SQLiteStore { await sqlite.close() }
            return try result.get()
        }
    }

    func printWhenReady(gateway: ServiceRuntime) async {
        let started = ContinuousClock.now
        while !gateway.readiness.isReady {
            try? await Task.sleep(for: .milliseconds(20))
            if ContinuousClock.now - started > .seconds(60) { return }
        }
        var lines = ["", "Malha is up. Point a browser or curl at \(settings.publicURL)", ""]
        for name in Self.deployments.map(\.name).sorted(by: { settings.endpoints[$0]!.port < settings.endpoints[$1]!.port }) {
            lines.append("  \(name.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)) \(settings.endpoints[name]!.url)")
        }
        lines += ["", "  try: curl \(settings.publicURL)/v1/products?limit=3"]
        lines.append("  admin credentials: \(settings.adminEmail ?? "see \(settings.dataDirectory)/demo-admin.txt")")
        if !settings.metricsPublic, settings.metricsToken == nil, settings.metricsTokenFile == nil {
            lines.append(
                "  metrics: curl -H \"Authorization: Bearer $(cat \(settings.dataDirectory)/metrics.token)\" \(settings.publicURL)/metrics"
            )
        }
        lines.append("")
        printNow(lines.joined(separator: "\n"))
    }
}

/// Writes to standard output at once (`print` is block-buffered when stdout is a file or pipe).
func printNow(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Logs a service's failure the moment it happens, naming it, at error level: the group then
/// cancels everything else, and whatever that takes or prints must not hide what started it.
struct ReportsFailure: Service {
    let base: any Service
    let name: String
    let logger: Logger

    init(_ base: any Service, name: String, logger: Logger) {
        self.base = base
        self.name = name
        self.logger = logger
    }

    func run() async throws {
        do {
            try await base.run()
        } catch {
            if !(error is CancellationError) {
                // `reflecting`: PostgresNIO's errors hide their detail from `description`.
                logger.error("\(name) failed; stopping", metadata: ["error": "\(String(reflecting: error))"])
            }
            throw error
        }
    }
}

/// Shuts an HTTP client down when its service group stops (after the server that uses it).
struct HTTPClientCloser: Service {
    let client: HTTPClient
    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
