import Foundation
public import Logging
import MalhaCore
import NIOPosix
public import SQLKit
import SQLiteKit
import SQLiteNIO
public import ServiceLifecycle
import Synchronization

/// A service database in one SQLite file: WAL journal, `synchronous=FULL` (an acknowledged commit
/// survives power loss), one writer connection behind an async lock and a few reader connections
/// (WAL lets readers run while the writer writes).
public final class SQLiteStore: SQLStore, Service {
    public var backend: SQLBackendKind { .sqlite }
    public let path: String
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncSemaphore(permits: 1)
    private let nextReader = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    private init(path: String, writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.path = path
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    /// Opens (creating if needed) the database file at `path`, and its parent directory.
    public static func open(path: String, readers readerCount: Int = 2, logger: Logger) async throws -> SQLiteStore {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let writer = try await openConnection(path: path, logger: logger)
        // WAL is a property of the file; set it once on the writer before readers attach.
        _ = try await writer.query("PRAGMA journal_mode=WAL")
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            let reader = try await openConnection(path: path, logger: logger)
            _ = try await reader.query("PRAGMA query_only=ON")
            readers.append(reader)
        }
        return SQLiteStore(path: path, writer: writer, readers: readers, logger: logger)
    }

    private static func openConnection(path: String, logger: Logger) async throws -> SQLiteConnection {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        for pragma in ["PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
            _ = try await connection.query(pragma)
        }
        return connection
    }

    public func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await body(readers[abs(index) % readers.count].sql(queryLogLevel: nil))
    }

    public func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.acquire()
        defer { writeLock.release() }
        return try await writer.sql(queryLogLevel: nil).inTransaction(begin: "BEGIN IMMEDIATE", logger: logger, body)
    }

    /// Keeps the connections open until graceful shutdown, then closes them (after the services
    /// that use the store, which a service group stops first).
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for connection in readers + [writer] {
            try? await connection.close()
        }
    }

    /// A store dropped without `close()` (tests, failed starts) still closes its connections:
    /// each close holds its connection until it has run on the thread pool.
    deinit {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for connection in readers + [writer] {
            _ = connection.close()
        }
    }
}
