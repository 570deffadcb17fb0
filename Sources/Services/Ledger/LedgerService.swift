import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaRegistry
public import MalhaService
public import MalhaStore
public import ServiceLifecycle

/// How a ledger instance runs. It reads no keys of its own today: accounts and entries need
/// nothing but the database.
public struct LedgerConfiguration: Sendable {
    public init() {}
}

/// The cash-flow ledger: cash accounts and their append-only debit and credit entries, in
/// integer cents, each numbered without gaps per account and published (`ledger.*` events, keyed
/// by account) through the outbox for the consolidation to build daily balances from.
///
/// It depends on nothing else at request time: with the bus or the consolidation down, entries
/// are still recorded, and their events wait in the outbox.
public enum LedgerService: ServiceDeclaration {
    public static let name = "ledger"
    public static let portOffset = 8
    public static let platformTables: PlatformTables = [.outbox, .idempotencyKeys]
    public static let publishes = [LedgerAccountOpened.type, LedgerEntryRecorded.type]

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

    public static func configuration(from reader: ServiceConfigReader) throws -> LedgerConfiguration {
        LedgerConfiguration()
    }

    /// Router with every route (in-process tests use it directly). `wakeRelay` runs after each
    /// commit that wrote to the outbox.
    public static func buildRouter(
        runtime: ServiceRuntime, store: any SQLStore, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock(), wakeRelay: @escaping @Sendable () -> Void = {}
    ) -> Router<ServiceRequestContext> {
        let router = makeRouter(runtime: runtime, verifier: verifier)
        LedgerRoutes(store: store, clock: clock, wakeRelay: wakeRelay).register(on: router)
        return router
    }

    /// Its routes; it consumes nothing. Without a transport, entries are recorded and their
    /// events wait in the outbox.
    public static func build(_ context: ServiceContext<LedgerConfiguration>) async throws -> ServiceParts {
        ServiceParts(
            router: buildRouter(
                runtime: context.runtime, store: context.store, verifier: context.verifier, clock: context.clock,
                wakeRelay: context.wakeRelay))
    }
}
