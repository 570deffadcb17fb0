import AsyncHTTPClient
import Consolidation
import Contracts
import Foundation
import Ledger
import Logging
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import NIOCore
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing

/// The challenge's isolation requirement, on real stores and the real bus: the ledger keeps
/// accepting entries while the consolidation is stopped and while the bus is unreachable, and
/// once both are back every daily balance equals the ledger's own sums — nothing lost, nothing
/// counted twice. SQLite, then PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set.
@Suite("Cash flow isolation", .serialized, .timeLimit(.minutes(10)))
struct CashFlowIsolationTests {
    @Test func theLedgerKeepsRecordingWhileTheConsolidationIsStopped() async throws {
        try await TestDatabases.withEachBackend(stores: 3) { stores in
            let rig = try await CashFlowRig.start(ledger: stores[0], consolidation: stores[1], bus: stores[2])
            do {
                let accounts = try await rig.openAccounts(3)
                try await rig.record(30, on: accounts)
                try await rig.expectConverged("before the stop")

                try await rig.stopConsolidation()
                let (accepted, failed) = try await rig.recordCounting(120, on: accounts)
                #expect(accepted == 120 && failed == 0, "every entry is accepted with the consolidation stopped")
                #expect(try await rig.consolidatedCount() == 30, "nothing was consolidated while it was stopped")

                try await rig.startConsolidation()
                try await rig.expectConverged("after the restart")
            } catch {
                await rig.stop()
                throw error
            }
            await rig.stop()
        }
    }

    @Test func theOutboxHoldsEntriesWhileTheBusIsDown() async throws {
        try await TestDatabases.withEachBackend(stores: 3) { stores in
            let rig = try await CashFlowRig.start(ledger: stores[0], consolidation: stores[1], bus: stores[2])
            do {
                let accounts = try await rig.openAccounts(2)
                try await rig.record(10, on: accounts)
                try await rig.expectConverged("before the outage")

                rig.bus.isDown = true
                let (accepted, failed) = try await rig.recordCounting(60, on: accounts)
                #expect(accepted == 60 && failed == 0, "every entry is accepted with the bus down")
                let held = try await rig.count("outbox", in: rig.ledgerStore)
                #expect(held == 60, "the outbox holds the events the bus could not take (\(held))")

                rig.bus.isDown = false
                try await rig.expectConverged("after the bus is back")
                #expect(try await rig.count("outbox", in: rig.ledgerStore) == 0)
            } catch {
                await rig.stop()
                throw error
            }
            await rig.stop()
        }
    }
}

/// A bus that can be made unreachable: every call fails as a dropped connection would, while the
/// real transport behind it keeps what it already holds.
final class OutageTransport: MessageTransport {
    let inner: SQLTransport
    private let down = Atomic<Bool>(false)

    init(_ inner: SQLTransport) { self.inner = inner }

    var isDown: Bool {
        get { down.load(ordering: .relaxed) }
        set { down.store(newValue, ordering: .relaxed) }
    }

    struct Unreachable: Error {}

    func check() throws { if isDown { throw Unreachable() } }

    func bind(subscription: String, to types: Set<String>) async throws {
        try check()
        try await inner.bind(subscription: subscription, to: types)
    }
    func publish(_ envelopes: [Envelope]) async throws {
        try check()
        try await inner.publish(envelopes)
    }
    func receive(from subscription: String, limit: Int, lease: Duration) async throws -> [Delivery] {
        try check()
        return try await inner.receive(from: subscription, limit: limit, lease: lease)
    }
    func receive(from subscription: String, limit: Int, lease: Duration, keyOrder: Bool) async throws -> [Delivery] {
        try check()
        return try await inner.receive(from: subscription, limit: limit, lease: lease, keyOrder: keyOrder)
    }
    func waitForMessages(on subscription: String, timeout: Duration) async {
        if isDown { try? await Task.sleep(for: timeout) } else { await inner.waitForMessages(on: subscription, timeout: timeout) }
    }
    func acknowledge(_ delivery: Delivery) async throws -> Bool {
        try check()
        return try await inner.acknowledge(delivery)
    }
    func acknowledge(_ deliveries: [Delivery]) async throws -> Int {
        try check()
        return try await inner.acknowledge(deliveries)
    }
    func retry(_ delivery: Delivery, after delay: Duration, error: String) async throws -> Bool {
        try check()
        return try await inner.retry(delivery, after: delay, error: error)
    }
    func deadLetter(_ delivery: Delivery, error: String) async throws -> Bool {
        try check()
        return try await inner.deadLetter(delivery, error: error)
    }
}

