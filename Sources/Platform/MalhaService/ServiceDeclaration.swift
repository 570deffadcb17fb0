public import AsyncHTTPClient
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaOpenAPI
public import MalhaRegistry
public import MalhaStore
public import ServiceLifecycle

/// The platform tables a service's database holds besides its own.
public struct PlatformTables: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Messages it publishes wait here until the relay sends them (it publishes).
    public static let outbox = Self(rawValue: 1 << 0)
    /// Messages it has handled, so a redelivery is recognised (it consumes).
    public static let inbox = Self(rawValue: 1 << 1)
    /// `Idempotency-Key`s and their stored answers (it takes idempotent commands).
    public static let idempotencyKeys = Self(rawValue: 1 << 2)
    /// Its event-signing keys, sealed with its key-encryption key: it signs the events it owns
    /// (a consumer refuses a `SignedMessageContract` that is not signed by the type's owner), and
    /// publishes the public keys at `GET /.well-known/event-keys`. Needs `.outbox`.
    public static let eventSigningKeys = Self(rawValue: 1 << 3)
}

/// A service, declared once: what it is called, what it routes, documents, stores, publishes and
/// consumes, how it is configured, and how its handlers are made. The platform does the rest —
/// store, migrations, outbox relay and its wake-up, consumers that bind before the service
/// reports ready, readiness, registration with the gateway, metrics (`buildApplication`, and in
/// the `malha` executable the topology, which is a list of these).
///
/// In the spirit of Hummingbird's `buildApplication(args)`: a declaration is a handful of static
/// values and one `build` that returns the service's own parts.
public protocol ServiceDeclaration {
    /// How the service runs, read from its own keys (`malha.<name>.…`) by `configuration(from:)`.
    associatedtype Configuration: Sendable

    /// Its name: its `malha.<name>.…` keys, its database file, its registration, logs and metrics.
    static var name: String { get }
    /// Its port in `malha up`: the gateway's port plus this. Unique across the topology.
    static var portOffset: Int { get }
    /// What the gateway routes to it, and with which policy.
    static var routeRules: [RouteRule] { get }
    /// What it serves at `/openapi.json`, derived from the types its handlers decode and encode.
    static var openAPI: OpenAPIDocument { get }
    /// Its own tables' migrations.
    static var migrations: [Migration] { get }
    /// The platform tables it needs (the outbox when it publishes, the inbox when it consumes…).
    static var platformTables: PlatformTables { get }
    /// The message types it publishes (documentation, and what `malha up` checks someone consumes).
    static var publishes: [String] { get }
    /// The scopes its own calls to other services need. The platform gives a service that names
    /// any a client-credentials token with exactly these (`ServiceContext.serviceCredential`); in
    /// `malha up` its client is provisioned at identity on every start.
    static var clientScopes: [String] { get }

    /// Reads its configuration from its scoped keys; an invalid value throws naming the key.
    static func configuration(from reader: ServiceConfigReader) throws -> Configuration

    /// Its own parts: the router with every route, its consumers, and its background work.
    static func build(_ context: ServiceContext<Configuration>) async throws -> ServiceParts
}

/// Everything a service builds its parts from. The store is the service's own database; the
/// transport is nil when the process runs without a bus (its events then wait in the outbox).
public struct ServiceContext<Configuration: Sendable>: Sendable {
    public let configuration: Configuration
    public let runtime: ServiceRuntime
    public let store: any SQLStore
    public let verifier: AccessTokenVerifier
    public let transport: (any MessageTransport)?
    public let httpClient: HTTPClient
    public let clock: any WallClock
    /// The service's own token for calls to other services (`clientScopes`); nil when it names
    /// none, or when it runs without client credentials configured.
    public let serviceCredential: (any ServiceCredential)?
    /// Wakes the outbox relay: call it after a commit that wrote to the outbox (does nothing
    /// without a transport).
    public let wakeRelay: @Sendable () -> Void

    public var logger: Logger { runtime.logger }
}

/// A consumer the platform runs for a service: bound to `subscription` before the service reports
/// ready, each message handled in a transaction with the inbox.
public struct ServiceConsumer: Sendable {
    public var subscription: Subscription
    public var handler: ConsumerRunner.Handler

    public init(_ subscription: Subscription, handler: @escaping ConsumerRunner.Handler) {
        self.subscription = subscription
        self.handler = handler
    }
}

