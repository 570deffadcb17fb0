import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import SQLKit

/// A ledger entry the projection applies: what an `ledger.entry-recorded.v1` event carries, or a
/// row of the ledger's entries API during a rebuild.
struct ProjectedEntry: Sendable, Hashable {
    var entryID: String
    var accountID: String
    var sequence: Int64
    var businessDate: String
    var entryType: LedgerEntryType
    var amountCents: Int64
    var currency: String
    var recordedAt: Date

    var signedCents: Int64 { entryType == .credit ? amountCents : -amountCents }
    var creditCents: Int64 { entryType == .credit ? amountCents : 0 }
    var debitCents: Int64 { entryType == .debit ? amountCents : 0 }
}

extension ProjectedEntry {
    init(_ event: LedgerEntryRecorded) {
        self.init(
            entryID: event.entryID, accountID: event.accountID, sequence: event.sequence, businessDate: event.businessDate,
            entryType: event.entryType, amountCents: event.amountCents, currency: event.currency,
            recordedAt: event.recordedAt)
    }
}

/// An event the projection cannot apply however often it tries (it goes to the dead letters,
/// where people see it): a sequence taken by another entry, an amount that is not positive.
struct InconsistentEvent: PermanentMessageError, CustomStringConvertible {
    var description: String
}

