import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing

@testable import Consolidation

let testLogger: Logger = {
    var logger = Logger(label: "consolidation-tests")
    logger.logLevel = .critical
    return logger
}()

/// 2026-03-10T12:00:00Z: "now" in every test.
let testNow = Date(timeIntervalSince1970: 1_773_144_000)

/// A new account id, in the canonical (lowercase UUID) form the ledger gives out.
func newAccountID() -> String { UUID().uuidString.lowercased() }

/// A migrated consolidation database, the event handler over it with a cache and a clock the test
/// moves, and tokens for anyone.
struct ConsolidationHarness: Sendable {
    let store: any SQLStore
    let tokens: TestTokens
    let runtime: ServiceRuntime
    let clock: ManualClock
    let cache: BalanceCache
    let handler: LedgerEventHandler

    /// The consolidation's own credential for the ledger: a `ledger.read` client token.
    var ledgerReader: any ServiceCredential { tokens.serviceCredential("consolidation", scopes: [ServiceScope.ledgerRead]) }

    /// Runs `body` on SQLite, then on PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set.
    static func run(_ body: (ConsolidationHarness) async throws -> Void) async throws {
        try await TestDatabases.withEachBackend { store in try await body(try await make(store)) }
    }

    /// `keyValues`: the cache under the balances (an in-memory one on the harness's clock by default).
    static func make(
        _ store: any SQLStore, tokens: TestTokens? = nil, keyValues: (any KeyValueCache)? = nil
    ) async throws -> ConsolidationHarness {
        try await ConsolidationService.migrate(store, logger: testLogger)
        let clock = ManualClock(testNow)
        let cache = BalanceCache(cache: keyValues ?? InMemoryCache(clock: clock), ttl: .seconds(60))
        let tokens = if let tokens { tokens } else { await TestTokens.make() }
        return ConsolidationHarness(
            store: store, tokens: tokens,
            runtime: ServiceRuntime(descriptor: ServiceDescriptor(name: ConsolidationService.name), logger: testLogger),
            clock: clock, cache: cache, handler: LedgerEventHandler(backend: store.backend, cache: cache, clock: clock))
    }

    // MARK: Applying events

    /// Applies `envelope` as the consumer does, without the inbox: the handler in a transaction,
    /// then its after-commit work.
    func deliver(_ envelope: Envelope) async throws {
        let context = try await handleWithoutCommitActions(envelope)
        await context.runAfterCommit()
    }

    func deliver(_ envelopes: [Envelope]) async throws {
        for envelope in envelopes { try await deliver(envelope) }
    }

    /// The handler in a committed transaction, its after-commit work left for the test to run.
    func handleWithoutCommitActions(_ envelope: Envelope) async throws -> HandlerContext {
        try await store.transaction { db in
            let context = HandlerContext(database: db)
            try await handler.handle(envelope, context)
            return context
        }
    }

    /// A consumer over a real SQL bus (in `busStore`) delivering to this harness's handler.
    func bus(on busStore: any SQLStore) async throws -> TestBus {
        let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
        let subscription = LedgerEventHandler.subscription
        try await transport.bind(subscription: subscription.name, to: subscription.types)
        let runner = ConsumerRunner(
            subscription: subscription, transport: transport, store: store, clock: clock, logger: testLogger,
            handler: handler.handle)
        return TestBus(transport: transport, runner: runner)
    }

    // MARK: HTTP

    func test(ledger: LedgerReader? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = ConsolidationService.buildRouter(
            runtime: runtime, store: store, verifier: tokens.verifier, cache: cache, ledger: ledger, clock: clock)
        try await Application(router: router).test(.router, body)
    }

    func headers(_ subject: String, roles: [String] = [Role.customer]) async throws -> HTTPFields {
        try await tokens.headers(subject: subject, roles: roles)
    }

    // MARK: Looking past the HTTP surface

    /// The account's stored days, in date order.
    func storedDays(_ accountID: String) async throws -> [DayBalance] {
        try await store.read { db in try await BalanceQueries.storedDays(from: nil, accountID: accountID, in: db) }
    }

    func account(_ accountID: String) async throws -> ConsolidatedAccount? {
        try await store.read { db in try await Projection.account(accountID, in: db) }
    }

