import ArgumentParser
import AsyncHTTPClient
import Catalog
import Consolidation
import Identity
import Ledger
import MalhaBus
import MalhaGateway
import MalhaMessaging
import MalhaOpenAPI
import MalhaRegistry
import MalhaService
import Notifications
import Orders
import Payments
import ServiceLifecycle

/// One unit `malha` can run: a declared service, or one of the platform's own pieces.
struct Deployment: Sendable {
    let name: ServiceName
    /// Its port in `up`: the gateway's port plus this.
    let portOffset: Int
    /// Whether it publishes or consumes on the bus (and so needs the process's bus).
    let usesBus: Bool
    /// Whether it signs its events (consumers then fetch its event keys).
    let signsEvents: Bool
    /// What it serves at `/openapi.json`; the gateway merges them into the public document.
    let openAPI: OpenAPIDocument?
    /// What the gateway routes to it (it registers them).
    let routeRules: [RouteRule]
    /// The scopes its own calls to other services need (`ServiceDeclaration.clientScopes`).
    var clientScopes: [String] = []
    /// Reads its configuration (throwing on an unusable value) and returns how to build it with
    /// that configuration. Run for every deployment before anything starts, so a bad key stops
    /// the start with its message and nothing half-open.
    let prepare: @Sendable (MalhaSettings) throws -> Builder

    typealias Builder = @Sendable (Topology.Wiring) async throws -> Topology.Built

    /// One of the platform's pieces, configured from the process's settings as it is built.
    init(
        name: ServiceName, portOffset: Int, usesBus: Bool, signsEvents: Bool = false, openAPI: OpenAPIDocument?,
        routeRules: [RouteRule], build: @escaping Builder
    ) {
        self.init(
            name: name, portOffset: portOffset, usesBus: usesBus, signsEvents: signsEvents, openAPI: openAPI,
            routeRules: routeRules
        ) { _ in build }
    }

    init(
        name: ServiceName, portOffset: Int, usesBus: Bool, signsEvents: Bool = false, openAPI: OpenAPIDocument?,
        routeRules: [RouteRule], prepare: @escaping @Sendable (MalhaSettings) throws -> Builder
    ) {
        self.name = name
        self.portOffset = portOffset
        self.usesBus = usesBus
        self.signsEvents = signsEvents
        self.openAPI = openAPI
        self.routeRules = routeRules
        self.prepare = prepare
    }

    /// A service that declares itself (`ServiceDeclaration`): the platform wires all of it.
    static func service<Declaration: ServiceDeclaration>(_ declaration: Declaration.Type) -> Deployment {
        var deployment = Deployment(
            name: ServiceName(Declaration.name), portOffset: Declaration.portOffset,
            usesBus: !Declaration.platformTables.isDisjoint(with: [.outbox, .inbox]),
            signsEvents: Declaration.platformTables.contains(.eventSigningKeys), openAPI: Declaration.openAPI,
            routeRules: Declaration.routeRules
        ) { settings in
            let configuration = try Declaration.configuration(from: settings.reader(for: Declaration.name))
            return { try await $0.service(Declaration.self, configuration: configuration) }
        }
        deployment.clientScopes = Declaration.clientScopes
        return deployment
    }
}

extension Topology {
    /// Everything `malha up` runs, in start order: the registry first (the others register with
    /// it), the gateway last. A new service is its own folder, one line here and one in
    /// Package.swift.
    static let deployments: [Deployment] = [
        .registry,
        .bus,
        .identity,
        .service(CatalogService.self),
        .service(OrdersService.self),
        .service(PaymentsService.self),
        .service(NotificationsService.self),
        .service(LedgerService.self),
        .service(ConsolidationService.self),
        .gateway,
    ]

    /// The deployments named, in the topology's order.
    static func deployments(named names: [ServiceName]) -> [Deployment] {
        deployments.filter { names.contains($0.name) }
    }
}

// The platform's own pieces: each is wired here once, since it is what the platform is made of
// (the registry's token, the process's bus, identity's signing keys, the gateway's registry view).
extension Deployment {
    static let registry = Deployment(
        name: .registry, portOffset: 1, usesBus: false, openAPI: RegistryService.openAPI,
        routeRules: RegistryService.routeRules
    ) { wiring in
        guard let key = wiring.settings.registryKey else {
            throw ValidationError("malha.registry.key (MALHA_REGISTRY_KEY) is required for `serve registry`")
        }
        let store = try await wiring.store()
        var configuration = RegistryConfiguration(
            credentialKey: key, ownership: Topology.routeOwnership(settings: wiring.settings))
        configuration.host = wiring.endpoint.host
        configuration.port = wiring.endpoint.port
        let application = RegistryService.buildApplication(
            configuration: configuration, runtime: wiring.runtime, store: store, verifier: wiring.verifier(),
            services: [store])
        // The registry registers with itself, so the gateway routes /v1/registry like any other service.
        return .init(runtime: wiring.runtime, application: application, registrar: wiring.registrar(RegistryService.routeRules))
    }

