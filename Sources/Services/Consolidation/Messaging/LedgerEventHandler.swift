import Contracts
import Foundation
public import MalhaCore
public import MalhaMessaging
public import MalhaStore
import Metrics

/// Applies the ledger's events to the daily balances, in the consumer's transaction (with the
/// inbox record). An entry is applied once per entry id, whichever message carries it; after
/// the commit the account's cached balances are invalidated.
public struct LedgerEventHandler: Sendable {
    /// Without the bus's per-key order: the projection does not depend on the order (sums commute,
    /// freshness follows the ledger's own sequence, an entry before its account's opening creates
    /// the row), so an account's entries need not wait for one another on the bus. They still
    /// serialize on the account's row while applied.
    public static let subscription = Subscription(
        name: "consolidation.ledger", types: [LedgerAccountOpened.type, LedgerEntryRecorded.type],
        retry: RetryPolicy(base: .milliseconds(100), cap: .seconds(30), maxAttempts: 10), concurrency: 16,
        keyOrder: false)

    let backend: SQLBackendKind
    let clock: any WallClock
    let cache: BalanceCache
    let lag: Timer

    public init(
        backend: SQLBackendKind, cache: BalanceCache, clock: any WallClock = SystemWallClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.backend = backend
        self.cache = cache
        self.clock = clock
        self.lag = Timer(label: "consolidation_entry_lag_seconds", factory: metricsFactory)
    }

    public func handle(_ envelope: Envelope, _ context: HandlerContext) async throws {
        let now = clock.now()
        let accountID: String
        switch envelope.type {
        case LedgerAccountOpened.type:
            let event = try envelope.decode(LedgerAccountOpened.self)
            try await Projection.accountOpened(event, now: now, in: context.database)
            accountID = event.accountID
        case LedgerEntryRecorded.type:
            let event = try envelope.decode(LedgerEntryRecorded.self)
            guard try await Projection.apply(ProjectedEntry(event), now: now, backend: backend, in: context.database)
            else { return }
            accountID = event.accountID
            // From the ledger's commit to this one: how far behind the balances run.
            lag.recordNanoseconds(max(0, Int64(now.timeIntervalSince(event.recordedAt) * 1e9)))
        default:
            throw InvalidMessage("the consolidation does not handle \(envelope.type)")
        }
        let cache = cache
        context.afterCommit { await cache.invalidate(accountID: accountID) }
    }
}