/// The ledger and the consolidation as two applications on loopback ports, sharing a bus, each in
/// its own service group so one can stop while the other runs.
final class CashFlowRig: @unchecked Sendable {
    let ledgerStore: any SQLStore
    let consolidationStore: any SQLStore
    let bus: OutageTransport
    let tokens: TestTokens
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let ledgerGroup: ServiceGroup
    let ledgerTask: Task<Void, any Error>
    let ledgerURL: String
    var consolidation: (group: ServiceGroup, task: Task<Void, any Error>)?
    let token: String
    var entryNumber = 0

    static let logger: Logger = {
        var logger = Logger(label: "cashflow-isolation")
        logger.logLevel = .critical
        return logger
    }()

    private init(
        ledgerStore: any SQLStore, consolidationStore: any SQLStore, bus: OutageTransport, tokens: TestTokens,
        ledgerGroup: ServiceGroup, ledgerTask: Task<Void, any Error>, ledgerURL: String, token: String
    ) {
        self.ledgerStore = ledgerStore
        self.consolidationStore = consolidationStore
        self.bus = bus
        self.tokens = tokens
        self.ledgerGroup = ledgerGroup
        self.ledgerTask = ledgerTask
        self.ledgerURL = ledgerURL
        self.token = token
    }

    static func start(
        ledger: any SQLStore, consolidation: any SQLStore, bus busStore: any SQLStore
    ) async throws
        -> CashFlowRig
    {
        let transport = try await SQLTransport.open(store: busStore, logger: logger)
        let bus = OutageTransport(transport)
        let tokens = await TestTokens.make()
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: logger)
        let app = try await LedgerService.buildApplication(
            configuration: LedgerConfiguration(), runtime: runtime, store: ledger, verifier: tokens.verifier, transport: bus,
            services: [transport])
        let group = ServiceGroup(services: [app], logger: logger)
        let task = Task { try await group.run() }
        let url = try await runtime.boundAddress.baseURL()
        let rig = CashFlowRig(
            ledgerStore: ledger, consolidationStore: consolidation, bus: bus, tokens: tokens, ledgerGroup: group,
            ledgerTask: task, ledgerURL: url, token: try await tokens.token(subject: "caixa"))
        try await rig.startConsolidation()
        return rig
    }

    func startConsolidation() async throws {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: ConsolidationService.name), logger: Self.logger)
        let app = try await ConsolidationService.buildApplication(
            configuration: ConsolidationConfiguration(), runtime: runtime, store: consolidationStore,
            verifier: tokens.verifier, transport: bus, httpClient: http)
        let group = ServiceGroup(services: [app], logger: Self.logger)
        consolidation = (group, Task { try await group.run() })
        // Ready means migrated and subscribed: from then on the ledger's events wait for it.
        let ready = await eventually(timeout: .seconds(30)) { runtime.readiness.isReady }
        try #require(ready, "the consolidation did not get ready: \(runtime.readiness.snapshot())")
    }

    func stopConsolidation() async throws {
        guard let consolidation else { return }
        await consolidation.group.triggerGracefulShutdown()
        try await consolidation.task.value
        self.consolidation = nil
    }

    func stop() async {
        try? await stopConsolidation()
        await ledgerGroup.triggerGracefulShutdown()
        _ = try? await ledgerTask.value
        try? await http.shutdown()
    }

    // MARK: Driving the ledger

    func post(_ path: String, _ json: String, key: String? = nil) async throws -> (status: UInt, body: Data) {
        var request = HTTPClientRequest(url: ledgerURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await http.execute(request, timeout: .seconds(30))
        return (response.status.code, Data(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    func openAccounts(_ count: Int) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count {
            let (status, body) = try await post("/v1/accounts", #"{"name": "Caixa \#(index)"}"#)
            try #require(status == 201)
            let json = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            ids.append(try #require(json?["id"] as? String))
        }
        return ids
    }

    /// Records `count` entries round-robin over `accounts`: credits and debits, some dated one or
    /// two days back (late entries that correct later balances). Returns accepted and failed.
    func recordCounting(_ count: Int, on accounts: [String]) async throws -> (accepted: Int, failed: Int) {
        var accepted = 0
        var failed = 0
        for _ in 0..<count {
            entryNumber += 1
            let type = entryNumber % 3 == 0 ? "debit" : "credit"
            let daysBack = entryNumber % 5 == 0 ? 2 : entryNumber % 4 == 0 ? 1 : 0
            let occurred = Date().addingTimeInterval(-Double(daysBack) * 86_400)
            let json = """
                {"type": "\(type)", "amount_cents": \(100 + entryNumber * 7), \
                "occurred_at": "\(occurred.formatted(.iso8601))"}
                """
            let account = accounts[entryNumber % accounts.count]
            let status = (try? await post("/v1/accounts/\(account)/entries", json, key: "e\(entryNumber)"))?.status
            if status == 201 { accepted += 1 } else { failed += 1 }
        }
        return (accepted, failed)
    }

    func record(_ count: Int, on accounts: [String]) async throws {
        let (accepted, _) = try await recordCounting(count, on: accounts)
        try #require(accepted == count)
    }

    // MARK: Comparing the balances with the ledger

    struct Day: Hashable, CustomStringConvertible {
        var credits: Int64
        var debits: Int64
        var count: Int64
        var description: String { "+\(credits) −\(debits) (\(count))" }
    }

    /// The ledger's own sums per account and business day.
    func ledgerDays() async throws -> [String: Day] {
        try await ledgerStore.read { db in
            try await db.raw(
                """
                SELECT account_id, business_date,
                    CAST(SUM(CASE WHEN entry_type = 'credit' THEN amount_cents ELSE 0 END) AS BIGINT) AS credits,
                    CAST(SUM(CASE WHEN entry_type = 'debit' THEN amount_cents ELSE 0 END) AS BIGINT) AS debits,
                    COUNT(*) AS n
                FROM ledger_entries GROUP BY account_id, business_date
                """
            ).all().reduce(into: [:]) { days, row in
                days[
                    "\(try row.decode(column: "account_id", as: String.self)) \(try row.decode(column: "business_date", as: String.self))"
                ] =
                    Day(
                        credits: try row.decode(column: "credits", as: Int64.self),
                        debits: try row.decode(column: "debits", as: Int64.self),
                        count: try row.decode(column: "n", as: Int64.self))
            }
        }
    }

    /// The consolidation's days; also checks each day's arithmetic and chain (throws if broken).
    func consolidatedDays() async throws -> [String: Day] {
        let rows = try await consolidationStore.read { db in
            try await db.raw(
                """
                SELECT account_id, business_date, opening_cents, credits_cents, debits_cents, closing_cents, entry_count
                FROM daily_balances ORDER BY account_id, business_date
                """
            ).all()
        }
        var days: [String: Day] = [:]
        var previous: (account: String, closing: Int64)?
        for row in rows {
            let account = try row.decode(column: "account_id", as: String.self)
            let opening = try row.decode(column: "opening_cents", as: Int64.self)
            let credits = try row.decode(column: "credits_cents", as: Int64.self)
            let debits = try row.decode(column: "debits_cents", as: Int64.self)
            let closing = try row.decode(column: "closing_cents", as: Int64.self)
            #expect(closing == opening + credits - debits)
            #expect(opening == (previous?.account == account ? previous!.closing : 0), "each day opens at the last closing")
            previous = (account, closing)
            days["\(account) \(try row.decode(column: "business_date", as: String.self))"] = Day(
                credits: credits, debits: debits, count: try row.decode(column: "entry_count", as: Int64.self))
        }
        return days
    }

    func differences() async throws -> String {
        let ledger = try await ledgerDays()
        let consolidated = try await consolidatedDays()
        return Set(ledger.keys).union(consolidated.keys).sorted().compactMap { key in
            ledger[key] == consolidated[key]
                ? nil : "\(key): ledger \(ledger[key]?.description ?? "-") balances \(consolidated[key]?.description ?? "-")"
        }.joined(separator: "; ")
    }

    /// Waits until every day equals the ledger's, and every account's freshness reaches its last entry.
    func converged(timeout: Duration = .seconds(60)) async throws -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            guard let ledger = try? await self.ledgerDays(), let consolidated = try? await self.consolidatedDays(),
                ledger == consolidated, let fresh = try? await self.freshnessIsComplete()
            else { return false }
            return fresh
        }
    }

    func expectConverged(_ when: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        if try await !converged() {
            Issue.record("balances differ from the ledger \(when): \(try await differences())", sourceLocation: sourceLocation)
        }
    }

    func freshnessIsComplete() async throws -> Bool {
        let last = try await ledgerStore.read { db in
            try await db.raw("SELECT id, next_sequence - 1 AS last FROM ledger_accounts").all().map {
                (try $0.decode(column: "id", as: String.self), try $0.decode(column: "last", as: Int64.self))
            }
        }
        for (account, sequence) in last {
            let complete = try await consolidationStore.read { db in
                try await db.raw(
                    "SELECT complete_through, pending FROM consolidation_accounts WHERE account_id = \(bind: account)"
                ).first().map {
                    (try $0.decode(column: "complete_through", as: Int64.self), try $0.decode(column: "pending", as: Int64.self))
                }
            }
            guard let complete, complete.0 == sequence, complete.1 == 0 else { return false }
        }
        return true
    }

    func consolidatedCount() async throws -> Int { try await count("consolidation_entries", in: consolidationStore) }

    func count(_ table: String, in store: any SQLStore) async throws -> Int {
        try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first()?.decode(column: "n", as: Int.self) ?? -1
        }
    }
}
