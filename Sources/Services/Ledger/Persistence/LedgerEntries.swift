import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import SQLKit

/// What a new entry holds before the ledger numbers it and dates it.
struct NewEntry: Sendable, Hashable {
    var type: LedgerEntryType
    var amountCents: Int64
    var description: String?
    var category: String?
    var occurredAt: Date
    var reversesEntryID: String?
}

/// The ledger's entries in SQL: appended, read, never changed (the schema refuses UPDATE and
/// DELETE on them).
enum LedgerEntries {
    static let columns = """
        id, account_id, sequence, entry_type, amount_cents, currency, description, category, occurred_at, \
        business_date, reverses_entry_id, created_at
        """

    /// Appends `draft` as the account's next entry and publishes `LedgerEntryRecorded`, in the
    /// caller's transaction. Throws `LedgerRefusal.accountNotFound` for an unknown account.
    static func append(
        _ draft: EntryDraft, to accountID: String, now: Date, in db: any SQLDatabase
    ) async throws -> LedgerEntry {
        guard let account = try await LedgerAccounts.takeSequence(id: accountID, in: db) else {
            throw LedgerRefusal.accountNotFound
        }
        let entry = NewEntry(
            type: draft.type, amountCents: draft.amountCents, description: draft.description, category: draft.category,
            occurredAt: draft.occurredAt ?? now, reversesEntryID: nil)
        return try await insert(entry, into: account, now: now, in: db)
    }

    /// Appends the reversal of entry `entryID` (same amount, the other type, same category) and
    /// publishes it, in the caller's transaction. The account is locked before the check for an
    /// existing reversal, so two concurrent reversals of one entry run one after the other and
    /// the second sees the first; the UNIQUE `reverses_entry_id` backs that up.
    static func reverse(
        _ entryID: String, with draft: ReversalDraft, now: Date, in db: any SQLDatabase
    ) async throws -> LedgerEntry {
        guard let original = try await entry(id: entryID, in: db) else { throw LedgerRefusal.entryNotFound }
        guard !original.isReversal else { throw LedgerRefusal.cannotReverseAReversal }
        // Taking the sequence locks the account: a concurrent reversal of the same entry waits here
        // and then sees this one (a refusal rolls the taken sequence back).
        guard let account = try await LedgerAccounts.takeSequence(id: original.accountID, in: db) else {
            throw LedgerRefusal.accountNotFound
        }
        if let existing = try await reversal(of: entryID, in: db) {
            throw LedgerRefusal.alreadyReversed(reversalID: existing.id)
        }
        let reversal = NewEntry(
            type: original.type.opposite, amountCents: original.amountCents,
            description: draft.description ?? LedgerEntry.reversalDescription(of: original.id), category: original.category,
            occurredAt: draft.occurredAt ?? now, reversesEntryID: original.id)
        return try await insert(reversal, into: account, now: now, in: db)
    }

    /// Inserts the entry with the sequence `account` was just given (`lastSequence`, taken with
    /// the lock) and its event.
    private static func insert(
        _ new: NewEntry, into account: LedgerAccount, now: Date, in db: any SQLDatabase
    ) async throws -> LedgerEntry {
        guard let timeZone = TimeZone(identifier: account.timezone) else {
            throw CorruptRow(detail: "account \(account.id) has time zone \(account.timezone)")
        }
        let sequence = account.lastSequence
        // Truncated to the millisecond once: the business date, the row, the response and the
        // event all describe the same stored instant.
        let occurredMs = new.occurredAt.epochMilliseconds
        let createdMs = now.epochMilliseconds
        let occurredAt = Date(epochMilliseconds: occurredMs)
        let entry = LedgerEntry(
            id: UUID.v7(at: now).lowercased, accountID: account.id, sequence: sequence, type: new.type,
            amountCents: new.amountCents, currency: account.currency, description: new.description, category: new.category,
            occurredAt: occurredAt, businessDate: BusinessDate.of(occurredAt, in: timeZone),
            reversesEntryID: new.reversesEntryID, createdAt: Date(epochMilliseconds: createdMs))
        try await db.raw(
            """
            INSERT INTO ledger_entries (\(unsafeRaw: columns))
            VALUES (\(bind: entry.id), \(bind: entry.accountID), \(bind: entry.sequence), \(bind: entry.type.rawValue),
                \(bind: entry.amountCents), \(bind: entry.currency), \(bind: entry.description), \(bind: entry.category),
                \(bind: occurredMs), \(bind: entry.businessDate), \(bind: entry.reversesEntryID), \(bind: createdMs))
            """
        ).run()
        try await Outbox.enqueue(try LedgerEvents.entryRecorded(entry), in: db)
        return entry
    }

    static func entry(id: String, in db: any SQLDatabase) async throws -> LedgerEntry? {
        try await db.raw("SELECT \(unsafeRaw: columns) FROM ledger_entries WHERE id = \(bind: id)").first()
            .map(LedgerEntry.init(row:))
    }

    static func reversal(of entryID: String, in db: any SQLDatabase) async throws -> LedgerEntry? {
        try await db.raw("SELECT \(unsafeRaw: columns) FROM ledger_entries WHERE reverses_entry_id = \(bind: entryID)")
            .first().map(LedgerEntry.init(row:))
    }

    /// Which of an account's entries a list shows.
    struct Filter: Sendable, Hashable {
        /// Business dates, inclusive.
        var from: String?
        var to: String?
        var type: LedgerEntryType?
        var category: String?
    }

    /// The account's entries that pass `filter`, by sequence, after sequence `after`; `limit` at most.
    static func entries(
        accountID: String, filter: Filter, after: Int64?, limit: Int, in db: any SQLDatabase
    ) async throws -> [LedgerEntry] {
        var sql: SQLQueryString = "SELECT \(unsafeRaw: columns) FROM ledger_entries WHERE account_id = \(bind: accountID)"
        if let from = filter.from { sql += " AND business_date >= \(bind: from)" }
        if let to = filter.to { sql += " AND business_date <= \(bind: to)" }
        if let type = filter.type { sql += " AND entry_type = \(bind: type.rawValue)" }
        if let category = filter.category { sql += " AND category = \(bind: category)" }
        if let after { sql += " AND sequence > \(bind: after)" }
        sql += " ORDER BY sequence LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(LedgerEntry.init(row:))
    }
}

/// A stored value this code never writes (a hand edit, a newer version's row).
struct CorruptRow: Error, CustomStringConvertible {
    var detail: String
    var description: String { "a ledger row holds values this version does not know: \(detail)" }
}

extension LedgerEntry {
    init(row: any SQLRow) throws {
        let rawType = try row.decode(column: "entry_type", as: String.self)
        guard let type = LedgerEntryType(rawValue: rawType) else { throw CorruptRow(detail: "entry_type \(rawType)") }
        self.init(
            id: try row.decode(column: "id", as: String.self),
            accountID: try row.decode(column: "account_id", as: String.self),
            sequence: try row.decode(column: "sequence", as: Int64.self),
            type: type,
            amountCents: try row.decode(column: "amount_cents", as: Int64.self),
            currency: try row.decode(column: "currency", as: String.self),
            description: try row.decode(column: "description", as: String?.self),
            category: try row.decode(column: "category", as: String?.self),
            occurredAt: Date(epochMilliseconds: try row.decode(column: "occurred_at", as: Int64.self)),
            businessDate: try row.decode(column: "business_date", as: String.self),
            reversesEntryID: try row.decode(column: "reverses_entry_id", as: String?.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }
}
