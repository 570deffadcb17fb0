import Foundation
public import Logging
import MalhaCore
public import SQLKit

/// One versioned schema change. Versions are applied in order, each in its own transaction,
/// and recorded in `schema_migrations`; a version already recorded is never applied again.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    /// The statements for a backend: most are identical; types like `BIGSERIAL` are not.
    public var statements: @Sendable (SQLBackendKind) -> [String]

    public init(version: Int, name: String, statements: @escaping @Sendable (SQLBackendKind) -> [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    public init(version: Int, name: String, _ statements: [String]) {
        self.init(version: version, name: name) { _ in statements }
    }
}

public enum Migrator {
    /// Applies every migration not yet recorded. Safe to call from several instances at once:
    /// PostgreSQL takes an advisory lock in each transaction, SQLite's `BEGIN IMMEDIATE` serialises.
    ///
    /// `component` keeps the versions of a platform library's tables (the outbox, the inbox) apart
    /// from the service's own in the same database: each component records its versions in its own
    /// table (`schema_migrations` for the service, `schema_migrations_<component>` otherwise).
    @discardableResult
    public static func migrate(
        _ store: some SQLStore, _ migrations: [Migration], component: String? = nil, logger: Logger,
        clock: any WallClock = SystemWallClock()
    ) async throws -> [Int] {
        precondition(Set(migrations.map(\.version)).count == migrations.count, "duplicate migration versions")
        precondition(
            component?.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } ?? true,
            "component names are identifiers")
        let table = component.map { "schema_migrations_\($0)" } ?? "schema_migrations"
        try await store.transaction { database in
            // Two `CREATE TABLE IF NOT EXISTS` racing on PostgreSQL can both pass the check and
            // one then fails on the catalog's unique index: take the migration lock first.
            if store.backend == .postgres {
                try await database.raw("SELECT pg_advisory_xact_lock(72616)").run()
            }
            try await database.raw(
                """
                CREATE TABLE IF NOT EXISTS \(unsafeRaw: table) (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)
                """
            ).run()
        }
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            let didApply = try await store.transaction { database -> Bool in
                if store.backend == .postgres {
                    try await database.raw("SELECT pg_advisory_xact_lock(72616)").run()
                }
                let existing = try await database.select().column("version").from(table)
                    .where("version", .equal, migration.version).first()
                guard existing == nil else { return false }
                for statement in migration.statements(store.backend) {
                    try await database.raw(SQLQueryString(statement)).run()
                }
                try await database.insert(into: table)
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(clock.now().epochMilliseconds))
                    .run()
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info(
                    "migration applied",
                    metadata: ["version": "\(migration.version)", "name": "\(migration.name)", "table": "\(table)"])
            }
        }
        return applied
    }
}
