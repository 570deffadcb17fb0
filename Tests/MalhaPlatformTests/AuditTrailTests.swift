import Foundation
import Logging
import MalhaCore
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

/// `AuditTrail` on a real database (SQLite, and PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set):
/// a table chained by a later migration, concurrent appends, and the triggers that guard it.
@Suite("Audit trail")
struct AuditTrailTests {
    static let trail = AuditTrail(table: "events", columns: [.init("id", .text), .init("n", .integer), .init("note", .text)])

    static let migrations = [
        Migration(
            version: 1, name: "events",
            [
                "CREATE TABLE events (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT)",
                "INSERT INTO events (id, n, note) VALUES ('legacy-1', 1, NULL), ('legacy-2', 2, 'before the chain')",
            ]),
        Migration(version: 2, name: "events chain") { backend in
            AuditTrail.appendOnly(table: "events", backend) + trail.chainMigration(backend)
        },
    ]

    static func fields(_ index: Int) -> [AuditField] {
        [AuditField("id", .text("event-\(index)")), AuditField("n", .integer(Int64(index))), AuditField("note", .null)]
    }

    @Test func concurrentAppendsMakeOneChain() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Logger(label: "test"))
            let before = try await store.read { db in try await Self.trail.snapshot(in: db) }.verify()
            #expect(before.isIntact && before.records == 0 && before.unchained == 2 && before.head == .genesis)

            let count = 24
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await store.transaction { db in
                            _ = try await Self.trail.append(Self.fields(index), in: db)
                            // Hold the transaction a little past the append, as a service's does.
                            try await db.raw("SELECT 1").run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let snapshot = try await store.read { db in try await Self.trail.snapshot(in: db) }
            let report = snapshot.verify()
            #expect(report.isIntact, "\(report.breaks)")
            #expect(report.records == count && report.unchained == 2)
            #expect(snapshot.head == report.head)
            #expect(snapshot.records.compactMap(\.sequence).sorted() == (1...Int64(count)).map { $0 })
        }
    }

    @Test func aRolledBackAppendLeavesNoGap() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Logger(label: "test"))
            try await store.transaction { db in _ = try await Self.trail.append(Self.fields(1), in: db) }
            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await store.transaction { db in
                    _ = try await Self.trail.append(Self.fields(2), in: db)
                    throw Abandon()
                }
            }
            try await store.transaction { db in _ = try await Self.trail.append(Self.fields(3), in: db) }
            let report = try await store.read { db in try await Self.trail.snapshot(in: db) }.verify()
            #expect(report.isIntact && report.records == 2 && report.head.sequence == 2)
        }
    }

    @Test func theTableRefusesEditsDeletesAndUnchainedInserts() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Logger(label: "test"))
            try await store.transaction { db in _ = try await Self.trail.append(Self.fields(1), in: db) }
            for statement in [
                "UPDATE events SET note = 'edited'", "DELETE FROM events WHERE id = 'event-1'",
                "INSERT INTO events (id, n) VALUES ('forged', 9)",
            ] {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await store.transaction { db in try await db.raw(SQLQueryString(statement)).run() }
                }
            }
            #expect(try await store.read { db in try await Self.trail.snapshot(in: db) }.verify().isIntact)
        }
    }
}
