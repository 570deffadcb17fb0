import Foundation
public import Logging
import NIOCore
import NIOPosix
public import SQLKit
import SQLiteKit
import SQLiteNIO
public import ServiceLifecycle
import Synchronization

/// A service database in one SQLite file: WAL journal, `synchronous=FULL` (an acknowledged commit
/// survives power loss), one writer connection with group commit (transactions that queue for it
/// share one COMMIT, see `GroupCommitWriter`) and a few reader connections (WAL lets readers run
/// while the writer writes).
public final class SQLiteStore: SQLStore, Service {
    public var backend: SQLBackendKind { .sqlite }
    public let path: String
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let groupCommit: GroupCommitWriter
    private let transactionCount = Atomic<Int>(0)
    private let commitCount = Atomic<Int>(0)
    private let nextReader = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    private init(
        path: String, writer: SQLiteConnection, readers: [SQLiteConnection], maxGroupSize: Int, logger: Logger
    ) {
        self.path = path
        self.writer = writer
        self.readers = readers
        self.groupCommit = GroupCommitWriter(maxMembers: maxGroupSize)
        self.logger = logger
    }

    /// Opens (creating if needed) the database file at `path`, and its parent directory.
    /// `maxGroupSize` bounds how many transactions share one COMMIT (1 turns group commit off).
    public static func open(
        path: String, readers readerCount: Int = 2, maxGroupSize: Int = 128, logger: Logger
    ) async throws -> SQLiteStore {
        let directory = (path as NSString).deletingLastPathComponent
        let files = FileManager.default
        if !directory.isEmpty, !files.fileExists(atPath: directory) {
            try files.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // The database is the owner's alone: created 0600 (SQLite gives its -wal and -shm files the
        // database's mode), and narrowed to 0600 when an older start left it readable by others.
        if !files.fileExists(atPath: path) {
            files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        for file in [path, path + "-wal", path + "-shm"] where files.fileExists(atPath: file) {
            try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
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
        return SQLiteStore(path: path, writer: writer, readers: readers, maxGroupSize: maxGroupSize, logger: logger)
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

    /// Transactions run and COMMITs issued since the store opened: their ratio is the average
    /// commit group's size.
    public var writeStatistics: (transactions: Int, commits: Int) {
        (transactionCount.load(ordering: .relaxed), commitCount.load(ordering: .relaxed))
    }

    public func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await groupCommit.acquire()
        transactionCount.add(1, ordering: .relaxed)
        let db = writer.sql(queryLogLevel: nil)
        let group: GroupCommitWriter.Group
        let result: Result<T, any Error>
        if let open = groupCommit.openGroup {
            group = open
            group.join()
            result = await Self.member(of: group, on: db, body)
        } else {
            do {
                try await db.raw("BEGIN IMMEDIATE").run()
            } catch {
                groupCommit.release()
                throw error
            }
            group = GroupCommitWriter.Group()
            groupCommit.opened(group)
            group.join()
            // The first member needs no savepoint: nobody else is in the group yet, so when its
            // body fails the whole transaction rolls back and the group ends with it.
            do {
                result = .success(try await body(db))
            } catch {
                groupCommit.closeGroup()
                await rollback(on: db)
                group.finish(.failure(error))
                groupCommit.release()
                throw error
            }
        }
        let committed: Result<Void, any Error>
        if groupCommit.handOffOrCommit(group) {
            do { committed = .success(try await group.outcome()) } catch { committed = .failure(error) }
        } else {
            committed = await commit(group, on: db)
            group.finish(committed)
            groupCommit.release()
        }
        let value = try result.get()  // the body's own error first: it says more than the commit's
        try committed.get()
        return value
    }

    /// Runs one member's body inside a savepoint of the group's transaction: released when the
    /// body returns, rolled back (its writes only) when it throws. A savepoint that cannot be
    /// released or rolled back poisons the group.
    private static func member<T>(
        of group: GroupCommitWriter.Group, on db: any SQLDatabase, _ body: (any SQLDatabase) async throws -> T
    ) async -> Result<T, any Error> {
        do {
            try await db.raw("SAVEPOINT malha_member").run()
        } catch {
            group.poison(error)
            return .failure(error)
        }
        let value: T
        do {
            value = try await body(db)
        } catch {
            do {
                try await db.raw("ROLLBACK TO malha_member").run()
                try await db.raw("RELEASE malha_member").run()
            } catch let rollbackError {
                group.poison(rollbackError)
            }
            return .failure(error)
        }
        do {
            try await db.raw("RELEASE malha_member").run()
        } catch {
            group.poison(error)
            return .failure(error)
        }
        return .success(value)
    }

    /// Ends the group's transaction: COMMIT, or ROLLBACK when a member poisoned it or the commit
    /// failed (then no member's writes are kept, and every member is told).
    private func commit(_ group: GroupCommitWriter.Group, on db: any SQLDatabase) async -> Result<Void, any Error> {
        let failure: any Error
        if let poisoned = group.poisoned {
            failure = GroupCommitAborted(cause: String(describing: poisoned))
        } else {
            do {
                commitCount.add(1, ordering: .relaxed)
                try await db.raw("COMMIT").run()
                return .success(())
            } catch {
                failure = error
            }
        }
        await rollback(on: db)
        return .failure(failure)
    }

    private func rollback(on db: any SQLDatabase) async {
        do { try await db.raw("ROLLBACK").run() } catch {
            logger.error("rollback failed", metadata: ["error": "\(error)"])
        }
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
            // The future-returning close: it runs even when the calling task is cancelled (a service
            // group cancelled by a failed start), where the async one would throw before closing
            // and leave the connection to trip sqlite-nio's "not closed" assertion at deinit.
            let closing: EventLoopFuture<Void> = connection.close()
            try? await closing.get()
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

/// A transaction's writes were rolled back because another transaction of its commit group left the
/// database transaction in an unknown state (its savepoint could not be undone).
public struct GroupCommitAborted: Error, CustomStringConvertible {
    public var cause: String
    public var description: String { "the commit group was rolled back: \(cause)" }
}
