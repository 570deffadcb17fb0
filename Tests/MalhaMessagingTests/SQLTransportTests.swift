import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

/// The transport conformance suite on the SQL transport, once per backend.
@Suite("SQL transport conformance")
struct SQLTransportConformanceTests {
    static let logger: Logger = {
        var logger = Logger(label: "test.bus")
        logger.logLevel = .critical
        return logger
    }()

    static let checkNames = TransportConformance.checks.keys.sorted()

    static func subject(_ store: any SQLStore) async throws -> TransportConformance.Subject {
        let clock = ManualClock(Date())
        let transport = try await SQLTransport.open(store: store, clock: clock, logger: logger)
        try await Inbox.migrate(store, logger: logger)
        return TransportConformance.Subject(transport: transport, clock: clock, consumerStore: store)
    }

    @Test(arguments: checkNames)
    func sqlite(_ check: String) async throws {
        try await TestDatabases.withSQLite { store in
            try await TransportConformance.checks[check]!(try await Self.subject(store))
        }
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil), arguments: checkNames)
    func postgres(_ check: String) async throws {
        try await TestDatabases.withPostgres { store in
            try await TransportConformance.checks[check]!(try await Self.subject(store))
        }
    }
}

@Suite("SQL transport on PostgreSQL")
struct SQLTransportPostgresTests {
    struct Ping: MessageContract {
        static let type = "test.ping.v1"
        var n: Int
    }

    /// A publish in one process wakes a receiver in another through LISTEN/NOTIFY: two transports on
    /// one database stand for two processes (neither sees the other's in-process wake-ups). Only the
    /// receivers of the published types wake: a publish of another type leaves them waiting.
    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func notifyWakesAReceiverOfAnotherTransport() async throws {
        try await TestDatabases.withPostgres { store in
            let listener = try await SQLTransport.open(store: store, logger: SQLTransportConformanceTests.logger)
            let publisher = SQLTransport(store: store, logger: SQLTransportConformanceTests.logger)
            try await listener.bind(subscription: "s", to: [Ping.type])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                // Wait until the listener listens (its LISTEN is the last statement of a session),
                // then drain its first (startup) wake-up.
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    let listening = try await store.read { db in
                        try await db.raw(
                            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                        ).first()?.decode(column: "n", as: Int.self) ?? 0
                    }
                    if listening > 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                // Drain the startup wake-ups (under load they can come late): until a 200 ms wait
                // passes without one.
                for _ in 0..<50 {
                    let waitStarted = ContinuousClock.now
                    await listener.waitForMessages(on: "s", timeout: .milliseconds(200))
                    if ContinuousClock.now - waitStarted >= .milliseconds(190) { break }
                }
                struct Other: MessageContract {
                    static let type = "test.other.v1"
                    var n: Int
                }
                let quiet = ContinuousClock.now
                async let untouched: Void = listener.waitForMessages(on: "s", timeout: .milliseconds(1500))
                try await Task.sleep(for: .milliseconds(100))
                try await publisher.publish([try Envelope(Other(n: 1), source: "t", at: Date())])
                await untouched
                #expect(ContinuousClock.now - quiet >= .milliseconds(1400), "another type's publish woke it")
                let start = ContinuousClock.now
                async let waited: Void = listener.waitForMessages(on: "s", timeout: .seconds(20))
                try await Task.sleep(for: .milliseconds(100))
                try await publisher.publish([try Envelope(Ping(n: 1), source: "t", at: Date())])
                await waited
                let elapsed = ContinuousClock.now - start
                #expect(elapsed < .seconds(5), "woken by NOTIFY, not the 20 s timeout (\(elapsed))")
                #expect(try await listener.receive(from: "s", limit: 1, lease: .seconds(30)).count == 1)
                group.cancelAll()
            }
        }
    }
}
