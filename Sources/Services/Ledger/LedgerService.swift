import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaOpenAPI
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
        // Every route needs a user; who sees which account the service decides (owner, finance,
        // admin). Reads let a `ledger.read` client through too; the service lets it read one
        // account at a time, and write nothing.
        .authenticated("/v1/accounts", methods: ["GET"]).orScopes([ServiceScope.ledgerRead]),
        .authenticated("/v1/accounts"),
        .authenticated("/v1/entries", methods: ["GET"]).orScopes([ServiceScope.ledgerRead]),
        .authenticated("/v1/entries"),
    ]

    /// Reading one account or entry: a person the account is visible to, or a `ledger.read` client.
    static let readPolicy = AccessPolicy.authenticated.orScopes([ServiceScope.ledgerRead])

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Ledger (cash flow)", version: MalhaVersion.current,
            description: "Cash accounts and their append-only credit and debit entries, in integer cents. An account "
                + "and its entries are visible to its owner, finance and administrators; to anyone else they do not "
                + "exist (404).",
            operations: [
                .post(
                    "/v1/accounts", "Open a cash account owned by the caller", access: .authenticated,
                    body: .json(OpenAccountRequest.self),
                    responses: [
                        .created(LedgerAccount.self, "The account"),
                        .problem(422, "validation_failed: invalid name, currency or timezone"),
                    ]),
                .get(
                    "/v1/accounts", "The caller's accounts, newest first",
                    description: "Finance and administrators see every account, or one owner's with owner_id; anyone "
                        + "else may name only themselves.", access: .authenticated,
                    parameters: [
                        .query(
                            "limit",
                            .integer(1...Int64(AccountListQuery.maxLimit)).defaulting(
                                .integer(Int64(AccountListQuery.defaultLimit)))),
                        .query(
                            "cursor", .string(format: .uuid),
                            description: "The previous page's next_cursor (anything else: 400 invalid_cursor)"),
                        .query(
                            "owner_id", .string(length: 1...255),
                            description: "One owner's accounts (1 to 255 characters); someone else's needs the "
                                + "finance or admin role"),
                    ],
                    responses: [
                        .page(of: LedgerAccount.self), .problem(400, "invalid_cursor"),
                        .problem(403, "owner_id of someone else without the finance or admin role"),
                        .problem(422, "validation_failed: invalid limit or owner_id"),
                    ]),
                .get(
                    "/v1/accounts/{id}", "An account (its owner, finance or admin)", access: .authenticated,
                    parameters: [accountID],
                    responses: [.ok(LedgerAccount.self, "The account"), .problem(404, "No such account (or not yours)")]),
                .post(
                    "/v1/accounts/{id}/entries", "Record a credit or debit",
                    description: "A retry with the same Idempotency-Key and body answers the first response again; "
                        + "the entry, its event and the key's answer commit together.", access: .authenticated,
                    parameters: [accountID], idempotencyKey: .required, body: .json(RecordEntryRequest.self),
                    responses: [
                        .created(
                            LedgerEntry.self, "The entry (Idempotent-Replayed: true on a replay)",
                            headers: [LedgerSchemas.entryLocation, .idempotentReplayed]),
                        .problem(400, "idempotency_key_required, invalid_idempotency_key or malformed_json"),
                        .problem(404, "No such account (or not yours)"),
                        .problem(
                            409,
                            "idempotency_key_in_use (the key's first request is still running), or validation_failed: "
                                + "occurred_at more than one day after the ledger's clock"),
                        .problem(
                            422,
                            "invalid_amount, validation_failed, or idempotency_key_reused (the key was used for another "
                                + "request)"),
                    ]),
                .get(
                    "/v1/accounts/{id}/entries", "The account's entries by sequence", access: .authenticated,
                    parameters: [
                        accountID,
                        .query("from", LedgerSchemas.businessDate, description: "First business date, inclusive"),
                        .query(
                            "to", LedgerSchemas.businessDate,
                            description: "Last business date, inclusive (before from: an empty page)"),
                        .query("type", LedgerEntryType.self),
                        .query(
                            "category", .string(length: 1...EntryRules.maxCategoryLength),
                            description: "Entries of this category, compared trimmed; 1 to "
                                + "\(EntryRules.maxCategoryLength) characters as sent. A blank one matches no entry "
                                + "(categories are stored trimmed, blank as none): an empty page"),
                        .query(
                            "limit",
                            .integer(1...Int64(EntryListQuery.maxLimit)).defaulting(.integer(Int64(EntryListQuery.defaultLimit)))),
                        .query(
                            "cursor", .integer(minimum: 1, maximum: Int64.max),
                            description: "The previous page's next_cursor: an entry sequence"),
                    ],
                    responses: [
                        .page(of: LedgerEntry.self), .problem(400, "invalid_cursor"),
                        .problem(404, "No such account (or not yours)"),
                        .problem(422, "validation_failed: invalid from, to, type, category or limit"),
                    ]),
                .get(
                    "/v1/entries/{id}", "An entry (its account's owner, finance or admin)", access: .authenticated,
                    parameters: [entryID],
                    responses: [.ok(LedgerEntry.self, "The entry"), .problem(404, "No such entry (or not yours)")]),
                .post(
                    "/v1/entries/{id}/reversal", "Reverse an entry once",
                    description: "A new entry on the same account: the opposite type, the same amount. Idempotent "
                        + "like recording.", access: .authenticated, parameters: [entryID], idempotencyKey: .required,
                    body: .json(ReversalRequest.self, required: false),
                    responses: [
                        .created(
                            LedgerEntry.self, "The reversal entry (Idempotent-Replayed: true on a replay)",
                            headers: [LedgerSchemas.entryLocation, .idempotentReplayed]),
                        .problem(400, "idempotency_key_required, invalid_idempotency_key or malformed_json"),
                        .problem(404, "No such entry (or not yours)"),
                        .problem(
                            409,
                            "already_reversed, cannot_reverse_a_reversal (the entry is a reversal), "
                                + "idempotency_key_in_use (the key's first request is running), or validation_failed: "
                                + "occurred_at more than one day after the ledger's clock"),
                        .problem(422, "validation_failed or idempotency_key_reused"),
                    ]),
            ])
    }

    /// Ids are UUIDs; anything else is answered like an unknown id (404).
    private static let accountID = OpenAPIDocument.Parameter.path(
        "id", UUID.self, description: "The account id (a non-UUID is answered 404, like an unknown id)")
    private static let entryID = OpenAPIDocument.Parameter.path(
        "id", UUID.self, description: "The entry id (a non-UUID is answered 404, like an unknown id)")

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
