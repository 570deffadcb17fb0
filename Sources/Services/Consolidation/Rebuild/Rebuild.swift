import Contracts
public import Foundation
import MalhaCore
import MalhaStore
import SQLKit

/// What a verification (or a rebuild) found for an account over a range of business days.
public struct RebuildReport: Sendable, Codable {
    public struct Figures: Sendable, Hashable, Codable {
        public var openingCents: Int64
        public var creditsCents: Int64
        public var debitsCents: Int64
        public var closingCents: Int64
        public var entryCount: Int64

        enum CodingKeys: String, CodingKey {
            case openingCents = "opening_balance_cents"
            case creditsCents = "credits_cents"
            case debitsCents = "debits_cents"
            case closingCents = "closing_balance_cents"
            case entryCount = "entry_count"
        }
    }

    public struct Difference: Sendable, Hashable, Codable {
        public var date: String
        /// What the ledger's entries make of the day.
        public var expected: Figures
        /// What the consolidation held (nil: no row for the day).
        public var actual: Figures?

        enum CodingKeys: String, CodingKey { case date, expected, actual }

        /// `actual` is written as `null` when absent: the keys never vary.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(date, forKey: .date)
            try container.encode(expected, forKey: .expected)
            try container.encode(actual, forKey: .actual)
        }
    }

    public var accountID: String
    public var from: String?
    public var to: String?
    /// "verify" (nothing written) or "rebuild".
    public var mode: String
    /// True when the consolidation held exactly what the ledger says.
    public var consistent: Bool
    public var ledgerEntries: Int
    public var daysChecked: Int
    public var differences: [Difference]
    /// Entries the ledger has and the consolidation had not applied (the first 100).
    public var missingEntries: [String]
    public var missingEntryCount: Int
    /// Entries the consolidation had and the ledger does not (the first 100).
    public var unexpectedEntries: [String]
    public var unexpectedEntryCount: Int
    /// A rebuild that found differences wrote the ledger's figures.
    public var repaired: Bool

    enum CodingKeys: String, CodingKey {
        case from, to, mode, consistent, differences, repaired
        case accountID = "account_id"
        case ledgerEntries = "ledger_entries"
        case daysChecked = "days_checked"
        case missingEntries = "missing_entries"
        case missingEntryCount = "missing_entry_count"
        case unexpectedEntries = "unexpected_entries"
        case unexpectedEntryCount = "unexpected_entry_count"
    }

    /// The report of a range that holds no day (`from` after `to`): nothing compared, nothing written.
    static func empty(accountID: String, from: String, to: String, repair: Bool) -> RebuildReport {
        RebuildReport(
            accountID: accountID, from: from, to: to, mode: repair ? "rebuild" : "verify", consistent: true, ledgerEntries: 0,
            daysChecked: 0, differences: [], missingEntries: [], missingEntryCount: 0, unexpectedEntries: [],
            unexpectedEntryCount: 0, repaired: false)
    }

    /// Open ends of the range are written as `null`: the keys never vary.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accountID, forKey: .accountID)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(mode, forKey: .mode)
        try container.encode(consistent, forKey: .consistent)
        try container.encode(ledgerEntries, forKey: .ledgerEntries)
        try container.encode(daysChecked, forKey: .daysChecked)
        try container.encode(differences, forKey: .differences)
        try container.encode(missingEntries, forKey: .missingEntries)
        try container.encode(missingEntryCount, forKey: .missingEntryCount)
        try container.encode(unexpectedEntries, forKey: .unexpectedEntries)
        try container.encode(unexpectedEntryCount, forKey: .unexpectedEntryCount)
        try container.encode(repaired, forKey: .repaired)
    }
}

