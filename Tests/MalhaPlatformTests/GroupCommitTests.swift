import Foundation
import Logging
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

/// SQLite's group commit: transactions that queue for the writer share one COMMIT, and still each
/// commit or fail on their own.
@Suite("SQLite group commit")
struct GroupCommitTests {
    static let logger = Logger(label: "malha.test.group-commit")

    static func store() async throws -> SQLiteStore {
        let store = try await TestDatabases.sqlite()
        try await store.transaction { db in
            try await db.raw("CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT NOT NULL)").run()
        }
        return store
    }

    /// The ids in `items`, read through a fresh store on the same file (what survived the process).
    static func durableIDs(_ store: SQLiteStore) async throws -> Set<Int> {
        let reopened = try await SQLiteStore.open(path: store.path, logger: logger)
        defer { Task { await reopened.close() } }
        let rows = try await reopened.read { db in try await db.raw("SELECT id FROM items").all() }
        return Set(try rows.map { try $0.decode(column: "id", as: Int.self) })
    }

    /// Holds the writer until `open` is called: everything started meanwhile queues behind it.
    final class Gate: Sendable {
        private let signal = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let opened = Atomic<Bool>(false)

        func wait() async {
            await withCheckedContinuation { continuation in
                let now = signal.withLock { slot -> Bool in
                    if opened.load(ordering: .acquiring) { return true }
                    slot = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }

        func open() {
            let waiter = signal.withLock { slot -> CheckedContinuation<Void, Never>? in
                opened.store(true, ordering: .releasing)
                defer { slot = nil }
                return slot
            }
            waiter?.resume()
        }
    }

    struct Refused: Error {}

    final class Recorder<Value: Sendable>: Sendable {
        let values: Mutex<Value>
        init(_ value: Value) { values = Mutex(value) }
        var snapshot: Value { values.withLock { $0 } }
    }

    @Test func queuedTransactionsShareOneCommitAndAllSurvive() async throws {
        let store = try await Self.store()
        defer { Task { await store.close() } }
        let before = store.writeStatistics
        let gate = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await store.transaction { db in
                    try await db.raw("INSERT INTO items (id, note) VALUES (0, 'holder')").run()
                    await gate.wait()
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            for id in 1...60 {
                group.addTask {
                    try await store.transaction { db in
                        try await db.raw("INSERT INTO items (id, note) VALUES (\(bind: id), 'member')").run()
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            gate.open()
            try await group.waitForAll()
        }
        let after = store.writeStatistics
        #expect(after.transactions - before.transactions == 61)
        // Everyone queued behind the holder joins its group: far fewer commits than transactions.
        #expect(after.commits - before.commits <= 5)
        #expect(try await Self.durableIDs(store) == Set(0...60))
    }

    @Test func aFailingMemberUndoesOnlyItsOwnWrites() async throws {
        let store = try await Self.store()
        defer { Task { await store.close() } }
        let gate = Gate()
        let outcomes = Recorder<[Int: Bool]>([:])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try? await store.transaction { db in
                    try await db.raw("INSERT INTO items (id, note) VALUES (0, 'holder')").run()
                    await gate.wait()
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
            for id in 1...30 {
                group.addTask {
                    do {
                        try await store.transaction { db in
                            try await db.raw("INSERT INTO items (id, note) VALUES (\(bind: id), 'member')").run()
                            if id % 3 == 0 { throw Refused() }
                            if id % 7 == 0 {  // a constraint failure after a write of its own
                                try await db.raw("INSERT INTO items (id, note) VALUES (0, 'again')").run()
                            }
                        }
                        outcomes.values.withLock { $0[id] = true }
                    } catch {
                        outcomes.values.withLock { $0[id] = false }
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
            gate.open()
        }
        let expected = Set([0] + (1...30).filter { $0 % 3 != 0 && $0 % 7 != 0 })
        #expect(Set(outcomes.snapshot.filter(\.value).keys).union([0]) == expected)
        #expect(try await Self.durableIDs(store) == expected)
    }

    /// A member that wrecks the group's transaction (here: a ROLLBACK of its own) must not leave
    /// earlier members believing their writes committed.
    @Test func aWreckedGroupFailsEveryMemberItRolledBack() async throws {
        let store = try await Self.store()
        defer { Task { await store.close() } }
        let gate = Gate()
        let succeeded = Recorder<Set<Int>>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await store.transaction { db in
                        try await db.raw("INSERT INTO items (id, note) VALUES (0, 'holder')").run()
                        await gate.wait()
                    }
                    succeeded.values.withLock { _ = $0.insert(0) }
                } catch {}
            }
            try? await Task.sleep(for: .milliseconds(50))
            for id in 1...20 {
                group.addTask {
                    do {
                        try await store.transaction { db in
                            try await db.raw("INSERT INTO items (id, note) VALUES (\(bind: id), 'member')").run()
                            if id == 10 { try await db.raw("ROLLBACK").run() }
                        }
                        succeeded.values.withLock { _ = $0.insert(id) }
                    } catch {}
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
            gate.open()
        }
        let durable = try await Self.durableIDs(store)
        let reported = succeeded.snapshot
        #expect(reported == durable, "every success must be durable, every failure absent")
        #expect(!reported.contains(10))
        #expect(!reported.contains(0), "the holder was in the wrecked group")
        // The store is still usable afterwards.
        try await store.transaction { db in try await db.raw("INSERT INTO items (id, note) VALUES (99, 'after')").run() }
        #expect(try await Self.durableIDs(store).contains(99))
    }

    @Test func aTransactionCancelledWhileQueuedNeverRunsAndBlocksNobody() async throws {
        let store = try await Self.store()
        defer { Task { await store.close() } }
        let gate = Gate()
        let holder = Task {
            try await store.transaction { db in
                try await db.raw("INSERT INTO items (id, note) VALUES (0, 'holder')").run()
                await gate.wait()
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelled = Task {
            try await store.transaction { db in try await db.raw("INSERT INTO items (id, note) VALUES (1, 'x')").run() }
        }
        let later = Task {
            try await store.transaction { db in try await db.raw("INSERT INTO items (id, note) VALUES (2, 'y')").run() }
        }
        try await Task.sleep(for: .milliseconds(100))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        gate.open()
        try await holder.value
        try await later.value
        #expect(try await Self.durableIDs(store) == [0, 2])
    }
}