    func freshness(_ accountID: String) async throws -> Freshness? { try await account(accountID)?.freshness }

    /// The ids of the account's applied entries.
    func appliedEntryIDs(_ accountID: String) async throws -> Set<String> {
        try await store.read { db in
            Set(
                try await db.raw("SELECT entry_id FROM consolidation_entries WHERE account_id = \(bind: accountID)").all()
                    .map { try $0.decode(column: "entry_id", as: String.self) })
        }
    }

    /// Everything the consolidation holds of an account, `updated_at` included: equal snapshots
    /// mean nothing was written in between (the tests move the clock between them).
    func snapshot(_ accountID: String) async throws -> String {
        try await store.read { db in
            var lines: [String] = []
            for row in try await db.raw(
                """
                SELECT account_id, owner_id, currency, complete_through, latest_sequence, pending, updated_at
                FROM consolidation_accounts WHERE account_id = \(bind: accountID)
                """
            ).all() {
                lines.append(
                    "account \(try row.decode(column: "owner_id", as: String?.self) ?? "-") "
                        + "\(try row.decode(column: "complete_through", as: Int64.self)) "
                        + "\(try row.decode(column: "latest_sequence", as: Int64.self)) "
                        + "\(try row.decode(column: "pending", as: Int64.self)) "
                        + "\(try row.decode(column: "updated_at", as: Int64.self))")
            }
            for row in try await db.raw(
                """
                SELECT entry_id, sequence, business_date, entry_type, amount_cents FROM consolidation_entries
                WHERE account_id = \(bind: accountID) ORDER BY sequence
                """
            ).all() {
                lines.append(
                    "entry \(try row.decode(column: "entry_id", as: String.self)) "
                        + "\(try row.decode(column: "sequence", as: Int64.self)) "
                        + "\(try row.decode(column: "business_date", as: String.self)) "
                        + "\(try row.decode(column: "entry_type", as: String.self)) "
                        + "\(try row.decode(column: "amount_cents", as: Int64.self))")
            }
            for row in try await db.raw(
                """
                SELECT business_date, opening_cents, credits_cents, debits_cents, closing_cents, entry_count, updated_at
                FROM daily_balances WHERE account_id = \(bind: accountID) ORDER BY business_date
                """
            ).all() {
                let day = try DayBalance(row: row)
                lines.append(
                    "day \(day.date) \(day.openingCents) \(day.creditsCents) \(day.debitsCents) \(day.closingCents) "
                        + "\(day.entryCount) \(try row.decode(column: "updated_at", as: Int64.self))")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Changes a stored day's credits (and its closing, so the table's CHECK still holds), as a
    /// bug or a hand edit might.
    func corruptCredits(of accountID: String, on date: String, by cents: Int64) async throws {
        try await store.transaction { db in
            try await db.raw(
                """
                UPDATE daily_balances SET credits_cents = credits_cents + \(bind: cents),
                    closing_cents = closing_cents + \(bind: cents)
                WHERE account_id = \(bind: accountID) AND business_date = \(bind: date)
                """
            ).run()
        }
    }

    /// Forgets an applied entry (its day keeps the figures it added).
    func forgetEntry(_ entryID: String) async throws {
        try await store.transaction { db in
            try await db.raw("DELETE FROM consolidation_entries WHERE entry_id = \(bind: entryID)").run()
        }
    }
}

/// An in-memory cache that runs a test's action just before it next stores an account header
/// (`BalanceCache.headerKey`): a commit can be slipped between a read and its caching.
final class InterleavingCache: KeyValueCache {
    private let base = InMemoryCache()
    private let pending = Mutex<(@Sendable () async -> Void)?>(nil)

    func beforeNextHeaderWrite(_ action: @escaping @Sendable () async -> Void) { pending.withLock { $0 = action } }

    func get(_ key: String) async -> [UInt8]? { await base.get(key) }

    func set(_ key: String, _ value: [UInt8], ttl: Duration) async {
        if key.hasPrefix("consolidation:account:"), let action = pending.withLock({ $0.take() }) { await action() }
        await base.set(key, value, ttl: ttl)
    }

    func delete(_ key: String) async { await base.delete(key) }
    func delete(prefix: String) async { await base.delete(prefix: prefix) }
}

/// A real SQL bus with the consolidation's subscription bound, and a consumer the test drives.
struct TestBus: Sendable {
    let transport: SQLTransport
    let runner: ConsumerRunner

    /// Publishes `envelope`, receives it and lets the consumer settle it.
    func deliver(_ envelope: Envelope) async throws -> ConsumeOutcome {
        try await transport.publish([envelope])
        let deliveries = try await transport.receive(
            from: LedgerEventHandler.subscription.name, limit: 10, lease: .seconds(30))
        let delivery = try #require(deliveries.first, "the bus delivered nothing")
        #expect(deliveries.count == 1)
        #expect(delivery.envelope.id == envelope.id)
        return await runner.consume(delivery)
    }

    func deadLetters() async throws -> [DeadLetter] {
        try await transport.deadLetters(subscription: LedgerEventHandler.subscription.name, limit: 100, after: nil)
    }
}

// MARK: Events as the ledger publishes them

/// An entry as the ledger records it: what the event carries and what the ledger's API returns.
struct TestEntry: Sendable, Hashable {
    var id: String = UUID().uuidString.lowercased()
    var accountID: String
    var sequence: Int64
    var type: LedgerEntryType
    var amountCents: Int64
    var businessDate: String
    var reversesEntryID: String?

    /// Recorded one second per sequence after `testNow`, so freshness can name the entry.
    var recordedAt: Date { testNow.addingTimeInterval(TimeInterval(sequence)) }

    static func credit(_ cents: Int64, on date: String, account: String, sequence: Int64) -> TestEntry {
        TestEntry(accountID: account, sequence: sequence, type: .credit, amountCents: cents, businessDate: date)
    }

    static func debit(_ cents: Int64, on date: String, account: String, sequence: Int64) -> TestEntry {
        TestEntry(accountID: account, sequence: sequence, type: .debit, amountCents: cents, businessDate: date)
    }

    var event: LedgerEntryRecorded {
        LedgerEntryRecorded(
            entryID: id, accountID: accountID, sequence: sequence, entryType: type, amountCents: amountCents,
            currency: "BRL", occurredAt: recordedAt, businessDate: businessDate, category: nil, description: nil,
            reversesEntryID: reversesEntryID, recordedAt: recordedAt)
    }

    /// A new message carrying the entry (each call: another message id).
    func envelope() throws -> Envelope {
        try Envelope(event, source: "ledger", at: recordedAt, key: accountID)
    }

    var projected: ProjectedEntry { ProjectedEntry(event) }
}

func accountOpened(_ accountID: String, owner: String) throws -> Envelope {
    try Envelope(
        LedgerAccountOpened(
            accountID: accountID, ownerID: owner, name: "Caixa", currency: "BRL", timezone: "America/Sao_Paulo",
            openedAt: testNow),
        source: "ledger", at: testNow, key: accountID)
}

/// What the days of an account must hold, computed the plain way: per business date the sums of
/// its entries, and each day opening with the previous day's closing (0 before the first).
func recomputedDays(_ entries: some Sequence<TestEntry>) -> [DayBalance] {
    var byDate: [String: (credits: Int64, debits: Int64, count: Int64)] = [:]
    for entry in entries {
        var day = byDate[entry.businessDate] ?? (0, 0, 0)
        if entry.type == .credit { day.credits += entry.amountCents } else { day.debits += entry.amountCents }
        day.count += 1
        byDate[entry.businessDate] = day
    }
    var balance: Int64 = 0
    return byDate.keys.sorted().map { date in
        let day = byDate[date]!
        let opening = balance
        balance = opening + day.credits - day.debits
        return DayBalance(
            date: date, openingCents: opening, creditsCents: day.credits, debitsCents: day.debits, closingCents: balance,
            entryCount: day.count)
    }
}

// MARK: HTTP

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], json: String? = nil
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { $0 }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object (fails the test otherwise).
    func jsonObject() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any], "\(text)")
    }
}

