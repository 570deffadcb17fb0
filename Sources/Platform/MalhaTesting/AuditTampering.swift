public import MalhaStore
import SQLKit

/// What an attacker with write access to a service's database does to its audit trail: lift the
/// append-only triggers (`AuditTrail.appendOnly`), then edit, delete or renumber rows directly.
public enum AuditTampering {
    /// Drops `table`'s append-only triggers, as someone holding the database file or a superuser would.
    public static func liftAppendOnly(_ table: String, in store: any SQLStore) async throws {
        let statements =
            switch store.backend {
            case .sqlite: ["DROP TRIGGER \(table)_no_update", "DROP TRIGGER \(table)_no_delete"]
            case .postgres: ["DROP TRIGGER \(table)_append_only ON \(table)"]
            }
        try await run(statements, in: store)
    }

    /// Swaps two records' places in the chain (three steps: `sequence` is unique at every row).
    public static func swapSequences(_ one: Int64, _ other: Int64, of table: String, in store: any SQLStore) async throws {
        try await run(
            [
                "UPDATE \(table) SET sequence = -1 WHERE sequence = \(one)",
                "UPDATE \(table) SET sequence = \(one) WHERE sequence = \(other)",
                "UPDATE \(table) SET sequence = \(other) WHERE sequence = -1",
            ], in: store)
    }

    /// Runs `statements` in one transaction, as raw SQL.
    public static func run(_ statements: [String], in store: any SQLStore) async throws {
        try await store.transaction { db in
            for statement in statements { try await db.raw(SQLQueryString(statement)).run() }
        }
    }
}
