import Foundation
public import Logging
import PostgresKit
public import PostgresNIO
public import SQLKit
public import ServiceLifecycle

/// A service database in PostgreSQL, pooled by postgres-nio's `PostgresClient`.
///
/// The client is a lifecycle `Service`: `run()` must be running before the first query, so the
/// store runs it and a service group starts the store before anything that uses it.
public final class PostgresStore: SQLStore, Service {
    public var backend: SQLBackendKind { .postgres }
    public let client: PostgresClient
    private let logger: Logger

    public init(configuration: PostgresClient.Configuration, logger: Logger) {
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Parses `postgres://user:password@host:port/database` (also `postgresql://`).
    public convenience init(url: String, logger: Logger) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme),
            let host = components.host, !host.isEmpty
        else { throw PostgresURLError(url: url) }
        let database = String(components.path.drop(while: { $0 == "/" }))
        var configuration = PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: components.user ?? "postgres",
            password: components.password,
            database: database.isEmpty ? nil : database,
            tls: .disable
        )
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 20
        self.init(configuration: configuration, logger: logger)
    }

    public func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: nil))
        }
    }

    public func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.sql(queryLogLevel: nil).inTransaction(begin: "BEGIN", logger: logger, body)
        }
    }

    public func run() async throws {
        await client.run()
    }
}

public struct PostgresURLError: Error, CustomStringConvertible {
    public var url: String
    public var description: String { "not a postgres:// URL with a host: \(url)" }
}
