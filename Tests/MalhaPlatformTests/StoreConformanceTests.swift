import Foundation
import Logging
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

/// The behaviour every `SQLStore` must have, checked on SQLite and (when `MALHA_TEST_POSTGRES_URL`
/// is set) on a fresh PostgreSQL database.
@Suite("Store conformance")
struct StoreConformanceTests {
    static let logger = Logger(label: "malha.test.migrations")

    static let migrations = [
        Migration(version: 1, name: "items", ["CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE)"]),
        Migration(version: 2, name: "counters") { _ in
            [
                "CREATE TABLE counters (id TEXT PRIMARY KEY, value BIGINT NOT NULL)",
                "INSERT INTO counters (id, value) VALUES ('c', 0)",
            ]
        },
        Migration(
            version: 3, name: "samples",
            ["CREATE TABLE samples (id TEXT PRIMARY KEY, big BIGINT NOT NULL, text TEXT NOT NULL, flag BOOLEAN NOT NULL)"]),
    ]

    static func count(_ store: any SQLStore, _ table: String) async throws -> Int {
        try await store.read { db in
            let row = try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first()
            return try #require(row).decode(column: "n", as: Int.self)
        }
    }

    @Test func migrationsApplyOnceAndRecordVersions() async throws {
        try await TestDatabases.withEachBackend { store in
            let first = try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            #expect(first == [1, 2, 3], "\(store.backend)")
            let second = try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            #expect(second.isEmpty, "\(store.backend)")
            let versions = try await store.read { db in
                try await db.select().column("version").from("schema_migrations").orderBy("version").all()
                    .map { try $0.decode(column: "version", as: Int.self) }
            }
            #expect(versions == [1, 2, 3], "\(store.backend)")
            // The seed row of migration 2 was inserted once, not twice.
            #expect(try await Self.count(store, "counters") == 1)
            // A later migration added to the list is the only one applied.
            let more = Self.migrations + [Migration(version: 4, name: "extra", ["CREATE TABLE extra (id TEXT PRIMARY KEY)"])]
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            #expect(try await Migrator.migrate(store, more, logger: Self.logger, clock: clock) == [4])
            // When it was applied comes from the injected clock.
            let appliedAt = try await store.read { db in
                try await db.select().column("applied_at").from("schema_migrations").where("version", .equal, 4).first()?
                    .decode(column: "applied_at", as: Int64.self)
            }
            #expect(appliedAt == 1_800_000_000_000, "\(store.backend)")
        }
    }

    /// Two components of one process migrating the same fresh database at once (a service and the
    /// bus it shares, say) must both succeed, each version applied once.
    @Test func concurrentMigrationsOfAFreshDatabaseAllSucceed() async throws {
        try await TestDatabases.withEachBackend { store in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<8 {
                    group.addTask { try await Migrator.migrate(store, Self.migrations, logger: Self.logger) }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == [1, 2, 3], "\(store.backend)")
            #expect(try await Self.count(store, "counters") == 1)
        }
    }

