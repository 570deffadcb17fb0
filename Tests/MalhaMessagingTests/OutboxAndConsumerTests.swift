import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import Prometheus
import SQLKit
import Synchronization
import Testing

struct Note: MessageContract {
    static let type = "test.note.v1"
    var n: Int
}

/// A real transport that refuses to publish while `down` is set (a broker outage).
final class FlakyTransport: MessageTransport {
    let base: SQLTransport
    private let isDown = Atomic<Bool>(false)
    init(_ base: SQLTransport) { self.base = base }
    var down: Bool {
        get { isDown.load(ordering: .relaxed) }
        set { isDown.store(newValue, ordering: .relaxed) }
    }
    struct Outage: Error {}
    func bind(subscription: String, to types: Set<String>) async throws {
        try await base.bind(subscription: subscription, to: types)
    }
    func publish(_ envelopes: [Envelope]) async throws {
        if down { throw Outage() }
        try await base.publish(envelopes)
    }
    func receive(from subscription: String, limit: Int, lease: Duration) async throws -> [Delivery] {
        try await base.receive(from: subscription, limit: limit, lease: lease)
    }
    func waitForMessages(on subscription: String, timeout: Duration) async {
        await base.waitForMessages(on: subscription, timeout: timeout)
    }
    func acknowledge(_ delivery: Delivery) async throws -> Bool { try await base.acknowledge(delivery) }
    func retry(_ delivery: Delivery, after delay: Duration, error: String) async throws -> Bool {
        try await base.retry(delivery, after: delay, error: error)
    }
    func deadLetter(_ delivery: Delivery, error: String) async throws -> Bool {
        try await base.deadLetter(delivery, error: error)
    }
}

/// Two databases per run: the service's (outbox, inbox, effects) and the bus's own.
func withServiceAndBus(_ body: (any SQLStore, any SQLStore) async throws -> Void) async throws {
    try await TestDatabases.withEachBackend(stores: 2) { try await body($0[0], $0[1]) }
}

let testLogger: Logger = {
    var logger = Logger(label: "test.bus")
    logger.logLevel = .critical
    return logger
}()

func prepareService(_ store: any SQLStore) async throws {
    try await Outbox.migrate(store, logger: testLogger)
    try await Inbox.migrate(store, logger: testLogger)
    try await store.transaction { db in
        try await db.raw("CREATE TABLE notes (n INTEGER NOT NULL)").run()
        try await db.raw("CREATE TABLE effects (message_id TEXT NOT NULL, n INTEGER NOT NULL)").run()
    }
}

struct FirstAttemptFails: Error {}

