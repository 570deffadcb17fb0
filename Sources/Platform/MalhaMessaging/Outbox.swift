public import Foundation
public import Logging
public import MalhaCore
public import MalhaStore
import Metrics
public import SQLKit
public import ServiceLifecycle

/// The transactional outbox: a service publishes by writing rows here in the same transaction as
/// its own change (no dual write), and `OutboxRelay` moves them to the transport afterwards.
public enum Outbox {
    public static let component = "outbox"

    public static let migrations: [Migration] = [
        Migration(version: 1, name: "outbox") { backend in
            let seq = backend == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                """
                CREATE TABLE outbox (
                    seq \(seq),
                    message_id TEXT NOT NULL UNIQUE,
                    message_type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    occurred_at BIGINT NOT NULL,
                    correlation_id TEXT NOT NULL,
                    causation_id TEXT,
                    traceparent TEXT,
                    message_key TEXT,
                    payload TEXT NOT NULL)
                """
            ]
        },
        // The relay signs as rows leave (see OutboxRelay); the column keeps the envelope's columns
        // the same in every table that holds one.
        Migration(version: 2, name: "outbox signature", ["ALTER TABLE outbox ADD COLUMN signature TEXT"]),
    ]

    /// Creates the outbox table in a service's database (its own migration table).
    public static func migrate(_ store: some SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, component: component, logger: logger)
    }

    /// Writes `envelopes` to the outbox inside the caller's transaction.
    public static func enqueue(_ envelopes: [Envelope], in db: any SQLDatabase) async throws {
        for envelope in envelopes {
            try await db.raw(
                "INSERT INTO outbox (\(unsafeRaw: Envelope.sqlColumns)) VALUES (\(binds: envelope.sqlBinds))"
            ).run()
        }
    }

    public static func enqueue(_ envelope: Envelope, in db: any SQLDatabase) async throws {
        try await enqueue([envelope], in: db)
    }
}

/// Moves outbox rows to the transport in batches, strictly in the order they were written.
///
/// A pass reads the oldest `batchSize` committed rows, publishes them, and deletes exactly those.
/// A failed publish leaves the rows (and their order) untouched and the relay retries with
/// backoff; a crash after publishing but before the delete commits republishes the batch, which
/// the transport and the consumers' inboxes deduplicate.
///
/// On SQLite the rows are read outside any write transaction: the store's group commit lets a
/// transaction see the uncommitted writes of the transactions grouped before it, and a relay must
/// never publish what might still roll back. Passes of one relay never overlap. On PostgreSQL the
/// pass is one transaction holding a transaction-scoped advisory lock, which keeps replicas from
/// relaying the same outbox at once (that could reorder rows of one key).
///
/// With a signer, every envelope is signed as it leaves: the bus is shared by every service, and
/// a consumer must be able to tell a payments event from one written into the bus by anyone else.
/// Signing here (rather than at enqueue) keeps the ECDSA work out of the business transaction, in
/// one place for every publisher.
public final class OutboxRelay: Service {
    let store: any SQLStore
    let transport: any MessageTransport
    let signer: (any EnvelopeSigner)?
    let batchSize: Int
    let pollInterval: Duration
    let backoff: Backoff
    let clock: any WallClock
    let logger: Logger
    let lag: Gauge
    let published: Counter
    let failures: Counter
    let wakeUps = WakeUpSignal()
    /// One pass at a time (the run loop, and tests or shutdown calling `relayOnce`).
    let passes = AsyncSemaphore(permits: 1)

    public init(
        store: any SQLStore, transport: any MessageTransport, signer: (any EnvelopeSigner)? = nil, service: String,
        batchSize: Int = 200,
        pollInterval: Duration = .milliseconds(200), backoff: Backoff = Backoff(base: .milliseconds(50), cap: .seconds(10)),
        clock: any WallClock = SystemWallClock(), logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.transport = transport
        self.signer = signer
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.backoff = backoff
        self.clock = clock
        self.logger = logger
        let dimensions = [("service", service)]
        lag = Gauge(label: "bus_outbox_lag_seconds", dimensions: dimensions, factory: metricsFactory)
        published = Counter(label: "bus_outbox_published_total", dimensions: dimensions, factory: metricsFactory)
        failures = Counter(label: "bus_outbox_publish_failures_total", dimensions: dimensions, factory: metricsFactory)
    }

