import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaRegistry
public import MalhaStore
public import ServiceLifecycle

/// How a ledger instance runs.
public struct LedgerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The token issuer and audience the service accepts (identity's).
    public var issuer: String
    public var audience: String

    public init(host: String = "127.0.0.1", port: Int = 0, issuer: String = "malha-identity", audience: String = "malha") {
        self.host = host
        self.port = port
        self.issuer = issuer
        self.audience = audience
    }
}

/// The cash-flow ledger: cash accounts and their append-only debit and credit entries, in
/// integer cents, each numbered without gaps per account and published (`ledger.*` events, keyed
/// by account) through the outbox for the consolidation to build daily balances from.
///
/// It depends on nothing else at request time: with the bus or the consolidation down, entries
/// are still recorded, and their events wait in the outbox.
public enum LedgerService {
    public static let name = "ledger"

    public static let routeRules: [RouteRule] = [
        // Every route needs a user; who sees which account the service decides (owner, finance, admin).
        .authenticated("/v1/accounts"),
        .authenticated("/v1/entries"),
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Ledger (cash flow)",
        version: MalhaVersion.current,
        operations: [
            .init(
                "POST", "/v1/accounts",
                "Open a cash account owned by the caller (currency default BRL, timezone default "
                    + "America/Sao_Paulo)",
                access: .authenticated, request: "OpenAccountRequest",
                responses: [
                    201: "The account", 400: "Malformed JSON", 401: "No token", 415: "Not JSON",
                    422: "Invalid name, currency or timezone",
                ]),
            .init(
                "GET", "/v1/accounts",
                "The caller's accounts, newest first (limit, cursor; finance and admin see all, owner_id filters)",
                access: .authenticated,
                responses: [
                    200: "{items, next_cursor}", 400: "Invalid cursor", 401: "No token",
                    403: "owner_id of someone else without the finance or admin role", 422: "Invalid limit or owner_id",
                ]),
            .init(
                "GET", "/v1/accounts/{id}", "An account (its owner, finance or admin)", access: .authenticated,
                responses: [200: "The account", 401: "No token", 404: "No such account (or not yours)"]),
            .init(
                "POST", "/v1/accounts/{id}/entries",
                "Record a credit or debit (Idempotency-Key required; amount_cents a JSON integer 1…10^11)",
                access: .authenticated, request: "RecordEntryRequest",
                responses: [
                    201: "The entry (Idempotent-Replayed: true on a replay)",
                    400: "No or invalid Idempotency-Key; malformed JSON",
                    401: "No token", 404: "No such account (or not yours)", 409: "The key's first request is still running",
                    415: "Not JSON",
                    422: "invalid_amount, validation_failed, or idempotency_key_reused (the key was used for another request)",
                ]),
            .init(
                "GET", "/v1/accounts/{id}/entries",
                "The account's entries by sequence (from, to: business dates inclusive; type; category; limit; cursor)",
                access: .authenticated,
                responses: [
                    200: "{items, next_cursor}", 400: "Invalid cursor", 401: "No token", 404: "No such account (or not yours)",
                    422: "Invalid filter or limit",
                ]),
            .init(
                "GET", "/v1/entries/{id}", "An entry (its account's owner, finance or admin)", access: .authenticated,
                responses: [200: "The entry", 401: "No token", 404: "No such entry (or not yours)"]),
            .init(
                "POST", "/v1/entries/{id}/reversal",
                "Reverse an entry once: a new entry, opposite type, same amount (Idempotency-Key required; optional "
                    + "description, occurred_at)",
                access: .authenticated, request: "ReversalRequest",
                responses: [
                    201: "The reversal entry", 400: "No or invalid Idempotency-Key; malformed JSON", 401: "No token",
                    404: "No such entry (or not yours)", 409: "already_reversed, or the key's first request still running",
                    415: "Not JSON", 422: "cannot_reverse_a_reversal, validation_failed, idempotency_key_reused",
                ]),
        ])

    public static var migrations: [Migration] { LedgerMigrations.all }

    /// Migrates everything the ledger database holds: its own tables, the outbox and the
    /// idempotency keys. (It consumes nothing, so it has no inbox.)
    public static func migrate(_ store: any SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, logger: logger)
        try await Outbox.migrate(store, logger: logger)
        try await IdempotencyKeys.migrate(store, logger: logger)
    }

    /// Router with every route (in-process tests use it directly). `wakeRelay` runs after each
    /// commit that wrote to the outbox.
    public static func buildRouter(
        runtime: ServiceRuntime, store: any SQLStore, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock(), wakeRelay: @escaping @Sendable () -> Void = {}
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        LedgerRoutes(store: store, clock: clock, wakeRelay: wakeRelay).register(on: router)
        return router
    }

    /// The application. With a `transport`, the outbox relay runs (once migrated) and is woken
    /// after each commit; without one, accounts and entries are recorded and their events wait
    /// in the outbox.
    public static func buildApplication(
        configuration: LedgerConfiguration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)?,
        clock: any WallClock = SystemWallClock(),
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        let logger = runtime.logger
        var services = services
        var wakeRelay: @Sendable () -> Void = {}
        if let transport {
            let relay = OutboxRelay(
                store: store, transport: transport, service: name, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory)
            wakeRelay = { relay.wake() }
            services.append(StartsWhenReady(relay, readiness: runtime.readiness))
        }
        let router = buildRouter(runtime: runtime, store: store, verifier: verifier, clock: clock, wakeRelay: wakeRelay)
        runtime.readiness.require(.migrations)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await migrate(store, logger: logger)
            runtime.readiness.set(.migrations, true)
        }
    }
}
