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
    /// one database stand for two processes (neither sees the other's in-process wake-ups).
    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func notifyWakesAReceiverOfAnotherTransport() async throws {
        try await TestDatabases.withPostgres { store in
            let listener = try await SQLTransport.open(store: store, logger: SQLTransportConformanceTests.logger)
            let publisher = SQLTransport(store: store, logger: SQLTransportConformanceTests.logger)
            try await listener.bind(subscription: "s", to: [Ping.type])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                // Let the listener start listening, then drain its first (startup) wake-up.
                try await Task.sleep(for: .milliseconds(500))
                await listener.waitForMessages(on: "s", timeout: .milliseconds(10))
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
