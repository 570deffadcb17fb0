public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaStore
public import ServiceLifecycle

/// How a service publishes: the outbox relay that moves its outbox to the bus (and its wake-up),
/// and, for a service that signs its events, its event-signing keys and the route that publishes
/// them. Declared services get it from `buildApplication`; identity, which the platform wires by
/// hand, uses the same.
public struct EventPublishing: Sendable {
    /// The service's event keys: nil for a service that does not sign.
    public let keyRing: EventKeyRing?
    /// Nil without a transport (the events then wait in the outbox).
    public let relay: OutboxRelay?

    /// `keyEncryption` nil: the service does not sign (its consumers receive unsigned events).
    public init(
        service: String, store: any SQLStore, transport: (any MessageTransport)?, keyEncryption: KeyEncryptionKey?,
        runtime: ServiceRuntime, clock: any WallClock
    ) {
        let keyRing = keyEncryption.map { EventKeyRing(service: service, store: store, keyEncryption: $0, clock: clock) }
        self.keyRing = keyRing
        relay = transport.map {
            OutboxRelay(
                store: store, transport: $0, signer: keyRing, service: service, clock: clock, logger: runtime.logger,
                metricsFactory: runtime.metricsFactory)
        }
    }

    /// Wakes the relay: call it after a commit that wrote to the outbox.
    public var wakeRelay: @Sendable () -> Void {
        guard let relay else { return {} }
        return { relay.wake() }
    }

    /// The relay, started once the service's database is migrated.
    public func services(readiness: Readiness) -> [any Service] {
        relay.map { [StartsWhenReady($0, readiness: readiness)] } ?? []
    }

    /// Creates the outbox and the event keys (the first key on the first start).
    public func migrate(_ store: any SQLStore, logger: Logger) async throws {
        try await Outbox.migrate(store, logger: logger)
        try await keyRing?.prepare(logger: logger)
    }

    /// `GET /.well-known/event-keys`: the public keys consumers verify this service's events with.
    public func addRoutes(to router: Router<ServiceRequestContext>) {
        guard let keyRing else { return }
        router.get(RouterPath(EventKeyRing.path)) { _, _ -> Response in try await keyRing.jwks().response }
    }
}