/// Verifies and rebuilds an account's balances from the ledger's entries: the ledger is the
/// record, the balances a view of it that can always be made again.
///
/// The range is `from…to` in business days (either end open; both open: the whole account).
/// Days before `from` are trusted: the range's first opening is the stored closing before it.
/// Entries recorded after the ledger was read (a sequence above the account's last sequence, read
/// before its entries) are left as they are, so a rebuild under load never removes an entry it
/// simply had not seen yet.
enum Rebuild {
    static func run(
        accountID: String, from: String?, to: String?, repair: Bool, ledgerAccount: LedgerReader.Account,
        ledgerEntries: [ProjectedEntry], now: Date, store: any SQLStore
    ) async throws -> RebuildReport {
        let backend = store.backend
        return try await store.transaction { db in
            if repair {
                // The owner too: a rebuild can bring back an account whose events never arrived.
                try await Projection.accountOpened(
                    LedgerAccountOpened(
                        accountID: accountID, ownerID: ledgerAccount.ownerID, name: "", currency: ledgerAccount.currency,
                        timezone: ledgerAccount.timezone, openedAt: now), now: now, in: db)
                _ = try await Projection.lock(accountID, currency: ledgerAccount.currency, now: now, backend: backend, in: db)
            }
            let stored = try await storedEntries(accountID, from: from, to: to, in: db)
            // Every entry up to the account's last sequence when it was read (before its entries)
            // was committed then, so one of those the ledger did not list is not the ledger's.
            let highestRead = max(ledgerAccount.lastSequence ?? 0, ledgerEntries.map(\.sequence).max() ?? 0)
            let ledgerIDs = Set(ledgerEntries.map(\.entryID))
            let storedIDs = Set(stored.map(\.entryID))
            let missing = ledgerEntries.filter { !storedIDs.contains($0.entryID) }
            let unexpected = stored.filter { $0.sequence <= highestRead && !ledgerIDs.contains($0.entryID) }
            // What the days should hold: the ledger's entries, and the ones recorded since it was read.
            let expectedEntries = ledgerEntries + stored.filter { $0.sequence > highestRead }
            let storedDays = try await BalanceQueries.storedDays(from: from, accountID: accountID, in: db)
            let base = try await opening(of: from, accountID: accountID, in: db)
            let differences = compare(expectedEntries, storedDays, base: base, to: to)
            var report = RebuildReport(
                accountID: accountID, from: from, to: to, mode: repair ? "rebuild" : "verify",
                consistent: differences.isEmpty && missing.isEmpty && unexpected.isEmpty, ledgerEntries: ledgerEntries.count,
                daysChecked: Set(expectedEntries.map(\.businessDate)).union(storedDays.map(\.date)).count,
                differences: differences, missingEntries: missing.prefix(100).map(\.entryID),
                missingEntryCount: missing.count, unexpectedEntries: unexpected.prefix(100).map(\.entryID),
                unexpectedEntryCount: unexpected.count, repaired: false)
            guard repair, !report.consistent else { return report }
            try await rewrite(
                accountID: accountID, from: from, to: to, missing: missing, unexpected: unexpected, now: now, in: db)
            report.repaired = true
            return report
        }
    }

    /// The account's applied entries with a business date in the range.
    static func storedEntries(
        _ accountID: String, from: String?, to: String?, in db: any SQLDatabase
    ) async throws
        -> [ProjectedEntry]
    {
        var sql: SQLQueryString = """
            SELECT entry_id, sequence, business_date, entry_type, amount_cents, recorded_at FROM consolidation_entries
            WHERE account_id = \(bind: accountID)
            """
        if let from { sql += " AND business_date >= \(bind: from)" }
        if let to { sql += " AND business_date <= \(bind: to)" }
        return try await db.raw(sql).all().map { row in
            ProjectedEntry(
                entryID: try row.decode(column: "entry_id", as: String.self), accountID: accountID,
                sequence: try row.decode(column: "sequence", as: Int64.self),
                businessDate: try row.decode(column: "business_date", as: String.self),
                entryType: LedgerEntryType(rawValue: try row.decode(column: "entry_type", as: String.self)) ?? .credit,
                amountCents: try row.decode(column: "amount_cents", as: Int64.self), currency: "",
                recordedAt: Date(epochMilliseconds: try row.decode(column: "recorded_at", as: Int64.self)))
        }
    }

    /// The days (from `from` on) where the stored rows differ from what `entries` make of them.
    /// Inside the range every figure is checked; after `to`, only that each opening is the
    /// previous closing (the entries of those days were not read).
    static func compare(
        _ entries: [ProjectedEntry], _ stored: [DayBalance], base: Int64, to: String?
    )
        -> [RebuildReport.Difference]
    {
        var totals: [String: (credits: Int64, debits: Int64, count: Int64)] = [:]
        for entry in entries {
            var day = totals[entry.businessDate] ?? (0, 0, 0)
            day.credits += entry.creditCents
            day.debits += entry.debitCents
            day.count += 1
            totals[entry.businessDate] = day
        }
        let storedByDate = Dictionary(uniqueKeysWithValues: stored.map { ($0.date, $0) })
        let dates = Set(totals.keys).union(storedByDate.keys).sorted()
        var differences: [RebuildReport.Difference] = []
        var closing = base
        for date in dates {
            let actual = storedByDate[date].map {
                RebuildReport.Figures(
                    openingCents: $0.openingCents, creditsCents: $0.creditsCents, debitsCents: $0.debitsCents,
                    closingCents: $0.closingCents, entryCount: $0.entryCount)
            }
            let expected: RebuildReport.Figures
            if let to, date > to, let actual {
                // Outside the range: the day's own movement is taken as stored.
                expected = RebuildReport.Figures(
                    openingCents: closing, creditsCents: actual.creditsCents, debitsCents: actual.debitsCents,
                    closingCents: closing + actual.creditsCents - actual.debitsCents, entryCount: actual.entryCount)
            } else {
                let day = totals[date] ?? (0, 0, 0)
                expected = RebuildReport.Figures(
                    openingCents: closing, creditsCents: day.credits, debitsCents: day.debits,
                    closingCents: closing + day.credits - day.debits, entryCount: day.count)
            }
            closing = expected.closingCents
            // A stored day without entries is not wrong as long as it is quiet and carries the balance.
            let quietAndRight = actual == nil && expected.entryCount == 0
            if actual != expected && !quietAndRight {
                differences.append(.init(date: date, expected: expected, actual: actual))
            }
        }
        return differences
    }

