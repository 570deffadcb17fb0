public import Foundation
public import Logging
import MalhaCore
public import SQLKit

/// `Idempotency-Key` for unsafe requests (checkout, ledger entries): the same key with the same
/// request returns the first response; with another request, a 422; while the first is still
/// running, a 409. Keys live in the service's own database, so the response is stored in the same
/// transaction as the effect it describes — a retry after a crash either finds both or neither.
///
/// Use: `claim` before doing the work; do the work and `complete` in one transaction; `release`
/// when the work failed without an effect (the client may then retry with the same key).
public enum IdempotencyKeys {
    public static let component = "idempotency"

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "idempotency keys",
            [
                """
                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    state TEXT NOT NULL,
                    status INTEGER,
                    response TEXT,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (scope, idempotency_key))
                """
            ])
    ]

    public static func migrate(_ store: some SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, component: component, logger: logger)
    }

    public enum Claim: Sendable, Hashable {
        /// This request owns the key: do the work, then `complete` (or `release`).
        case claimed
        /// The key was used for this same request: answer with the stored response.
        case replay(status: Int, response: String)
        /// The first request with this key is still running.
        case inProgress
        /// The key was used for a different request.
        case mismatch
    }

    /// Whether `key` is acceptable: 1 to 255 visible ASCII characters.
    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Claims `key` within `scope` (say, the customer) for a request whose canonical form hashes to
    /// `requestHash`. A claim older than `abandonAfter` that never completed (its process died) is
    /// taken over.
    public static func claim(
        scope: String, key: String, requestHash: String, now: Date, abandonAfter: Duration = .seconds(60),
        in store: any SQLStore
    ) async throws -> Claim {
        try await store.transaction { db -> Claim in
            try await claim(scope: scope, key: key, requestHash: requestHash, now: now, abandonAfter: abandonAfter, in: db)
        }
    }

    /// Claims `key` in the caller's transaction, for work that is all in that transaction: the
    /// claim, the effect and `complete` commit together, and a failure rolls the claim back with
    /// the rest (nothing to release). A concurrent request with the same key waits for this
    /// transaction (the unique key's lock on PostgreSQL, the one writer on SQLite) and then finds
    /// the key done: it answers with the replay instead of 409.
    public static func claim(
        scope: String, key: String, requestHash: String, now: Date, abandonAfter: Duration = .seconds(60),
        in db: any SQLDatabase
    ) async throws -> Claim {
        let inserted = try await db.raw(
            """
            INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, created_at)
            VALUES (\(bind: scope), \(bind: key), \(bind: requestHash), 'in_progress', \(bind: now.epochMilliseconds))
            ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING scope
            """
        ).all()
        if !inserted.isEmpty { return .claimed }
        guard
            let row = try await db.raw(
                """
                SELECT request_hash, state, status, response, created_at FROM idempotency_keys
                WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key)
                """
            ).first()
        else { return .inProgress }  // released between the two statements: let the client retry
        if let answer = try judge(row, requestHash: requestHash, now: now, abandonAfter: abandonAfter) { return answer }
        try await db.raw(
            """
            UPDATE idempotency_keys SET created_at = \(bind: now.epochMilliseconds)
            WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key) AND state = 'in_progress'
            """
        ).run()
        return .claimed
    }

    /// What the key already stands for, without claiming it: nil when it is free (or its claim was
    /// abandoned), otherwise the answer a claim would give. Lets a request that must do slow work
    /// outside the transaction (a price lookup) answer a repeat before doing it.
    public static func existing(
        scope: String, key: String, requestHash: String, now: Date, abandonAfter: Duration = .seconds(60),
        in db: any SQLDatabase
    ) async throws -> Claim? {
        guard
            let row = try await db.raw(
                """
                SELECT request_hash, state, status, response, created_at FROM idempotency_keys
                WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key)
                """
            ).first()
        else { return nil }
        return try judge(row, requestHash: requestHash, now: now, abandonAfter: abandonAfter)
    }

    /// The answer a stored key gives to a request hashing to `requestHash`; nil when the key's
    /// claim never completed and is older than `abandonAfter` (its process died): it may be taken.
    static func judge(_ row: some SQLRow, requestHash: String, now: Date, abandonAfter: Duration) throws -> Claim? {
        guard try row.decode(column: "request_hash", as: String.self) == requestHash else { return .mismatch }
        if try row.decode(column: "state", as: String.self) == "done" {
            return .replay(
                status: try row.decode(column: "status", as: Int.self),
                response: try row.decode(column: "response", as: String.self))
        }
        let claimedAt = Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self))
        return now.timeIntervalSince(claimedAt) >= abandonAfter.seconds ? nil : .inProgress
    }

    /// Stores the response of the claimed request, in the transaction of its effect.
    public static func complete(
        scope: String, key: String, status: Int, response: String, in db: any SQLDatabase
    ) async throws {
        try await db.raw(
            """
            UPDATE idempotency_keys SET state = 'done', status = \(bind: status), response = \(bind: response)
            WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key)
            """
        ).run()
    }

    /// Gives up a claim whose work failed without an effect.
    public static func release(scope: String, key: String, in store: any SQLStore) async throws {
        try await store.transaction { db in
            try await db.raw(
                """
                DELETE FROM idempotency_keys
                WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key) AND state = 'in_progress'
                """
            ).run()
        }
    }
}