/// `GET /v1/accounts/{id}/balances/{date}` as a client reads it.
struct DayResponse: Decodable, Sendable {
    var accountID: String
    var currency: String
    var day: DayBalance
    var freshness: Freshness

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id"
        case currency, freshness
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accountID = try container.decode(String.self, forKey: .accountID)
        currency = try container.decode(String.self, forKey: .currency)
        freshness = try container.decode(Freshness.self, forKey: .freshness)
        day = try DayBalance(from: decoder)
    }
}

/// `GET /v1/accounts/{id}/balances?from=&to=` as a client reads it.
struct RangeResponse: Decodable, Sendable {
    var accountID: String
    var currency: String
    var from: String
    var to: String
    var days: [DayBalance]
    var nextFrom: String?
    var freshness: Freshness

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id"
        case nextFrom = "next_from"
        case currency, from, to, days, freshness
    }
}

/// `POST /v1/admin/consolidation/rebuild` as a client reads it.
struct ReportResponse: Decodable, Sendable {
    struct Difference: Decodable, Sendable {
        var date: String
    }

    var accountID: String
    var mode: String
    var consistent: Bool
    var ledgerEntries: Int
    var differences: [Difference]
    var missingEntries: [String]
    var missingEntryCount: Int
    var unexpectedEntries: [String]
    var unexpectedEntryCount: Int
    var repaired: Bool

