public import Foundation
public import Logging
public import MalhaCore
public import MalhaMessaging
public import MalhaStore
import PostgresNIO
import SQLKit
public import ServiceLifecycle
import Synchronization

/// The bus on a SQL database of its own: SQLite embedded (one file, the writer lock serialises
/// receivers) or PostgreSQL (`FOR UPDATE SKIP LOCKED` for competing consumers, `LISTEN/NOTIFY`
/// wake-ups across processes).
///
/// One row per (subscription, message) in `bus_messages`; a receive leases rows by stamping
/// `leased_until` and a fresh `lease_token`, and only the token holder can settle them. Time comes
/// from the injected clock, so lease expiry and retry delays are testable without sleeping.
///
/// Run it as a `Service` (its `run()` migrates the bus tables, then listens for PostgreSQL
/// notifications; on SQLite it only waits for shutdown); publishes in this process wake local
/// receivers directly.
public final class SQLTransport: MessageTransport, DeadLetterStore, BusStatistics, Service {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "bus") { backend in
            let seq = backend == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                """
                CREATE TABLE bus_bindings (
                    subscription TEXT NOT NULL, message_type TEXT NOT NULL, PRIMARY KEY (subscription, message_type))
                """,
                """
                CREATE TABLE bus_messages (
                    seq \(seq),
                    subscription TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    message_type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    occurred_at BIGINT NOT NULL,
                    correlation_id TEXT NOT NULL,
                    causation_id TEXT,
                    traceparent TEXT,
                    message_key TEXT,
                    payload TEXT NOT NULL,
                    deliveries INTEGER NOT NULL DEFAULT 0,
                    available_at BIGINT NOT NULL,
                    leased_until BIGINT,
                    lease_token TEXT,
                    history TEXT NOT NULL,
                    published_at BIGINT NOT NULL,
                    UNIQUE (subscription, message_id))
                """,
                "CREATE INDEX bus_messages_ready ON bus_messages (subscription, available_at, seq)",
                "CREATE INDEX bus_messages_keys ON bus_messages (subscription, message_key, seq)",
                """
                CREATE TABLE bus_dead_letters (
                    subscription TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    message_type TEXT NOT NULL,
                    source TEXT NOT NULL,
                    occurred_at BIGINT NOT NULL,
                    correlation_id TEXT NOT NULL,
                    causation_id TEXT,
                    traceparent TEXT,
                    message_key TEXT,
                    payload TEXT NOT NULL,
                    attempts TEXT NOT NULL,
                    dead_at BIGINT NOT NULL,
                    PRIMARY KEY (subscription, message_id))
                """,
                "CREATE INDEX bus_dead_letters_order ON bus_dead_letters (subscription, dead_at, message_id)",
            ]
        },
        // The publisher's signature travels with the message, into the dead letters and back out
        // on a replay (a replayed message is verified again by its consumer).
        Migration(
            version: 2, name: "bus signatures",
            [
                "ALTER TABLE bus_messages ADD COLUMN signature TEXT",
                "ALTER TABLE bus_dead_letters ADD COLUMN signature TEXT",
            ]),
    ]

    static let notifyChannel = "malha_bus"
    /// `Envelope.sqlColumns` of the VALUES list `v` a batch publish inserts from.
    static let valuesColumns = Envelope.sqlColumns.split(separator: ",")
        .map { "v." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
    /// Names this instance in its notifications, so that it skips its own (it woke its local
    /// receivers already when it published).
    let instance = UUID().uuidString.lowercased()

    /// A notification's payload: the publishing instance and the types it published ("*": any).
    /// PostgreSQL caps a payload below 8,000 bytes; a longer list becomes "*".
    func notification(types: Set<String>?) -> String {
        let list = types.map { $0.sorted().joined(separator: ",") } ?? "*"
        return instance + " " + (list.utf8.count > 7_000 ? "*" : list)
    }

    /// Wakes the local receivers a notification concerns.
    func received(notification payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[1] != "*" else { return signalAll() }
        if parts[0] == instance { return }
        signal(typesPublished: Set(parts[1].split(separator: ",").map(String.init)))
    }

    let store: any SQLStore
    let postgres: PostgresClient?
    let clock: any WallClock
    let logger: Logger
    /// One wake-up per subscription. A single shared signal loses wake-ups: it resumes whoever
    /// waits right now, and a consumer between its empty query and its wait then sleeps the whole
    /// idle interval — a second per hop under load. Per subscription, a signal that finds nobody
    /// waiting is kept for that subscription's next wait.
    private let wakeUps = Mutex<[String: WakeUpSignal]>([:])

    func wakeUp(_ subscription: String) -> WakeUpSignal {
        wakeUps.withLock { signals in
            if let signal = signals[subscription] { return signal }
            let signal = WakeUpSignal()
            signals[subscription] = signal
            return signal
        }
    }

    /// The types each subscription bound through this instance took: a publish here wakes only the
    /// local receivers of what it published (other processes hear of it by NOTIFY, or by polling).
    private let localBindings = Mutex<[String: Set<String>]>([:])

    func signal(typesPublished types: Set<String>) {
        let subscriptions = localBindings.withLock { bindings in
            bindings.filter { !$0.value.isDisjoint(with: types) }.map(\.key)
        }
        for subscription in subscriptions { wakeUp(subscription).signal() }
    }

    /// Wakes every subscription's receivers (what changed is not known, or concerns several).
    func signalAll() {
        for signal in wakeUps.withLock({ Array($0.values) }) { signal.signal() }
    }

    /// `store` must already be migrated with `SQLTransport.migrations` (see `open`).
    public init(store: any SQLStore, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.store = store
        self.postgres = (store as? PostgresStore)?.client
        self.clock = clock
        self.logger = logger
    }

    /// Migrates `store` and returns a transport on it.
    public static func open(
        store: any SQLStore, clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws
        -> SQLTransport
    {
        try await Migrator.migrate(store, migrations, logger: logger)
        return SQLTransport(store: store, clock: clock, logger: logger)
    }

    // MARK: Service

    /// On PostgreSQL, listens for publishes from other processes and wakes local receivers;
    /// reconnects with backoff when the connection drops. Returns on graceful shutdown.
    /// Creates the bus tables when missing (idempotent; safe from several processes at once).
    public func migrate() async throws {
        try await Migrator.migrate(store, Self.migrations, logger: logger)
    }

    /// Migrates the bus (publishers and consumers retry until it is ready), then on PostgreSQL
    /// listens for notifications until shutdown.
    public func run() async throws {
        try await migrate()
        guard let postgres else {
            try? await gracefulShutdown()
            return
        }
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(5))
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            let error: (any Error)? = await cancelWhenGracefulShutdown {
                do {
                    try await postgres.withConnection { connection in
                        try await connection.listen(on: Self.notifyChannel) { notifications in
                            // Anything published while not listening is found by the next receive.
                            self.signalAll()
                            for try await notification in notifications { self.received(notification: notification.payload) }
                        }
                    }
                    return nil
                } catch {
                    return error
                }
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            if ContinuousClock.now - started > .seconds(10) { failures = 0 }
            logger.warning("bus notifications interrupted", metadata: ["error": "\(error.map { "\($0)" } ?? "ended")"])
            let delay = backoff.delay(attempt: failures)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            failures += 1
        }
    }

    // MARK: MessageTransport

    public func bind(subscription: String, to types: Set<String>) async throws {
        _ = wakeUp(subscription)  // from now on, publishes leave a wake-up for its receivers
        localBindings.withLock { $0[subscription, default: []].formUnion(types) }
        try await store.transaction { db in
            for type in types.sorted() {
                try await db.raw(
                    """
                    INSERT INTO bus_bindings (subscription, message_type) VALUES (\(bind: subscription), \(bind: type))
                    ON CONFLICT DO NOTHING
                    """
                ).run()
            }
        }
    }

    public func publish(_ envelopes: [Envelope]) async throws {
        guard !envelopes.isEmpty else { return }
        let now = clock.now().epochMilliseconds
        // One statement for the batch: one copy per (envelope, bound subscription), inserted in the
        // envelopes' order (their seq order is the delivery order); a copy a subscription still
        // holds is not duplicated.
        var insert = SQLQueryString("WITH v (ord, \(unsafeRaw: Envelope.sqlColumns)) AS (VALUES ")
        for (index, envelope) in envelopes.enumerated() {
            insert.appendInterpolation(unsafeRaw: index == 0 ? "(" : ", (")
            insert.appendInterpolation(bind: index)
            insert.appendInterpolation(unsafeRaw: ", ")
            insert.appendInterpolation(binds: envelope.sqlBinds)
            insert.appendInterpolation(unsafeRaw: ")")
        }
        insert.appendInterpolation(
            unsafeRaw: """
                ) INSERT INTO bus_messages (subscription, \(Envelope.sqlColumns), deliveries, available_at, history,
                    published_at)
                SELECT b.subscription, \(Self.valuesColumns), 0,\u{20}
                """)
        insert.appendInterpolation(bind: now)
        insert.appendInterpolation(unsafeRaw: ", '[]', ")
        insert.appendInterpolation(bind: now)
        insert.appendInterpolation(
            unsafeRaw: """
                 FROM v JOIN bus_bindings b ON b.message_type = v.message_type WHERE true ORDER BY v.ord, b.subscription
                ON CONFLICT (subscription, message_id) DO NOTHING
                """)
        try await store.transaction { db in
            try await db.raw(insert).run()
            if store.backend == .postgres {
                let payload = notification(types: Set(envelopes.map(\.type)))
                try await db.raw("SELECT pg_notify(\(bind: Self.notifyChannel), \(bind: payload))").run()
            }
        }
        signal(typesPublished: Set(envelopes.map(\.type)))
    }

    public func receive(from subscription: String, limit: Int, lease: Duration) async throws -> [Delivery] {
        try await receive(from: subscription, limit: limit, lease: lease, keyOrder: true)
    }

    public func receive(
        from subscription: String, limit: Int, lease: Duration, keyOrder: Bool
    ) async throws
        -> [Delivery]
    {
        let now = clock.now().epochMilliseconds
        let leasedUntil = now + lease.milliseconds
        let token = UUID().uuidString.lowercased()
        let lock = RowLock.forUpdateSkipLocked.clause(for: store.backend)
        // Most polls find nothing: ask with a read first, so an empty poll never takes the writer
        // (on SQLite the bus's one writer is shared by every publish, receive and acknowledgement).
        let ready = try await store.read { db in
            try await db.raw(
                """
                SELECT 1 AS ready FROM bus_messages
                WHERE subscription = \(bind: subscription) AND available_at <= \(bind: now)
                  AND (leased_until IS NULL OR leased_until <= \(bind: now))
                LIMIT 1
                """
            ).first() != nil
        }
        guard ready else { return [] }
        let rows = try await store.transaction { db in
            try await db.raw(
                """
                UPDATE bus_messages SET leased_until = \(bind: leasedUntil), lease_token = \(bind: token),
                    deliveries = deliveries + 1
                WHERE seq IN (
                    SELECT m.seq FROM bus_messages m
                    WHERE m.subscription = \(bind: subscription) AND m.available_at <= \(bind: now)
                      AND (m.leased_until IS NULL OR m.leased_until <= \(bind: now))
                      \(unsafeRaw: keyOrder ? Self.headOfItsKey : "")
                    ORDER BY m.seq LIMIT \(bind: max(1, limit)) \(unsafeRaw: lock))
                RETURNING seq, \(unsafeRaw: Envelope.sqlColumns), deliveries, history
                """
            ).all()
        }
        return try rows.map { row in
            let seq = try row.decode(column: "seq", as: Int64.self)
            var envelope = try Envelope(sqlRow: row)
            envelope.attempt = try row.decode(column: "deliveries", as: Int.self)
            let history = try Self.attempts(try row.decode(column: "history", as: String.self))
            return (seq, Delivery(subscription: subscription, envelope: envelope, receipt: "\(seq):\(token)", history: history))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A keyed message is deliverable only when no older message with its key is left (waiting,
    /// leased or retrying): one at a time per key, in publish order.
    static let headOfItsKey = """
        AND (m.message_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM bus_messages e
            WHERE e.subscription = m.subscription AND e.message_key = m.message_key AND e.seq < m.seq))
        """

    public func waitForMessages(on subscription: String, timeout: Duration) async {
        await wakeUp(subscription).wait(timeout: timeout)
    }

    @discardableResult
    public func acknowledge(_ delivery: Delivery) async throws -> Bool {
        try await acknowledge([delivery]) == 1
    }

    @discardableResult
    public func acknowledge(_ deliveries: [Delivery]) async throws -> Int {
        guard !deliveries.isEmpty else { return 0 }
        var delete = SQLQueryString("DELETE FROM bus_messages WHERE (seq, lease_token) IN (VALUES ")
        for (index, delivery) in deliveries.enumerated() {
            let (seq, token) = try Self.parse(delivery.receipt)
            delete.appendInterpolation(unsafeRaw: index == 0 ? "(" : ", (")
            delete.appendInterpolation(bind: seq)
            delete.appendInterpolation(unsafeRaw: ", ")
            delete.appendInterpolation(bind: token)
            delete.appendInterpolation(unsafeRaw: ")")
        }
        delete.appendInterpolation(unsafeRaw: ") RETURNING seq")
        let rows = try await store.transaction { db in try await db.raw(delete).all() }
        // The next message of each key may now be deliverable.
        for subscription in Set(deliveries.map(\.subscription)) { wakeUp(subscription).signal() }
        return rows.count
    }

    @discardableResult
    public func retry(_ delivery: Delivery, after delay: Duration, error: String) async throws -> Bool {
        let (seq, token) = try Self.parse(delivery.receipt)
        let now = clock.now()
        let availableAt = now.adding(delay).epochMilliseconds
        let history = delivery.history + [AttemptRecord(attempt: delivery.envelope.attempt, at: now, error: error)]
        let rows = try await store.transaction { db in
            try await db.raw(
                """
                UPDATE bus_messages SET available_at = \(bind: availableAt), leased_until = NULL, lease_token = NULL,
                    history = \(bind: try Self.json(history))
                WHERE seq = \(bind: seq) AND lease_token = \(bind: token) RETURNING seq
                """
            ).all()
        }
        return !rows.isEmpty
    }

    @discardableResult
    public func deadLetter(_ delivery: Delivery, error: String) async throws -> Bool {
        let (seq, token) = try Self.parse(delivery.receipt)
        let now = clock.now()
        let attempts = delivery.history + [AttemptRecord(attempt: delivery.envelope.attempt, at: now, error: error)]
        let moved = try await store.transaction { db -> Bool in
            let rows = try await db.raw(
                """
                DELETE FROM bus_messages WHERE seq = \(bind: seq) AND lease_token = \(bind: token)
                RETURNING \(unsafeRaw: Envelope.sqlColumns)
                """
            ).all()
            guard let row = rows.first else { return false }
            let envelope = try Envelope(sqlRow: row)
            try await db.raw(
                """
                INSERT INTO bus_dead_letters (subscription, \(unsafeRaw: Envelope.sqlColumns), attempts, dead_at)
                VALUES (\(bind: delivery.subscription), \(binds: envelope.sqlBinds), \(bind: try Self.json(attempts)),
                    \(bind: now.epochMilliseconds))
                ON CONFLICT (subscription, message_id) DO UPDATE SET attempts = excluded.attempts, dead_at = excluded.dead_at
                """
            ).run()
            return true
        }
        if moved { wakeUp(delivery.subscription).signal() }
        return moved
    }

    // MARK: DeadLetterStore

    static let deadLetterColumns = "subscription, \(Envelope.sqlColumns), attempts, dead_at"

    public func deadLetters(subscription: String?, limit: Int, after: String?) async throws -> [DeadLetter] {
        var query = SQLQueryString("SELECT \(unsafeRaw: Self.deadLetterColumns) FROM bus_dead_letters WHERE 1 = 1")
        if let subscription {
            query.appendInterpolation(unsafeRaw: " AND subscription = "); query.appendInterpolation(bind: subscription)
        }
        if let after, let cursor = try await cursor(after: after, subscription: subscription) {
            query.appendInterpolation(unsafeRaw: " AND (dead_at > ")
            query.appendInterpolation(bind: cursor.deadAt)
            query.appendInterpolation(unsafeRaw: " OR (dead_at = ")
            query.appendInterpolation(bind: cursor.deadAt)
            query.appendInterpolation(unsafeRaw: " AND message_id > ")
            query.appendInterpolation(bind: after)
            query.appendInterpolation(unsafeRaw: "))")
        }
        query.appendInterpolation(unsafeRaw: " ORDER BY dead_at, message_id LIMIT ")
        query.appendInterpolation(bind: max(1, limit))
        let rows = try await store.read { db in try await db.raw(query).all() }
        return try rows.map(Self.deadLetter(from:))
    }

    private func cursor(after id: String, subscription: String?) async throws -> (deadAt: Int64, id: String)? {
        var query = SQLQueryString("SELECT dead_at FROM bus_dead_letters WHERE message_id = \(bind: id)")
        if let subscription {
            query.appendInterpolation(unsafeRaw: " AND subscription = "); query.appendInterpolation(bind: subscription)
        }
        let row = try await store.read { db in try await db.raw(query).first() }
        return try row.map { (try $0.decode(column: "dead_at", as: Int64.self), id) }
    }

    public func deadLetter(id: String, subscription: String) async throws -> DeadLetter? {
        let row = try await store.read { db in
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.deadLetterColumns) FROM bus_dead_letters
                WHERE subscription = \(bind: subscription) AND message_id = \(bind: id)
                """
            ).first()
        }
        return try row.map(Self.deadLetter(from:))
    }

    public func replay(subscription: String, ids: [String]?) async throws -> Int {
        let now = clock.now().epochMilliseconds
        let count = try await store.transaction { db -> Int in
            let rows = try await db.raw(
                """
                SELECT \(unsafeRaw: Self.deadLetterColumns) FROM bus_dead_letters WHERE subscription = \(bind: subscription)
                ORDER BY dead_at, message_id
                """
            ).all()
            let wanted = ids.map(Set.init)
            var replayed = 0
            for row in rows {
                let letter = try Self.deadLetter(from: row)
                if let wanted, !wanted.contains(letter.envelope.id) { continue }
                let envelope = letter.envelope
                try await db.raw(
                    """
                    INSERT INTO bus_messages (subscription, \(unsafeRaw: Envelope.sqlColumns), deliveries, available_at,
                        history, published_at)
                    VALUES (\(bind: subscription), \(binds: envelope.sqlBinds), 0, \(bind: now),
                        \(bind: try Self.json(letter.attempts)), \(bind: now))
                    ON CONFLICT (subscription, message_id) DO NOTHING
                    """
                ).run()
                try await db.raw(
                    """
                    DELETE FROM bus_dead_letters WHERE subscription = \(bind: subscription) AND message_id = \(bind: envelope.id)
                    """
                ).run()
                replayed += 1
            }
            return replayed
        }
        if count > 0 {
            if store.backend == .postgres {
                let payload = notification(types: nil)
                try await store.read { db in
                    try await db.raw("SELECT pg_notify(\(bind: Self.notifyChannel), \(bind: payload))").run()
                }
            }
            signalAll()
        }
        return count
    }

    public func purge(subscription: String, ids: [String]?) async throws -> Int {
        try await store.transaction { db -> Int in
            if let ids {
                var purged = 0
                for id in Set(ids) {
                    purged += try await db.raw(
                        """
                        DELETE FROM bus_dead_letters WHERE subscription = \(bind: subscription) AND message_id = \(bind: id)
                        RETURNING message_id
                        """
                    ).all().count
                }
                return purged
            }
            return try await db.raw(
                "DELETE FROM bus_dead_letters WHERE subscription = \(bind: subscription) RETURNING message_id"
            ).all().count
        }
    }

    public func deadLetterCounts() async throws -> [String: Int] {
        try await countsPerSubscription(in: "bus_dead_letters")
    }

    /// Messages waiting (or leased) per subscription: the queue-depth metric.
    public func depths() async throws -> [String: Int] {
        try await countsPerSubscription(in: "bus_messages")
    }

    public func oldestWaiting() async throws -> [String: Date] {
        let rows = try await store.read { db in
            try await db.raw("SELECT subscription, MIN(occurred_at) AS oldest FROM bus_messages GROUP BY subscription").all()
        }
        var oldest: [String: Date] = [:]
        for row in rows {
            oldest[try row.decode(column: "subscription", as: String.self)] = Date(
                epochMilliseconds: try row.decode(column: "oldest", as: Int64.self))
        }
        return oldest
    }

    private func countsPerSubscription(in table: String) async throws -> [String: Int] {
        let rows = try await store.read { db in
            try await db.raw("SELECT subscription, COUNT(*) AS n FROM \(unsafeRaw: table) GROUP BY subscription").all()
        }
        var counts: [String: Int] = [:]
        for row in rows {
            counts[try row.decode(column: "subscription", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        return counts
    }

    // MARK: Rows

    struct BadReceipt: Error {}

    static func parse(_ receipt: String) throws -> (Int64, String) {
        let parts = receipt.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let seq = Int64(parts[0]) else { throw BadReceipt() }
        return (seq, String(parts[1]))
    }

    static func deadLetter(from row: any SQLRow) throws -> DeadLetter {
        DeadLetter(
            subscription: try row.decode(column: "subscription", as: String.self),
            envelope: try Envelope(sqlRow: row),
            attempts: try attempts(try row.decode(column: "attempts", as: String.self)),
            deadAt: Date(epochMilliseconds: try row.decode(column: "dead_at", as: Int64.self)))
    }

    static func attempts(_ json: String) throws -> [AttemptRecord] {
        try MessageCoding.decoder.decode([AttemptRecord].self, from: Data(json.utf8))
    }

    static func json(_ attempts: [AttemptRecord]) throws -> String {
        String(decoding: try MessageCoding.encoder.encode(attempts), as: UTF8.self)
    }
}
