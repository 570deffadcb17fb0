import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import SQLKit

/// The ledger's accounts in SQL. Functions take the caller's database (a read, or the
/// transaction that also publishes and completes an `Idempotency-Key`).
enum LedgerAccounts {
    static let columns = "id, owner_id, name, currency, timezone, created_at, next_sequence"

    /// Opens an account for `ownerID` (its first entry will be sequence 1) and publishes
    /// `LedgerAccountOpened`.
    static func open(
        _ opening: AccountOpening, ownerID: String, now: Date, in db: any SQLDatabase
    ) async throws -> LedgerAccount {
        // Milliseconds computed once: what is stored, answered and published is the same instant.
        let createdMs = now.epochMilliseconds
        let account = LedgerAccount(
            id: UUID.v7(at: now).lowercased, ownerID: ownerID, name: opening.name, currency: opening.currency,
            timezone: opening.timezone, createdAt: Date(epochMilliseconds: createdMs))
        try await db.raw(
            """
            INSERT INTO ledger_accounts (id, owner_id, name, currency, timezone, next_sequence, created_at)
            VALUES (\(bind: account.id), \(bind: account.ownerID), \(bind: account.name), \(bind: account.currency),
                \(bind: account.timezone), 1, \(bind: createdMs))
            """
        ).run()
        try await Outbox.enqueue(try LedgerEvents.accountOpened(account), in: db)
        return account
    }

    static func account(id: String, in db: any SQLDatabase) async throws -> LedgerAccount? {
        try await db.raw("SELECT \(unsafeRaw: columns) FROM ledger_accounts WHERE id = \(bind: id)").first()
            .map(LedgerAccount.init(row:))
    }

    /// Accounts newest first (of `ownerID` only, when given), strictly older than the account
    /// `before`; `limit` at most.
    static func accounts(
        ownerID: String?, before: String?, limit: Int, in db: any SQLDatabase
    ) async throws -> [LedgerAccount] {
        var sql: SQLQueryString = "SELECT \(unsafeRaw: columns) FROM ledger_accounts WHERE 1 = 1"
        if let ownerID { sql += " AND owner_id = \(bind: ownerID)" }
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(LedgerAccount.init(row:))
    }

    /// Takes the account's next sequence in one statement: bumps `next_sequence` and returns the
    /// account (its `lastSequence` is the taken sequence). The UPDATE locks the row until the
    /// transaction ends (PostgreSQL's row lock; SQLite's transaction already holds the one writer),
    /// so entries of one account are numbered one after the other, without gaps: a transaction
    /// that rolls back gives its sequence back.
    static func takeSequence(id: String, in db: any SQLDatabase) async throws -> LedgerAccount? {
        try await db.raw(
            """
            UPDATE ledger_accounts SET next_sequence = next_sequence + 1 WHERE id = \(bind: id)
            RETURNING \(unsafeRaw: columns)
            """
        ).first().map(LedgerAccount.init(row:))
    }
}

extension LedgerAccount {
    init(row: any SQLRow) throws {
        self.init(
            id: try row.decode(column: "id", as: String.self),
            ownerID: try row.decode(column: "owner_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            currency: try row.decode(column: "currency", as: String.self),
            timezone: try row.decode(column: "timezone", as: String.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)),
            lastSequence: try row.decode(column: "next_sequence", as: Int64.self) - 1)
    }
}