    enum CodingKeys: String, CodingKey {
        case mode, consistent, differences, repaired
        case accountID = "account_id"
        case ledgerEntries = "ledger_entries"
        case missingEntries = "missing_entries"
        case missingEntryCount = "missing_entry_count"
        case unexpectedEntries = "unexpected_entries"
        case unexpectedEntryCount = "unexpected_entry_count"
    }
}

// MARK: The ledger, for events and rebuilds

/// The real ledger over its own database: its router in process (to open accounts and record
/// entries, whose events then wait in its outbox), or the whole application on a loopback port
/// (for the consolidation's `LedgerReader`).
struct LedgerFixture: Sendable {
    let store: any SQLStore
    let tokens: TestTokens
    let clock: ManualClock

    static func make(_ store: any SQLStore, tokens: TestTokens) async throws -> LedgerFixture {
        try await LedgerService.migrate(store, logger: testLogger)
        return LedgerFixture(store: store, tokens: tokens, clock: ManualClock(testNow))
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger)
        let router = LedgerService.buildRouter(runtime: runtime, store: store, verifier: tokens.verifier, clock: clock)
        try await Application(router: router).test(.router, body)
    }

    /// Every event the ledger has published, in order.
    func outbox() async throws -> [Envelope] {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq").all()
                .map(Envelope.init(sqlRow:))
        }
    }

    /// Runs the ledger application on a free loopback port while `body` runs; `body` gets its URL.
    func live(_ body: (String) async throws -> Void) async throws {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger)
        let application = try await LedgerService.buildApplication(
            configuration: LedgerConfiguration(), runtime: runtime, store: store, verifier: tokens.verifier, transport: nil,
            clock: clock)
        let group = ServiceGroup(services: [application], logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await runtime.readiness.wait(for: .migrations)
            let result: Result<Void, any Error>
            do {
                result = .success(try await body(try await runtime.boundAddress.baseURL()))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            try result.get()
        }
    }
}

extension TestClientProtocol {
    /// Opens an account (business days in UTC) as `headers`' user; fails the test unless created.
    func openLedgerAccount(_ headers: HTTPFields) async throws -> LedgerAccount {
        let response = try await send(
            .post, "/v1/accounts", headers: headers, json: #"{"name": "Caixa", "timezone": "UTC"}"#)
        try #require(response.status == .created, "\(response.text)")
        return try response.decode(LedgerAccount.self)
    }

    /// Records an entry at noon UTC of `date`; fails the test unless created.
    func recordLedgerEntry(
        _ type: LedgerEntryType, _ cents: Int64, on date: String, account: String, headers: HTTPFields
    ) async throws -> LedgerEntry {
        var headers = headers
        headers[.idempotencyKey] = UUID().uuidString
        let response = try await send(
            .post, "/v1/accounts/\(account)/entries", headers: headers,
            json: #"{"type": "\#(type.rawValue)", "amount_cents": \#(cents), "occurred_at": "\#(date)T12:00:00Z"}"#)
        try #require(response.status == .created, "\(response.text)")
        return try response.decode(LedgerEntry.self)
    }
}