    @Test func transactionCommits() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            let returned = try await store.transaction { db in
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("1"), SQLBind("one")).run()
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("2"), SQLBind("two")).run()
                return "done"
            }
            #expect(returned == "done")
            let names = try await store.read { db in
                try await db.select().column("name").from("items").orderBy("id").all().map {
                    try $0.decode(column: "name", as: String.self)
                }
            }
            #expect(names == ["one", "two"], "\(store.backend)")
        }
    }

    struct Boom: Error {}

    @Test func rollbackOnThrowLeavesNoPartialWrite() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            await #expect(throws: Boom.self) {
                try await store.transaction { db in
                    try await db.insert(into: "items").columns("id", "name").values(SQLBind("1"), SQLBind("one")).run()
                    try await db.update("counters").set("value", to: SQLBind(99)).run()
                    throw Boom()
                }
            }
            #expect(try await Self.count(store, "items") == 0, "\(store.backend)")
            let value = try await store.read { db in
                try #require(try await db.select().column("value").from("counters").first()).decode(
                    column: "value", as: Int64.self)
            }
            #expect(value == 0, "\(store.backend)")
            // The store is usable after a rollback.
            try await store.transaction { db in
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("1"), SQLBind("one")).run()
            }
            #expect(try await Self.count(store, "items") == 1)
        }
    }

    @Test func uniqueViolationIsReportedByWrite() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            try await store.write { db in
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("1"), SQLBind("one")).run()
            }
            // Same name (UNIQUE column) and same primary key: both are unique violations.
            for (id, name) in [("2", "one"), ("1", "other")] {
                do {
                    try await store.write { db in
                        try await db.insert(into: "items").columns("id", "name").values(SQLBind(id), SQLBind(name)).run()
                    }
                    Issue.record("duplicate insert succeeded on \(store.backend)")
                } catch let error as StoreError {
                    guard case .uniqueViolation = error else { Issue.record("unexpected \(error)"); continue }
                } catch {
                    Issue.record("expected StoreError.uniqueViolation on \(store.backend), got \(String(reflecting: error))")
                }
            }
            #expect(try await Self.count(store, "items") == 1)
            // Other failures are not disguised as unique violations.
            await #expect(throws: Boom.self) { try await store.write { _ in throw Boom() } }
        }
    }

    @Test func concurrentIncrementsLoseNoUpdate() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            let seen = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await store.transaction { db in
                            let row = try await db.raw("UPDATE counters SET value = value + 1 WHERE id = 'c' RETURNING value")
                                .first()
                            return try #require(row).decode(column: "value", as: Int64.self)
                        }
                    }
                }
                var values: [Int64] = []
                for try await value in group { values.append(value) }
                return values
            }
            #expect(seen.sorted() == Array(1...50), "\(store.backend)")
            let final = try await store.read { db in
                try #require(try await db.select().column("value").from("counters").first()).decode(
                    column: "value", as: Int64.self)
            }
            #expect(final == 50, "\(store.backend)")
        }
    }

    /// SQLite's `BEGIN IMMEDIATE` makes read-then-write inside a transaction safe without row locks.
    @Test func sqliteReadThenWriteIncrementsLoseNoUpdate() async throws {
        let store = try await TestDatabases.sqlite()
        defer { Task { await store.close() } }
        try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await store.transaction { db in
                        let current = try #require(try await db.select().column("value").from("counters").first())
                            .decode(column: "value", as: Int64.self)
                        await Task.yield()
                        try await db.update("counters").set("value", to: SQLBind(current + 1)).run()
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await store.read { db in
            try #require(try await db.select().column("value").from("counters").first()).decode(column: "value", as: Int64.self)
        }
        #expect(final == 50)
    }

    @Test func valuesRoundTrip() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            let samples: [(String, Int64, String, Bool)] = [
                ("max", .max, "plain", true),
                ("min", .min, "O'Brien \"quoted\" ; DROP TABLE samples; --", false),
                ("zero", 0, "ünïcödé 🧶 ação", true),
                ("ms", 1_767_225_600_123, "", false),
            ]
            try await store.write { db in
                for sample in samples {
                    try await db.insert(into: "samples").columns("id", "big", "text", "flag")
                        .values(SQLBind(sample.0), SQLBind(sample.1), SQLBind(sample.2), SQLBind(sample.3)).run()
                }
            }
            for sample in samples {
                let row = try await store.read { db in
                    try await db.select().columns("big", "text", "flag").from("samples").where("id", .equal, sample.0).first()
                }
                let found = try #require(row, "\(sample.0) on \(store.backend)")
                #expect(try found.decode(column: "big", as: Int64.self) == sample.1, "\(store.backend)")
                #expect(try found.decode(column: "text", as: String.self) == sample.2, "\(store.backend)")
                #expect(try found.decode(column: "flag", as: Bool.self) == sample.3, "\(store.backend)")
            }
            // Booleans filter correctly when bound as parameters.
            let trueCount = try await store.read { db in
                try await db.select().column("id").from("samples").where("flag", .equal, SQLBind(true)).all().count
            }
            #expect(trueCount == 2, "\(store.backend)")
        }
    }

    @Test func readsNeverSeeUncommittedRows() async throws {
        try await TestDatabases.withEachBackend { store in
            try await Migrator.migrate(store, Self.migrations, logger: Self.logger)
            try await store.transaction { db in
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("1"), SQLBind("pending")).run()
                // Inside the writer's open transaction, every reader still sees the committed state.
                for _ in 0..<4 {
                    #expect(try await Self.count(store, "items") == 0, "\(store.backend)")
                }
            }
            #expect(try await Self.count(store, "items") == 1, "\(store.backend)")
            // A rolled-back row was never visible and is not visible after.
            try? await store.transaction { db in
                try await db.insert(into: "items").columns("id", "name").values(SQLBind("2"), SQLBind("doomed")).run()
                #expect(try await Self.count(store, "items") == 1, "\(store.backend)")
                throw Boom()
            }
            #expect(try await Self.count(store, "items") == 1, "\(store.backend)")
        }
    }

    @Test func sqliteUsesWALAndFullSynchronous() async throws {
        let store = try await TestDatabases.sqlite()
        defer { Task { await store.close() } }
        // Readers are handed out round-robin: ask enough times to visit each.
        for _ in 0..<6 {
            let (mode, synchronous) = try await store.read { db in
                let mode = try #require(try await db.raw("PRAGMA journal_mode").first()).decode(
                    column: "journal_mode", as: String.self)
                let sync = try #require(try await db.raw("PRAGMA synchronous").first()).decode(
                    column: "synchronous", as: Int.self)
                return (mode, sync)
            }
            #expect(mode.lowercased() == "wal")
            #expect(synchronous == 2)
        }
        let (mode, synchronous) = try await store.transaction { db in
            let mode = try #require(try await db.raw("PRAGMA journal_mode").first()).decode(
                column: "journal_mode", as: String.self)
            let sync = try #require(try await db.raw("PRAGMA synchronous").first()).decode(column: "synchronous", as: Int.self)
            return (mode, sync)
        }
        #expect(mode.lowercased() == "wal")
        #expect(synchronous == 2)
        #expect(FileManager.default.fileExists(atPath: store.path + "-wal"))
    }

    @Test func postgresDatabasesAreIsolatedAndDropped() async throws {
        guard TestDatabases.postgresURL != nil else { return }
        let name = try await TestDatabases.withPostgres { store in
            try await store.read { db in
                try #require(try await db.raw("SELECT current_database() AS name").first()).decode(
                    column: "name", as: String.self)
            }
        }
        #expect(name.hasPrefix("malha_test_"))
        let stillThere = try await TestDatabases.withPostgres { store in
            try await store.read { db in
                try await db.raw("SELECT datname FROM pg_database WHERE datname = \(bind: name)").all().count
            }
        }
        #expect(stillThere == 0)
    }
}
