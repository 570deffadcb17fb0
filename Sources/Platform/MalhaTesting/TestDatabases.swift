import Foundation
import Logging
public import MalhaStore
import SQLKit

/// Throwaway databases for tests: a fresh SQLite file per call, and (when
/// `MALHA_TEST_POSTGRES_URL` names a server) a fresh PostgreSQL database per call.
public enum TestDatabases {
    static let logger: Logger = {
        var logger = Logger(label: "malha.test.store")
        logger.logLevel = .warning
        return logger
    }()

    /// A new SQLite store in a new temporary directory.
    public static func sqlite() async throws -> SQLiteStore {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("malha-test-\(UUID().uuidString.lowercased())", isDirectory: true)
        return try await SQLiteStore.open(path: directory.appendingPathComponent("test.sqlite").path, logger: logger)
    }

    /// The server to create test databases on, e.g. `postgres://postgres@127.0.0.1:5432/postgres`;
    /// nil (PostgreSQL tests skipped) when unset or empty.
    public static var postgresURL: String? {
        guard let url = ProcessInfo.processInfo.environment["MALHA_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    struct BadURL: Error { var url: String }

    public struct PostgresUnavailable: Error, CustomStringConvertible {
        public var description: String { "MALHA_TEST_POSTGRES_URL is not set" }
    }

    /// Creates a database `malha_test_<random hex>`, runs `body` with a running store on it, then
    /// stops the store and drops the database (also when `body` throws).
    public static func withPostgres<T>(_ body: (PostgresStore) async throws -> T) async throws -> T {
        try await withPostgresDatabase { url in
            let store = try PostgresStore(url: url, logger: logger)
            return try await running(store) { store -> Result<T, any Error> in
                do { return .success(try await body(store)) } catch { return .failure(error) }
            }.get()
        }
    }

    /// Creates a database `malha_test_<random hex>`, runs `body` with its URL (for a process under
    /// test to connect to), then drops it (also when `body` throws).
    public static func withPostgresDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let baseURL = postgresURL else { throw PostgresUnavailable() }
        let name = "malha_test_" + (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try await withAdminStore(baseURL) { admin in
            try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(try databaseURL(baseURL, name: name)))
        } catch {
            result = .failure(error)
        }
        try await withAdminStore(baseURL) { admin in
            try await admin.read { db in try await db.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
        }
        return try result.get()
    }

    /// A new SQLite store for `body`, closed and deleted afterwards (also when `body` throws).
    public static func withSQLite<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
        let store = try await sqlite()
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent()
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        await store.close()
        try? FileManager.default.removeItem(at: directory)
        return try result.get()
    }

    /// Runs `body` once per available backend: SQLite always, PostgreSQL when configured.
    public static func withEachBackend(_ body: (any SQLStore) async throws -> Void) async throws {
        try await withEachBackend(stores: 1) { try await body($0[0]) }
    }

    /// Runs `body` once per available backend with `count` separate databases (a service's and
    /// the bus's, say): fresh SQLite files, then fresh PostgreSQL databases when configured.
    public static func withEachBackend(stores count: Int, _ body: ([any SQLStore]) async throws -> Void) async throws {
        try await withSQLiteStores(count, [], body)
        if postgresURL != nil {
            try await withPostgresStores(count, [], body)
        }
    }

    static func withSQLiteStores(
        _ count: Int, _ opened: [any SQLStore], _ body: ([any SQLStore]) async throws -> Void
    ) async throws {
        guard opened.count < count else { return try await body(opened) }
        try await withSQLite { store in try await withSQLiteStores(count, opened + [store], body) }
    }

    static func withPostgresStores(
        _ count: Int, _ opened: [any SQLStore], _ body: ([any SQLStore]) async throws -> Void
    ) async throws {
        guard opened.count < count else { return try await body(opened) }
        try await withPostgres { store in try await withPostgresStores(count, opened + [store], body) }
    }

    /// Runs `body` while `store.run()` executes in a child task, then cancels it.
    static func running<T>(_ store: PostgresStore, _ body: (PostgresStore) async -> T) async -> T {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await store.run() }
            let result = await body(store)
            group.cancelAll()
            return result
        }
    }

    static func withAdminStore(_ url: String, _ body: (PostgresStore) async throws -> Void) async throws {
        let admin = try PostgresStore(url: url, logger: logger)
        let outcome = await running(admin) { admin -> Result<Void, any Error> in
            do { return .success(try await body(admin)) } catch { return .failure(error) }
        }
        try outcome.get()
    }

    static func databaseURL(_ baseURL: String, name: String) throws -> String {
        guard var components = URLComponents(string: baseURL) else { throw BadURL(url: baseURL) }
        components.path = "/" + name
        guard let url = components.string else { throw BadURL(url: baseURL) }
        return url
    }
}