    static let bus = Deployment(
        name: .bus, portOffset: 4, usesBus: true, openAPI: BusService.openAPI,
        routeRules: BusService.routeRules
    ) { wiring in
        guard let transport = wiring.bus else { preconditionFailure("the bus service runs with the process's bus") }
        var configuration = BusConfiguration()
        configuration.host = wiring.endpoint.host
        configuration.port = wiring.endpoint.port
        let runtime = wiring.runtime
        let application = BusService.buildApplication(
            configuration: configuration, runtime: runtime, deadLetters: transport, verifier: wiring.verifier(),
            services: [BusMetricsSampler(statistics: transport, logger: runtime.logger, metricsFactory: runtime.metricsFactory)]
        ) {
            try await transport.migrate()
        }
        return .init(runtime: runtime, application: application, registrar: wiring.registrar(BusService.routeRules))
    }

    static let identity = Deployment(
        // On the bus as a publisher: role changes go out signed (`identity.roles-changed.v1`).
        name: .identity, portOffset: 2, usesBus: true, signsEvents: true, openAPI: IdentityService.openAPI,
        routeRules: IdentityService.routeRules
    ) { wiring in
        let settings = wiring.settings
        let store = try await wiring.store()
        var configuration = IdentityConfiguration()
        configuration.host = wiring.endpoint.host
        configuration.port = wiring.endpoint.port
        configuration.issuer = settings.issuer
        configuration.audience = settings.audience
        configuration.publicBaseURL = settings.publicURL
        configuration.passwordCost = UInt8(clamping: settings.bcryptCost)
        configuration.keyEncryptionKey = try wiring.topology.keyEncryptionKey(for: .identity)
        configuration.registrationsPerAddress = AttemptLimit(settings.registrationsPerHour, per: .seconds(3600))
        configuration.refreshesPerAddress = AttemptLimit(settings.refreshesPerMinute, per: .seconds(60))
        configuration.refreshesPerFamily = AttemptLimit(settings.refreshesPerFamilyPerMinute, per: .seconds(60))
        let admin = try wiring.topology.adminCredentials()
        configuration.adminEmail = admin?.email
        configuration.adminPassword = admin?.password
        if settings.mode == .embedded { configuration.provisionedClients = wiring.topology.provisionedClients }
        let application = try await IdentityService.buildApplication(
            configuration: configuration, runtime: wiring.runtime, store: store, transport: wiring.bus, services: [store])
        return .init(runtime: wiring.runtime, application: application, registrar: wiring.registrar(IdentityService.routeRules))
    }

    static let gateway = Deployment(name: .gateway, portOffset: 0, usesBus: false, openAPI: nil, routeRules: []) { wiring in
        let settings = wiring.settings
        let runtime = wiring.runtime
        var configuration = GatewayConfiguration(issuer: settings.issuer, audience: settings.audience)
        configuration.host = wiring.endpoint.host
        configuration.port = wiring.endpoint.port
        configuration.staticRoutesFile = settings.gatewayRoutesFile
        configuration.serviceDocuments = Topology.deployments.compactMap(\.openAPI)
        configuration.declaredRoutes = Topology.declaredRoutes
        configuration.healthCheckInterval =
            settings.healthCheckIntervalMilliseconds == 0 ? nil : .milliseconds(settings.healthCheckIntervalMilliseconds)
        configuration.healthCheckTimeout = .milliseconds(settings.healthCheckTimeoutMilliseconds)
        configuration.healthCheckThresholds = .init(unhealthy: settings.unhealthyThreshold, healthy: settings.healthyThreshold)
        let instances = PollingInstanceSource(client: wiring.registryClient, logger: runtime.logger) {
            runtime.readiness.set(.registry, true)
        }
        // The proxy has its own client: no retrying of refused connections (a stopped upstream
        // must answer 503 at once), the configured connect timeout, no redirects followed.
        let proxyClient = GatewayService.makeHTTPClient(configuration: configuration)
        let application = try await GatewayService.buildApplication(
            configuration: configuration, runtime: runtime, instances: instances, verifier: wiring.verifier(),
            httpClient: proxyClient, services: [instances, HTTPClientCloser(client: proxyClient)])
        return .init(runtime: runtime, application: application, registrar: nil, instances: instances)
    }
}
