import ArgumentParser
import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import SQLKit
import Synchronization

/// `malha-bench bench …`: measurements of platform parts in this process, without HTTP.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure platform parts in-process (the HTTP load tools are under `malha-bench load`).",
        subcommands: [BenchBus.self])
}

/// The bus end to end: producers write a row and an outbox message in one transaction, the relay
/// moves the messages to the SQL transport, a consumer applies each one (its inbox record and an
/// effect row in one transaction) and acknowledges it. Reports messages per second, the time from
/// the producer's commit to the consumer's effect, and CPU per message; side by side, the same
/// producer transactions with the effect written directly (no bus): the ceiling of the databases.
struct BenchBus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "Messages per second through outbox → transport → inbox, and the direct reference.")

    @Option(help: "Messages to send.") var messages = 20_000
    @Option(help: "Concurrent producer transactions.") var producers = 32
    @Option(help: "The consumer's concurrency (messages handled at once).") var concurrency = 32
    @Option(help: "PostgreSQL server for the three databases (producer, consumer, bus); SQLite files when absent.")
    var postgresURL: String?
    @Option(help: "Write the results as JSON to this file too.") var output: String?
    @Option(help: "SQLite: most transactions one COMMIT carries (1: no group commit).") var maxGroupSize = 128

    struct Note: MessageContract {
        static let type = "bench.note.v1"
        var n: Int
    }

    struct Result: Codable {
        var backend: String
        var messages: Int
        var busPerSecond: Double
        var latencyP50: Double
        var latencyP99: Double
        var cpuMicrosecondsPerMessage: Double
        var directPerSecond: Double
        var directCPUMicrosecondsPerMessage: Double
    }

    func run() async throws {
        var logger = Logger(label: "malha.bench")
        logger.logLevel = .error  // (stopping the consumer mid-acknowledgement warns; that is expected here)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-bench-bus-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }

        let bus = try await measureBus(directory: directory.appendingPathComponent("bus"), logger: logger)
        let direct = try await measureDirect(directory: directory.appendingPathComponent("direct"), logger: logger)
        let result = Result(
            backend: postgresURL == nil ? "sqlite" : "postgres", messages: messages,
            busPerSecond: bus.perSecond, latencyP50: bus.p50, latencyP99: bus.p99,
            cpuMicrosecondsPerMessage: bus.cpu, directPerSecond: direct.perSecond,
            directCPUMicrosecondsPerMessage: direct.cpu)
        print(
            """
            bus     \(messages) messages: \(Int(bus.perSecond))/s, commit → effect p50 \(String(format: "%.1f", bus.p50)) ms, \
            p99 \(String(format: "%.1f", bus.p99)) ms, CPU \(Int(bus.cpu)) µs/message
            direct  \(messages) transactions: \(Int(direct.perSecond))/s, CPU \(Int(direct.cpu)) µs/transaction
            """)
        if let output { try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: output)) }
    }

    /// Opens `count` stores (SQLite files under `directory`, or fresh PostgreSQL databases), runs
    /// `body` with them running, then closes them.
    func withStores<T: Sendable>(
        _ names: [String], directory: URL, logger: Logger, _ body: @Sendable ([any SQLStore]) async throws -> T
    ) async throws -> T {
        guard let postgresURL else {
            var stores: [SQLiteStore] = []
            for name in names {
                let path = directory.appendingPathComponent("\(name).sqlite").path
                stores.append(try await SQLiteStore.open(path: path, maxGroupSize: maxGroupSize, logger: logger))
            }
            defer { Task { [stores] in for store in stores { await store.close() } } }
            return try await body(stores)
        }
        let admin = try PostgresStore(url: postgresURL, logger: logger)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let databases = names.map { "bench_\($0)_\(suffix)" }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await admin.run()
                return nil
            }
            for database in databases {
                try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: database)").run() }
            }
            let base = postgresURL.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            let stores = try databases.map { try PostgresStore(url: "\(base)/\($0)", logger: logger) }
            for store in stores {
                group.addTask {
                    try await store.run(); return nil
                }
            }
            let result = try await body(stores)
            group.cancelAll()
            return result
        }
    }

    func measureBus(directory: URL, logger: Logger) async throws -> (perSecond: Double, p50: Double, p99: Double, cpu: Double) {
        let messages = messages
        let producers = producers
        let concurrency = concurrency
        return try await withStores(["producer", "consumer", "bus"], directory: directory, logger: logger) { stores in
            let (producer, consumer, busStore) = (stores[0], stores[1], stores[2])
            for store in [producer, consumer] {
                try await Outbox.migrate(store, logger: logger)
                try await Inbox.migrate(store, logger: logger)
            }
            try await producer.transaction { db in try await db.raw("CREATE TABLE items (n BIGINT NOT NULL)").run() }
            try await consumer.transaction { db in
                try await db.raw("CREATE TABLE effects (message_id TEXT NOT NULL, n BIGINT NOT NULL)").run()
            }
            let transport = try await SQLTransport.open(store: busStore, logger: logger)
            let relay = OutboxRelay(store: producer, transport: transport, service: "bench", logger: logger)
            let latencies = LatencyLog(expected: messages)
            let runner = ConsumerRunner(
                subscription: Subscription(name: "bench", types: [Note.type], concurrency: concurrency),
                transport: transport, store: consumer, logger: logger
            ) { envelope, context in
                let note = try envelope.decode(Note.self)
                try await context.database.raw(
                    "INSERT INTO effects (message_id, n) VALUES (\(bind: envelope.id), \(bind: note.n))"
                ).run()
                let occurred = envelope.occurredAt
                context.afterCommit { latencies.record(Date().timeIntervalSince(occurred) * 1000) }
            }
            try await transport.bind(subscription: "bench", to: [Note.type])
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await transport.run() }
                group.addTask { try await relay.run() }
                group.addTask { try await runner.run() }
                let cpuBefore = processCPUSeconds()
                let start = ContinuousClock.now
                try await produce(messages, producers: producers) { n in
                    try await producer.transaction { db in
                        try await db.raw("INSERT INTO items (n) VALUES (\(bind: n))").run()
                        try await Outbox.enqueue(try Envelope(Note(n: n), source: "bench", at: Date()), in: db)
                    }
                    relay.wake()
                }
                await latencies.waitUntilComplete()
                let elapsed = (ContinuousClock.now - start).seconds
                let cpu = processCPUSeconds() - cpuBefore
                group.cancelAll()
                let sorted = latencies.values.sorted()
                return (
                    Double(messages) / elapsed, percentile(sorted, 0.5), percentile(sorted, 0.99),
                    cpu / Double(messages) * 1e6
                )
            }
        }
    }

    /// The same producer transactions, writing the effect row directly instead of a message.
    func measureDirect(directory: URL, logger: Logger) async throws -> (perSecond: Double, cpu: Double) {
        let messages = messages
        let producers = producers
        return try await withStores(["direct"], directory: directory, logger: logger) { stores in
            let store = stores[0]
            try await store.transaction { db in
                try await db.raw("CREATE TABLE items (n BIGINT NOT NULL)").run()
                try await db.raw("CREATE TABLE effects (message_id TEXT NOT NULL, n BIGINT NOT NULL)").run()
            }
            let cpuBefore = processCPUSeconds()
            let start = ContinuousClock.now
            try await produce(messages, producers: producers) { n in
                try await store.transaction { db in
                    try await db.raw("INSERT INTO items (n) VALUES (\(bind: n))").run()
                    try await db.raw(
                        "INSERT INTO effects (message_id, n) VALUES (\(bind: UUID.v7().uuidString), \(bind: n))"
                    ).run()
                }
            }
            let elapsed = (ContinuousClock.now - start).seconds
            return (Double(messages) / elapsed, (processCPUSeconds() - cpuBefore) / Double(messages) * 1e6)
        }
    }

    /// Runs `send(n)` for n in 0..<count from `producers` concurrent tasks.
    func produce(_ count: Int, producers: Int, _ send: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for n in stride(from: producer, to: count, by: producers) { try await send(n) }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// Latencies recorded by the consumer; resumes the waiter once `expected` arrived.
final class LatencyLog: Sendable {
    private struct State {
        var values: [Double] = []
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    let expected: Int

    init(expected: Int) { self.expected = expected }

    var values: [Double] { state.withLock { $0.values } }

    func record(_ milliseconds: Double) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.values.append(milliseconds)
            guard state.values.count >= expected else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func waitUntilComplete() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.values.count >= expected { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// User + system CPU seconds this process has used.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
