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
        let store = try await TestDatabases.sqlite()
        defer { Task { await store.close() } }
        try await TransportConformance.checks[check]!(try await Self.subject(store))
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil), arguments: checkNames)
    func postgres(_ check: String) async throws {
        try await TestDatabases.withPostgres { store in
            try await TransportConformance.checks[check]!(try await Self.subject(store))
        }
    }
}