/// The projection from ledger events to daily balances, in SQL. Every function runs in the
/// caller's transaction (the consumer's, which also records the message in the inbox).
///
/// Concurrency: entries of one account are serialized by locking the account's row (PostgreSQL
/// `FOR UPDATE`; SQLite's transaction holds the one writer), so a day created by one entry reads
/// the closing balance every earlier entry left.
enum Projection {
    /// Records who owns an account (an entry may have created the row first).
    static func accountOpened(_ event: LedgerAccountOpened, now: Date, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO consolidation_accounts (account_id, owner_id, currency, timezone, updated_at)
            VALUES (\(bind: event.accountID), \(bind: event.ownerID), \(bind: event.currency), \(bind: event.timezone),
                \(bind: now.epochMilliseconds))
            ON CONFLICT (account_id) DO UPDATE SET owner_id = excluded.owner_id, timezone = excluded.timezone,
                updated_at = excluded.updated_at
            """
        ).run()
    }

    /// Applies `entry` once: false when it was applied before (by an earlier delivery, another
    /// message carrying the same entry, or a rebuild).
    static func apply(
        _ entry: ProjectedEntry, now: Date, backend: SQLBackendKind, in db: any SQLDatabase
    ) async throws -> Bool {
        guard entry.amountCents > 0, entry.sequence > 0, BusinessDate.parse(entry.businessDate) != nil else {
            throw InconsistentEvent(description: "entry \(entry.entryID) has an invalid amount, sequence or business date")
        }
        // The account first, then the entry: a rebuild holds the account while it writes the
        // entries it read, so claiming the entry before waiting for the account deadlocks with it.
        let account = try await lock(entry.accountID, currency: entry.currency, now: now, backend: backend, in: db)
        let claimed: Bool
        do {
            claimed = try await !db.raw(
                """
                INSERT INTO consolidation_entries
                    (entry_id, account_id, sequence, business_date, entry_type, amount_cents, recorded_at, applied_at)
                VALUES (\(bind: entry.entryID), \(bind: entry.accountID), \(bind: entry.sequence), \(bind: entry.businessDate),
                    \(bind: entry.entryType.rawValue), \(bind: entry.amountCents), \(bind: entry.recordedAt.epochMilliseconds),
                    \(bind: now.epochMilliseconds))
                ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id
                """
            ).all().isEmpty
        } catch  where SQLErrors.isUniqueViolation(error) {
            throw InconsistentEvent(
                description: "entry \(entry.entryID): account \(entry.accountID) already has sequence \(entry.sequence)")
        }
        guard claimed else { return false }
        try await add(entry, lastBusinessDate: account.lastBusinessDate, now: now, in: db)
        var freshness = account.freshness
        if entry.sequence == freshness.completeThroughSequence + 1 {
            freshness.completeThroughSequence = entry.sequence
            freshness.completeThroughRecordedAt = entry.recordedAt
            if freshness.pendingOutOfOrder > 0 {
                try await advance(&freshness, accountID: entry.accountID, in: db)
            }
        } else {
            freshness.pendingOutOfOrder += 1
        }
        freshness.latestSequenceSeen = max(freshness.latestSequenceSeen, entry.sequence)
        try await store(freshness, accountID: entry.accountID, now: now, in: db)
        return true
    }

    /// The account's row, created when an entry comes before its account-opened event, locked
    /// until the transaction ends.
    static func lock(
        _ accountID: String, currency: String, now: Date, backend: SQLBackendKind, in db: any SQLDatabase
    ) async throws -> ConsolidatedAccount {
        if let account = try await account(accountID, locking: backend == .postgres, in: db) { return account }
        try await db.raw(
            """
            INSERT INTO consolidation_accounts (account_id, currency, updated_at)
            VALUES (\(bind: accountID), \(bind: currency), \(bind: now.epochMilliseconds))
            ON CONFLICT (account_id) DO NOTHING
            """
        ).run()
        guard let account = try await account(accountID, locking: backend == .postgres, in: db) else {
            throw InconsistentEvent(description: "account \(accountID) vanished while applying an entry")
        }
        return account
    }

    static let accountColumns = """
        a.account_id, a.owner_id, a.currency, a.complete_through, a.complete_through_recorded_at, a.latest_sequence, \
        a.pending, (SELECT MAX(d.business_date) FROM daily_balances d WHERE d.account_id = a.account_id) AS last_date
        """

    static func account(_ accountID: String, locking: Bool = false, in db: any SQLDatabase) async throws -> ConsolidatedAccount? {
        // PostgreSQL refuses FOR UPDATE with an aggregate in the select list: lock first, then read.
        if locking {
            _ = try await db.raw(
                "SELECT account_id FROM consolidation_accounts WHERE account_id = \(bind: accountID)\(unsafeRaw: RowLock.forUpdate.clause(in: db))"
            ).first()
        }
        return try await db.raw(
            "SELECT \(unsafeRaw: accountColumns) FROM consolidation_accounts a WHERE a.account_id = \(bind: accountID)"
        ).first().map(ConsolidatedAccount.init(row:))
    }

    /// Adds the entry to its day (created with the previous day's closing as its opening when it
    /// has no row yet) and, for a day before the account's last one, to every later day's opening
    /// and closing: a late entry corrects every balance after it.
    static func add(_ entry: ProjectedEntry, lastBusinessDate: String?, now: Date, in db: any SQLDatabase) async throws {
        let nowMs = now.epochMilliseconds
        let updated = try await db.raw(
            """
            UPDATE daily_balances SET credits_cents = credits_cents + \(bind: entry.creditCents),
                debits_cents = debits_cents + \(bind: entry.debitCents), closing_cents = closing_cents + \(bind: entry.signedCents),
                entry_count = entry_count + 1, updated_at = \(bind: nowMs)
            WHERE account_id = \(bind: entry.accountID) AND business_date = \(bind: entry.businessDate)
            RETURNING business_date
            """
        ).all()
        if updated.isEmpty {
            let opening = try await closing(before: entry.businessDate, accountID: entry.accountID, in: db)
            try await db.raw(
                """
                INSERT INTO daily_balances (account_id, business_date, opening_cents, credits_cents, debits_cents,
                    closing_cents, entry_count, updated_at)
                VALUES (\(bind: entry.accountID), \(bind: entry.businessDate), \(bind: opening), \(bind: entry.creditCents),
                    \(bind: entry.debitCents), \(bind: opening + entry.signedCents), 1, \(bind: nowMs))
                """
            ).run()
        }
        if let lastBusinessDate, entry.businessDate < lastBusinessDate {
            try await db.raw(
                """
                UPDATE daily_balances SET opening_cents = opening_cents + \(bind: entry.signedCents),
                    closing_cents = closing_cents + \(bind: entry.signedCents), updated_at = \(bind: nowMs)
                WHERE account_id = \(bind: entry.accountID) AND business_date > \(bind: entry.businessDate)
                """
            ).run()
        }
    }

    /// The closing balance of the account's last day before `date` (0 before its first).
    static func closing(before date: String, accountID: String, in db: any SQLDatabase) async throws -> Int64 {
        try await db.raw(
            """
            SELECT closing_cents FROM daily_balances WHERE account_id = \(bind: accountID) AND business_date < \(bind: date)
            ORDER BY business_date DESC LIMIT 1
            """
        ).first()?.decode(column: "closing_cents", as: Int64.self) ?? 0
    }

    /// Moves `completeThroughSequence` over the applied entries that follow it without a gap.
    static func advance(_ freshness: inout Freshness, accountID: String, in db: any SQLDatabase) async throws {
        while freshness.pendingOutOfOrder > 0 {
            let rows = try await db.raw(
                """
                SELECT sequence, recorded_at FROM consolidation_entries
                WHERE account_id = \(bind: accountID) AND sequence > \(bind: freshness.completeThroughSequence)
                ORDER BY sequence LIMIT 500
                """
            ).all()
            var moved = false
            for row in rows {
                let sequence = try row.decode(column: "sequence", as: Int64.self)
                guard sequence == freshness.completeThroughSequence + 1 else { return }
                freshness.completeThroughSequence = sequence
                freshness.completeThroughRecordedAt = Date(
                    epochMilliseconds: try row.decode(column: "recorded_at", as: Int64.self))
                freshness.pendingOutOfOrder -= 1
                moved = true
            }
            if !moved || rows.count < 500 { return }
        }
    }

    static func store(_ freshness: Freshness, accountID: String, now: Date, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE consolidation_accounts SET complete_through = \(bind: freshness.completeThroughSequence),
                complete_through_recorded_at = \(bind: freshness.completeThroughRecordedAt?.epochMilliseconds),
                latest_sequence = \(bind: freshness.latestSequenceSeen), pending = \(bind: freshness.pendingOutOfOrder),
                updated_at = \(bind: now.epochMilliseconds)
            WHERE account_id = \(bind: accountID)
            """
        ).run()
    }
}

extension ConsolidatedAccount {
    init(row: any SQLRow) throws {
        self.init(
            id: try row.decode(column: "account_id", as: String.self),
            ownerID: try row.decode(column: "owner_id", as: String?.self),
            currency: try row.decode(column: "currency", as: String.self),
            freshness: Freshness(
                completeThroughSequence: try row.decode(column: "complete_through", as: Int64.self),
                completeThroughRecordedAt: try row.decode(column: "complete_through_recorded_at", as: Int64?.self)
                    .map(Date.init(epochMilliseconds:)),
                latestSequenceSeen: try row.decode(column: "latest_sequence", as: Int64.self),
                pendingOutOfOrder: try row.decode(column: "pending", as: Int64.self)),
            lastBusinessDate: try row.decode(column: "last_date", as: String?.self))
    }
}