/// What a service's `build` returns.
public struct ServiceParts {
    public var router: Router<ServiceRequestContext>
    /// Run only with a transport.
    public var consumers: [ServiceConsumer]
    /// Started once the database is migrated (and stopped before the store closes).
    public var background: [any Service]
    /// Runs after the migrations, before the service reports ready (seeding a demo catalog).
    public var afterMigrations: (@Sendable () async throws -> Void)?

    public init(
        router: Router<ServiceRequestContext>, consumers: [ServiceConsumer] = [], background: [any Service] = [],
        afterMigrations: (@Sendable () async throws -> Void)? = nil
    ) {
        self.router = router
        self.consumers = consumers
        self.background = background
        self.afterMigrations = afterMigrations
    }
}

extension ServiceDeclaration {
    public static var publishes: [String] { [] }
    public static var clientScopes: [String] { [] }

    /// A router with the platform's middleware and endpoints (`ServiceRuntime.makeRouter`) and
    /// bearer authentication: each route group then states its policy.
    public static func makeRouter(runtime: ServiceRuntime, verifier: AccessTokenVerifier) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        return router
    }

    /// Migrates everything the service's database holds: its own tables, then the platform's.
    public static func migrate(_ store: any SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, logger: logger)
        if platformTables.contains(.outbox) { try await Outbox.migrate(store, logger: logger) }
        if platformTables.contains(.inbox) { try await Inbox.migrate(store, logger: logger) }
        if platformTables.contains(.idempotencyKeys) { try await IdempotencyKeys.migrate(store, logger: logger) }
    }

    /// The service as an application bound to `host:port` (port 0 picks a free one).
    ///
    /// Start order: `services` (the store first), then the migrations (and the first event key)
    /// and `afterMigrations` (`migrations` ready), then — with a transport — the outbox relay,
    /// each consumer (bound before `subscription` is ready) and the background work. It stops in
    /// reverse, the server draining first.
    ///
    /// `keyEncryption` seals the event-signing keys (required with `.eventSigningKeys`);
    /// `eventVerifier` checks the signed events the consumers receive (without one, critical
    /// events are refused: dead letters).
    public static func buildApplication(
        configuration: Configuration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)? = nil,
        keyEncryption: KeyEncryptionKey? = nil,
        eventVerifier: (any EnvelopeVerifier)? = nil,
        httpClient: HTTPClient = .shared,
        serviceCredential: (any ServiceCredential)? = nil,
        clock: any WallClock = SystemWallClock(),
        host: String = "127.0.0.1",
        port: Int = 0,
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        let logger = runtime.logger
        var services = services
        let signs = platformTables.contains(.eventSigningKeys)
        if signs, keyEncryption == nil { throw MissingEventKeyEncryption(service: name) }
        let publishing: EventPublishing? =
            platformTables.contains(.outbox)
            ? EventPublishing(
                service: name, store: store, transport: transport, keyEncryption: signs ? keyEncryption : nil,
                runtime: runtime, clock: clock) : nil
        var wakeRelay: @Sendable () -> Void = {}
        if let publishing {
            services += publishing.services(readiness: runtime.readiness)
            wakeRelay = publishing.wakeRelay
        }
        let context = ServiceContext<Configuration>(
            configuration: configuration, runtime: runtime, store: store, verifier: verifier, transport: transport,
            httpClient: httpClient, clock: clock, serviceCredential: serviceCredential, wakeRelay: wakeRelay)
        let parts = try await build(context)
        publishing?.addRoutes(to: parts.router)
        if let transport {
            for consumer in parts.consumers {
                let runner = ConsumerRunner(
                    subscription: consumer.subscription, transport: transport, store: store, verifier: eventVerifier,
                    clock: clock, logger: logger, metricsFactory: runtime.metricsFactory, handler: consumer.handler)
                services.append(SubscribesWhenReady(runner, readiness: runtime.readiness))
            }
        }
        services += parts.background.map { StartsWhenReady($0, readiness: runtime.readiness) as any Service }
        runtime.readiness.require(.migrations)
        let afterMigrations = parts.afterMigrations
        return runtime.makeApplication(
            responder: parts.router.buildResponder(), host: host, port: port, services: services
        ) {
            try await migrate(store, logger: logger)
            try await publishing?.keyRing?.prepare(logger: logger)
            try await afterMigrations?()
            runtime.readiness.set(.migrations, true)
        }
    }
}

/// A service that signs its events was built without a key-encryption key to seal the keys with.
public struct MissingEventKeyEncryption: Error, CustomStringConvertible {
    public var service: String
    public var description: String {
        "\(service) signs its events and needs a key-encryption key for its signing keys "
            + "(malha.\(service).key-encryption-key or -file)"
    }
}
