import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Testing

@testable import Identity

/// `audit_events` as an append-only hash chain, written through the repository, then tampered
/// with in the database directly (the triggers dropped first, as someone with the file would).
/// SQLite always; PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set.
@Suite("Identity: audit chain")
struct IdentityAuditChainTests {
    static let now = Date(epochMilliseconds: 1_767_225_600_000)

    static func logger() -> Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// A user registered, promoted and logging in: three audit records.
    static func activity(_ repository: IdentityRepository) async throws {
        let user = User(
            id: UUID.v7(at: now).lowercased, email: "ana@example.com", name: "Ana", roles: [Role.customer], createdAt: now)
        try await repository.insert(
            user: user, passwordHash: "hash", audit: .init(event: .register, at: now, subject: user.id, email: user.email))
        _ = try await repository.setRoles(
            userID: user.id, roles: [Role.admin], now: now, audit: .init(event: .roleChange, at: now, subject: user.id),
            event: try rolesChanged(user.id, now: now))
        try await repository.audit(.init(event: .loginSuccess, at: now, subject: user.id, clientAddress: "203.0.113.9"))
    }

    static func report(_ store: any SQLStore) async throws -> AuditChainReport {
        try await IdentityAuditTrail.snapshot(in: store).verify()
    }

    @Test func theRepositoryWritesAnIntactChain() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, IdentityService.migrations, logger: Self.logger())
            try await Outbox.migrate(store, logger: Self.logger())
            let repository = IdentityRepository(store: store)
            try await Self.activity(repository)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await repository.audit(.init(event: .loginFailure, at: Self.now, email: "x\(index)@example.com"))
                    }
                }
                try await group.waitForAll()
            }
            let report = try await Self.report(store)
            #expect(report.isIntact, "\(report.breaks)")
            #expect(report.records == 23 && report.unchained == 0)
            #expect(try await repository.auditRecords().count == 23)
        }
    }

    @Test func theTrailIsAppendOnly() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, IdentityService.migrations, logger: Self.logger())
            try await Outbox.migrate(store, logger: Self.logger())
            try await Self.activity(IdentityRepository(store: store))
            for statement in ["UPDATE audit_events SET email = NULL", "DELETE FROM audit_events"] {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await AuditTampering.run([statement], in: store)
                }
            }
            #expect(try await Self.report(store).records == 3)
        }
    }

    @Test func tamperingInTheDatabaseIsReported() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, IdentityService.migrations, logger: Self.logger())
            try await Outbox.migrate(store, logger: Self.logger())
            try await Self.activity(IdentityRepository(store: store))
            try await AuditTampering.liftAppendOnly("audit_events", in: store)

            try await AuditTampering.run(
                ["UPDATE audit_events SET client_address = '198.51.100.1' WHERE sequence = 3"], in: store)
            #expect(try await Self.report(store).breaks.map(\.kind) == [.changed])
            #expect(try await Self.report(store).breaks.first?.sequence == 3)

            try await AuditTampering.swapSequences(1, 2, of: "audit_events", in: store)
            #expect(try await Self.report(store).breaks.first?.kind == .reordered)

            try await AuditTampering.run(["DELETE FROM audit_events WHERE sequence = 1"], in: store)
            #expect(try await Self.report(store).breaks.first?.kind == .deleted)
        }
    }

    @Test func anExistingDatabaseMigratesWithItsOlderRowsUnchained() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Array(IdentityMigrations.all.prefix(5)), logger: Self.logger())
            try await Outbox.migrate(store, logger: Self.logger())
            try await AuditTampering.run(
                [
                    """
                    INSERT INTO audit_events (id, occurred_at, event, subject, email, client_address, detail)
                    VALUES ('0190f5c2-0000-7000-8000-000000000000', 1, 'register', 'u1', 'old@example.com', NULL, NULL)
                    """
                ], in: store)
            #expect(try await Migrator.migrate(store, IdentityService.migrations, logger: Self.logger()) == [6, 7])
            try await Self.activity(IdentityRepository(store: store))
            let report = try await Self.report(store)
            #expect(report.isIntact, "\(report.breaks)")
            #expect(report.records == 3 && report.unchained == 1)
        }
    }
}
