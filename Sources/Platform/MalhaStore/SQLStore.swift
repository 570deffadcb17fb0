import Logging
public import SQLKit

/// Which SQL engine a store runs on. Repository code is the same on both (SQLKit); only migrations
/// and a few error checks ask.
public enum SQLBackendKind: String, Sendable {
    case sqlite
    case postgres
}

/// A service's own database.
///
/// Why SQLKit and not an ORM: one repository implementation runs on SQLite and PostgreSQL with
/// plain SQL the reader can see, binds are always parameters, and rows decode into `Codable` types.
/// SQLKit has no transactions or migrations, so this protocol adds the two things we need.
public protocol SQLStore: Sendable {
    var backend: SQLBackendKind { get }

    /// Runs `body` on a connection for reads. Never sees another transaction's uncommitted rows.
    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in one transaction on one connection: committed when `body` returns,
    /// rolled back when it throws. On SQLite the transaction takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so read-then-write logic cannot deadlock or lose an update.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
}

/// Store failures that callers act on (the rest propagate as they are).
public enum StoreError: Error, Sendable, Equatable {
    /// A unique constraint refused the write; the caller usually answers 409.
    case uniqueViolation(String)
}

extension SQLStore {
    /// Runs `body` in a transaction and reports a unique-constraint failure as `StoreError.uniqueViolation`.
    public func write<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await transaction(body)
        } catch let error where SQLErrors.isUniqueViolation(error) {
            throw StoreError.uniqueViolation(String(describing: error))
        }
    }
}

extension SQLDatabase {
    /// Runs `body` between `begin` and COMMIT on this (single-connection) database; rolls back
    /// when `body` or the commit throws.
    nonisolated(nonsending) func inTransaction<T>(
        begin: String, logger: Logger, _ body: (any SQLDatabase) async throws -> T
    ) async throws -> sending T {
        try await raw(SQLQueryString(begin)).run()
        do {
            let result = try await body(self)
            try await raw("COMMIT").run()
            return result
        } catch {
            do { try await raw("ROLLBACK").run() } catch {
                logger.error("rollback failed", metadata: ["error": "\(error)"])
            }
            throw error
        }
    }
}
