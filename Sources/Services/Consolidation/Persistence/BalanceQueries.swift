import Contracts
import Foundation
import MalhaStore
import SQLKit

/// Reads of the daily balances. Days without a row are filled in: before the account's first
/// day they are zero, after a day they carry its closing forward.
enum BalanceQueries {
    static let dayColumns = "business_date, opening_cents, credits_cents, debits_cents, closing_cents, entry_count"

    /// The figures of `date`.
    static func day(_ date: String, accountID: String, in db: any SQLDatabase) async throws -> DayBalance {
        let row = try await db.raw(
            """
            SELECT \(unsafeRaw: dayColumns) FROM daily_balances
            WHERE account_id = \(bind: accountID) AND business_date <= \(bind: date)
            ORDER BY business_date DESC LIMIT 1
            """
        ).first()
        guard let latest = try row.map(DayBalance.init(row:)) else { return .quiet(date, balance: 0) }
        return latest.date == date ? latest : .quiet(date, balance: latest.closingCents)
    }

    /// Every day from `from` through `to` (inclusive, `from` ≤ `to`).
    static func days(from: String, to: String, accountID: String, in db: any SQLDatabase) async throws -> [DayBalance] {
        let stored = try await db.raw(
            """
            SELECT \(unsafeRaw: dayColumns) FROM daily_balances
            WHERE account_id = \(bind: accountID) AND business_date >= \(bind: from) AND business_date <= \(bind: to)
            ORDER BY business_date
            """
        ).all().map(DayBalance.init(row:))
        var balance = try await Projection.closing(before: from, accountID: accountID, in: db)
        var byDate = Dictionary(uniqueKeysWithValues: stored.map { ($0.date, $0) })
        var days: [DayBalance] = []
        // Counted, not compared as text: the day after 9999-12-31 is "10000-01-01", which sorts before it.
        let count = BusinessDate.distance(from: from, to: to) + 1
        days.reserveCapacity(max(0, count))
        for offset in 0..<max(0, count) {
            let date = BusinessDate.adding(offset, to: from)
            let day = byDate.removeValue(forKey: date) ?? .quiet(date, balance: balance)
            balance = day.closingCents
            days.append(day)
        }
        return days
    }

    /// The stored rows of days on or after `from` (all days when nil), in date order.
    static func storedDays(from: String?, accountID: String, in db: any SQLDatabase) async throws -> [DayBalance] {
        var sql: SQLQueryString = "SELECT \(unsafeRaw: dayColumns) FROM daily_balances WHERE account_id = \(bind: accountID)"
        if let from { sql += " AND business_date >= \(bind: from)" }
        sql += " ORDER BY business_date"
        return try await db.raw(sql).all().map(DayBalance.init(row:))
    }
}

extension DayBalance {
    init(row: any SQLRow) throws {
        self.init(
            date: try row.decode(column: "business_date", as: String.self),
            openingCents: try row.decode(column: "opening_cents", as: Int64.self),
            creditsCents: try row.decode(column: "credits_cents", as: Int64.self),
            debitsCents: try row.decode(column: "debits_cents", as: Int64.self),
            closingCents: try row.decode(column: "closing_cents", as: Int64.self),
            entryCount: try row.decode(column: "entry_count", as: Int64.self))
    }
}