@Suite("Outbox and consumer runner")
struct OutboxAndConsumerTests {
    @Test func outboxRowsLeaveOnlyWhenCommittedInOrderAndSurviveAnOutage() async throws {
        try await withServiceAndBus { service, bus in
            try await prepareService(service)
            let clock = ManualClock(Date())
            let transport = FlakyTransport(try await SQLTransport.open(store: bus, clock: clock, logger: testLogger))
            try await transport.bind(subscription: "s", to: [Note.type])
            let relay = OutboxRelay(
                store: service, transport: transport, service: "test", batchSize: 4, clock: clock, logger: testLogger)

            // A rolled-back transaction publishes nothing: the outbox row goes with the change.
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await service.transaction { db in
                    try await db.raw("INSERT INTO notes (n) VALUES (0)").run()
                    try await Outbox.enqueue(try Envelope(Note(n: 0), source: "test", at: clock.now()), in: db)
                    throw Abort()
                }
            }
            #expect(try await relay.relayOnce() == 0)

            for n in 1...10 {
                try await service.transaction { db in
                    try await db.raw("INSERT INTO notes (n) VALUES (\(bind: n))").run()
                    try await Outbox.enqueue(try Envelope(Note(n: n), source: "test", at: clock.now(), key: "k"), in: db)
                }
            }
            transport.down = true
            await #expect(throws: FlakyTransport.Outage.self) { try await relay.relayOnce() }
            #expect(try await relay.pending() == 10, "an outage keeps every row")
            transport.down = false
            while try await relay.relayOnce() > 0 {}
            #expect(try await relay.pending() == 0)
            var received: [Int] = []
            while true {
                let batch = try await transport.receive(from: "s", limit: 100, lease: .seconds(30))
                if batch.isEmpty { break }
                for delivery in batch {
                    received.append(try delivery.envelope.decode(Note.self).n)
                    try await transport.acknowledge(delivery)
                }
            }
            #expect(received == Array(1...10), "in commit order, none lost, none twice")
        }
    }

    /// SQLite's group commit lets a transaction see the writes grouped before it: a relay pass in
    /// the group would publish an outbox row that the group then rolls back. It reads committed rows.
    @Test func relayNeverPublishesWhatItsCommitGroupRollsBack() async throws {
        let service = try await TestDatabases.sqlite()
        let bus = try await TestDatabases.sqlite()
        defer {
            Task {
                await service.close(); await bus.close()
            }
        }
        try await prepareService(service)
        let transport = try await SQLTransport.open(store: bus, logger: testLogger)
        try await transport.bind(subscription: "s", to: [Note.type])
        let relay = OutboxRelay(store: service, transport: transport, service: "test", logger: testLogger)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await service.transaction { db in
                try await Outbox.enqueue(try Envelope(Note(n: 1), source: "test", at: Date()), in: db)
                for await _ in gate { break }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let pass = Task { try await relay.relayOnce() }
        try await Task.sleep(for: .milliseconds(100))
        // Queued behind the holder (and the relay, had it queued for the writer): wrecks the group.
        let wrecker = Task { try await service.transaction { db in try await db.raw("ROLLBACK").run() } }
        try await Task.sleep(for: .milliseconds(100))
        open.finish()
        await #expect(throws: (any Error).self) { try await holder.value }
        _ = try? await pass.value
        _ = try? await wrecker.value
        #expect(try await relay.pending() == 0, "the row rolled back with its group")
        #expect(try await transport.receive(from: "s", limit: 10, lease: .seconds(30)).isEmpty, "nothing was published")
    }

    @Test func runnerAppliesEveryMessageOnceWithConcurrencyAndRetries() async throws {
        try await withServiceAndBus { service, bus in
            try await prepareService(service)
            let transport = try await SQLTransport.open(store: bus, logger: testLogger)
            let relay = OutboxRelay(
                store: service, transport: transport, service: "test", pollInterval: .milliseconds(20), logger: testLogger)
            let failedOnce = Mutex<Set<Int>>([])
            let runner = ConsumerRunner(
                subscription: Subscription(
                    name: "notes", types: [Note.type],
                    retry: RetryPolicy(base: .milliseconds(5), cap: .milliseconds(20), maxAttempts: 5),
                    concurrency: 4),
                transport: transport, store: service, logger: testLogger, idleWait: .milliseconds(200)
            ) { envelope, context in
                let note = try envelope.decode(Note.self)
                try await context.database.raw(
                    "INSERT INTO effects (message_id, n) VALUES (\(bind: envelope.id), \(bind: note.n))"
                ).run()
                // Every third message fails its first attempt: retried, then applied once.
                if note.n % 3 == 0, failedOnce.withLock({ $0.insert(note.n).inserted }) { throw FirstAttemptFails() }
            }
            try await transport.bind(subscription: "notes", to: [Note.type])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await relay.run() }
                group.addTask { try await runner.run() }
                for n in 1...60 {
                    try await service.transaction { db in
                        try await Outbox.enqueue(try Envelope(Note(n: n), source: "test", at: Date()), in: db)
                    }
                    relay.wake()
                }
                // Generous: every message is five fsynced commits, and the whole suite shares two cores.
                let done = await eventually(timeout: .seconds(120)) {
                    (try? await service.read { db in
                        try await db.raw("SELECT COUNT(*) AS n FROM effects").first()?.decode(column: "n", as: Int.self)
                    }) == 60
                }
                #expect(done, "every message applied")
                // The acknowledgement follows each commit: wait for the queue to drain before stopping.
                let drained = await eventually(timeout: .seconds(60)) {
                    (try? await transport.depths()["notes", default: 0]) == 0
                }
                #expect(drained, "nothing left on the queue")
                group.cancelAll()
            }
            let rows = try await service.read { db in
                try await db.raw("SELECT n, COUNT(*) AS c FROM effects GROUP BY n").all()
            }
            #expect(rows.count == 60)
            #expect(try rows.allSatisfy { try $0.decode(column: "c", as: Int.self) == 1 }, "none applied twice")
            #expect(try await transport.deadLetterCounts().isEmpty)
        }
    }
}

@Suite("Bus metrics")
struct BusMetricsTests {
    @Test func samplerReportsDepthAndDeadLettersAndZeroWhenEmptied() async throws {
        try await TestDatabases.withSQLite { store in try await Self.samplerReports(store) }
    }

    static func samplerReports(_ store: SQLiteStore) async throws {
        let clock = ManualClock(Date())
        let transport = try await SQLTransport.open(store: store, clock: clock, logger: testLogger)
        try await transport.bind(subscription: "s", to: [Note.type])
        try await transport.publish(try (1...3).map { try Envelope(Note(n: $0), source: "t", at: clock.now()) })
        let first = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
        try await transport.deadLetter(first[0], error: "x")
        let registry = PrometheusCollectorRegistry()
        let sampler = BusMetricsSampler(
            statistics: transport, logger: testLogger, metricsFactory: PrometheusMetricsFactory(registry: registry))
        func exposition() -> String {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        func value(_ name: String, _ text: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix("\(name){subscription=\"s\"}") }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
        let known = await sampler.sampleOnce()
        #expect(value("bus_queue_depth", exposition()) == 2)
        #expect(value("bus_dead_letters", exposition()) == 1)
        for delivery in try await transport.receive(from: "s", limit: 10, lease: .seconds(30)) {
            try await transport.acknowledge(delivery)
        }
        _ = try await transport.purge(subscription: "s", ids: nil)
        await sampler.sampleOnce(known: known)
        #expect(value("bus_queue_depth", exposition()) == 0)
        #expect(value("bus_dead_letters", exposition()) == 0)
    }
}