    /// Tells the relay that rows were just committed (saves it waiting for the next poll).
    public func wake() { wakeUps.signal() }

    public func run() async throws {
        var consecutiveFailures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let moved = try await relayOnce()
                consecutiveFailures = 0
                if moved == batchSize { continue }  // more may be waiting
                await cancelWhenGracefulShutdown { await self.wakeUps.wait(timeout: self.pollInterval) }
            } catch {
                failures.increment()
                if consecutiveFailures == 0 || consecutiveFailures % 20 == 0 {
                    logger.warning("outbox relay failed; will retry", metadata: ["error": "\(error)"])
                }
                let delay = backoff.delay(attempt: consecutiveFailures)
                consecutiveFailures += 1
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        // Shutting down: one last pass so that what was committed leaves promptly (bounded).
        _ = try? await relayOnce()
    }

    /// One pass: publishes and deletes up to `batchSize` rows; returns how many.
    @discardableResult
    public func relayOnce() async throws -> Int {
        try await passes.acquire()
        defer { passes.release() }
        guard store.backend == .postgres else {
            let rows = try await store.read { db in try await self.oldestRows(db) }
            guard let (seqs, envelopes) = try publishable(rows) else { return 0 }
            try await transport.publish(try await signed(envelopes))
            try await store.transaction { db in try await Self.delete(seqs, db) }
            published.increment(by: envelopes.count)
            return envelopes.count
        }
        return try await store.transaction { db -> Int in
            let row = try await db.raw("SELECT pg_try_advisory_xact_lock(72617) AS locked").first()
            guard try row?.decode(column: "locked", as: Bool.self) == true else { return 0 }
            guard let (seqs, envelopes) = try self.publishable(try await self.oldestRows(db)) else { return 0 }
            try await self.transport.publish(try await self.signed(envelopes))
            try await Self.delete(seqs, db)
            self.published.increment(by: envelopes.count)
            return envelopes.count
        }
    }

    /// The envelopes as they go out: signed when the relay has a signer (one already signed is kept).
    private func signed(_ envelopes: [Envelope]) async throws -> [Envelope] {
        guard let signer else { return envelopes }
        var signed: [Envelope] = []
        signed.reserveCapacity(envelopes.count)
        for envelope in envelopes { signed.append(envelope.signature == nil ? try await signer.sign(envelope) : envelope) }
        return signed
    }

    private func oldestRows(_ db: any SQLDatabase) async throws -> [any SQLRow] {
        try await db.raw(
            "SELECT seq, \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq LIMIT \(bind: batchSize)"
        ).all()
    }

    /// The rows' sequence numbers and envelopes (nil when there are none), recording the lag.
    private func publishable(_ rows: [any SQLRow]) throws -> ([Int64], [Envelope])? {
        guard !rows.isEmpty else {
            lag.record(0)
            return nil
        }
        let seqs = try rows.map { try $0.decode(column: "seq", as: Int64.self) }
        let envelopes = try rows.map(Envelope.init(sqlRow:))
        lag.record(max(0, clock.now().timeIntervalSince(envelopes[0].occurredAt)))
        return (seqs, envelopes)
    }

    /// Deletes exactly the rows published: on PostgreSQL a row with a smaller seq may commit later.
    private static func delete(_ seqs: [Int64], _ db: any SQLDatabase) async throws {
        var delete = SQLQueryString("DELETE FROM outbox WHERE seq IN (")
        for (index, seq) in seqs.enumerated() {
            if index > 0 { delete.appendInterpolation(unsafeRaw: ", ") }
            delete.appendInterpolation(bind: seq)
        }
        delete.appendInterpolation(unsafeRaw: ")")
        try await db.raw(delete).run()
    }

    /// Rows waiting in the outbox.
    public func pending() async throws -> Int {
        try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM outbox").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }
}