    /// Makes the stored entries the ledger's, then every day of the range from them and every
    /// later day's opening and closing, then the account's freshness.
    static func rewrite(
        accountID: String, from: String?, to: String?, missing: [ProjectedEntry], unexpected: [ProjectedEntry], now: Date,
        in db: any SQLDatabase
    ) async throws {
        let nowMs = now.epochMilliseconds
        for entry in unexpected {
            try await db.raw("DELETE FROM consolidation_entries WHERE entry_id = \(bind: entry.entryID)").run()
        }
        for entry in missing {
            try await db.raw(
                """
                INSERT INTO consolidation_entries
                    (entry_id, account_id, sequence, business_date, entry_type, amount_cents, recorded_at, applied_at)
                VALUES (\(bind: entry.entryID), \(bind: accountID), \(bind: entry.sequence), \(bind: entry.businessDate),
                    \(bind: entry.entryType.rawValue), \(bind: entry.amountCents), \(bind: entry.recordedAt.epochMilliseconds),
                    \(bind: nowMs))
                ON CONFLICT (entry_id) DO NOTHING
                """
            ).run()
        }
        var range: SQLQueryString = ""
        if let from { range += " AND business_date >= \(bind: from)" }
        if let to { range += " AND business_date <= \(bind: to)" }
        try await db.raw("DELETE FROM daily_balances WHERE account_id = \(bind: accountID)" + range).run()
        try await db.raw(
            """
            INSERT INTO daily_balances (account_id, business_date, opening_cents, credits_cents, debits_cents,
                closing_cents, entry_count, updated_at)
            SELECT account_id, business_date, 0, credits, debits, credits - debits, n, \(bind: nowMs) FROM (
                SELECT account_id, business_date,
                    CAST(SUM(CASE WHEN entry_type = 'credit' THEN amount_cents ELSE 0 END) AS BIGINT) AS credits,
                    CAST(SUM(CASE WHEN entry_type = 'debit' THEN amount_cents ELSE 0 END) AS BIGINT) AS debits,
                    COUNT(*) AS n
                FROM consolidation_entries WHERE account_id = \(bind: accountID)
            """ + range + " GROUP BY account_id, business_date) AS days"
        ).run()
        // Chain every day from the range on: opening = the previous day's closing.
        var closing = try await opening(of: from, accountID: accountID, in: db)
        for day in try await BalanceQueries.storedDays(from: from, accountID: accountID, in: db) {
            let opening = closing
            closing = opening + day.creditsCents - day.debitsCents
            guard day.openingCents != opening || day.closingCents != closing else { continue }
            try await db.raw(
                """
                UPDATE daily_balances SET opening_cents = \(bind: opening), closing_cents = \(bind: closing),
                    updated_at = \(bind: nowMs)
                WHERE account_id = \(bind: accountID) AND business_date = \(bind: day.date)
                """
            ).run()
        }
        try await Projection.store(try await freshness(accountID, in: db), accountID: accountID, now: now, in: db)
    }

    /// The balance the range opens with: the stored closing before `from` (0 for the whole account).
    static func opening(of from: String?, accountID: String, in db: any SQLDatabase) async throws -> Int64 {
        guard let from else { return 0 }
        return try await Projection.closing(before: from, accountID: accountID, in: db)
    }

    /// The account's freshness recomputed from every applied entry.
    static func freshness(_ accountID: String, in db: any SQLDatabase) async throws -> Freshness {
        let rows = try await db.raw(
            "SELECT sequence, recorded_at FROM consolidation_entries WHERE account_id = \(bind: accountID) ORDER BY sequence"
        ).all()
        var freshness = Freshness(
            completeThroughSequence: 0, completeThroughRecordedAt: nil, latestSequenceSeen: 0, pendingOutOfOrder: 0)
        for row in rows {
            let sequence = try row.decode(column: "sequence", as: Int64.self)
            if sequence == freshness.completeThroughSequence + 1 && freshness.pendingOutOfOrder == 0 {
                freshness.completeThroughSequence = sequence
                freshness.completeThroughRecordedAt = Date(
                    epochMilliseconds: try row.decode(column: "recorded_at", as: Int64.self))
            } else {
                freshness.pendingOutOfOrder += 1
            }
            freshness.latestSequenceSeen = sequence
        }
        return freshness
    }
}
