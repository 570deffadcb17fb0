import Contracts
public import Foundation

/// One account's figures for one business day, in integer cents:
/// `closing = opening + credits − debits`, and `opening` is the previous day's `closing`.
/// A day without entries carries the balance forward (opening = closing, no movement).
public struct DayBalance: Sendable, Hashable, Codable {
    public var date: String
    public var openingCents: Int64
    public var creditsCents: Int64
    public var debitsCents: Int64
    public var closingCents: Int64
    public var entryCount: Int64

    public init(
        date: String, openingCents: Int64, creditsCents: Int64, debitsCents: Int64, closingCents: Int64, entryCount: Int64
    ) {
        self.date = date
        self.openingCents = openingCents
        self.creditsCents = creditsCents
        self.debitsCents = debitsCents
        self.closingCents = closingCents
        self.entryCount = entryCount
    }

    /// A day without entries after a day that closed at `balance`.
    public static func quiet(_ date: String, balance: Int64) -> DayBalance {
        DayBalance(
            date: date, openingCents: balance, creditsCents: 0, debitsCents: 0, closingCents: balance, entryCount: 0)
    }

    public var netCents: Int64 { creditsCents - debitsCents }

    enum CodingKeys: String, CodingKey {
        case date
        case openingCents = "opening_balance_cents"
        case creditsCents = "credits_cents"
        case debitsCents = "debits_cents"
        case netCents = "net_cents"
        case closingCents = "closing_balance_cents"
        case entryCount = "entry_count"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            date: try container.decode(String.self, forKey: .date),
            openingCents: try container.decode(Int64.self, forKey: .openingCents),
            creditsCents: try container.decode(Int64.self, forKey: .creditsCents),
            debitsCents: try container.decode(Int64.self, forKey: .debitsCents),
            closingCents: try container.decode(Int64.self, forKey: .closingCents),
            entryCount: try container.decode(Int64.self, forKey: .entryCount))
        // Computed from credits and debits, so never trusted; read so that what is encoded is
        // what the derived schema (and the OpenAPI document) lists.
        _ = try container.decodeIfPresent(Int64.self, forKey: .netCents)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(date, forKey: .date)
        try container.encode(openingCents, forKey: .openingCents)
        try container.encode(creditsCents, forKey: .creditsCents)
        try container.encode(debitsCents, forKey: .debitsCents)
        try container.encode(netCents, forKey: .netCents)
        try container.encode(closingCents, forKey: .closingCents)
        try container.encode(entryCount, forKey: .entryCount)
    }
}

/// How complete the figures are. Entries carry a gap-free sequence per account, so "every entry
/// up to n is counted" is a fact the consolidation knows, not a guess: `completeThroughSequence`
/// is that n. Entries above it that arrived early (`pendingOutOfOrder`) are counted too; the ones
/// still missing between them are not yet. Entries the consolidation has not heard of at all
/// (still in the ledger's outbox or on the bus) are, by nature, not visible here: compare with
/// the ledger's latest sequence to know.
public struct Freshness: Sendable, Hashable, Codable {
    public var completeThroughSequence: Int64
    /// When the ledger recorded entry `completeThroughSequence` (nil before any entry).
    public var completeThroughRecordedAt: Date?
    /// The highest sequence applied.
    public var latestSequenceSeen: Int64
    /// Entries applied above `completeThroughSequence`, waiting for the ones before them.
    public var pendingOutOfOrder: Int64

    public init(
        completeThroughSequence: Int64, completeThroughRecordedAt: Date?, latestSequenceSeen: Int64, pendingOutOfOrder: Int64
    ) {
        self.completeThroughSequence = completeThroughSequence
        self.completeThroughRecordedAt = completeThroughRecordedAt
        self.latestSequenceSeen = latestSequenceSeen
        self.pendingOutOfOrder = pendingOutOfOrder
    }

    enum CodingKeys: String, CodingKey {
        case completeThroughSequence = "complete_through_sequence"
        case completeThroughRecordedAt = "complete_through_recorded_at"
        case latestSequenceSeen = "latest_sequence_seen"
        case pendingOutOfOrder = "pending_out_of_order"
    }

    /// `complete_through_recorded_at` is written as `null` before any entry: the keys never vary.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(completeThroughSequence, forKey: .completeThroughSequence)
        try container.encode(completeThroughRecordedAt, forKey: .completeThroughRecordedAt)
        try container.encode(latestSequenceSeen, forKey: .latestSequenceSeen)
        try container.encode(pendingOutOfOrder, forKey: .pendingOutOfOrder)
    }
}

/// What the consolidation knows of an account.
public struct ConsolidatedAccount: Sendable, Hashable {
    public var id: String
    /// Nil until the account-opened event arrives.
    public var ownerID: String?
    public var currency: String
    public var freshness: Freshness
    /// The last business day with entries (nil before any).
    public var lastBusinessDate: String?
}

/// `GET /v1/accounts/{id}/balances/{date}`.
public struct BalanceOfDay: Sendable, Hashable, Codable {
    public var accountID: String
    public var currency: String
    public var day: DayBalance
    public var freshness: Freshness

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id"
        case currency, freshness
    }

    public func encode(to encoder: any Encoder) throws {
        try day.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accountID, forKey: .accountID)
        try container.encode(currency, forKey: .currency)
        try container.encode(freshness, forKey: .freshness)
    }
}

extension BalanceOfDay {
    /// The day's figures and the account's fields share one object, as they are encoded. (In an
    /// extension, so the memberwise initializer stays.)
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            accountID: try container.decode(String.self, forKey: .accountID),
            currency: try container.decode(String.self, forKey: .currency), day: try DayBalance(from: decoder),
            freshness: try container.decode(Freshness.self, forKey: .freshness))
    }
}

/// `GET /v1/accounts/{id}/balances?from=&to=`: every day of the range, quiet days included.
/// Decodable too, for the tools that read it (`malha-bench load cashflow`), with `JSONCoding`.
///
/// A page holds at most `maxDays` days: a longer range answers its first ones and `next_from`,
/// where the next page starts; `from` after `to` holds no day (an empty page, not a refusal).
public struct BalanceRange: Sendable, Hashable, Codable {
    public var accountID: String
    public var currency: String
    /// The requested range.
    public var from: String
    public var to: String
    public var days: [DayBalance]
    /// The day after the last one in `days` when the range goes on; nil on the last page.
    public var nextFrom: String?
    public var freshness: Freshness

    public init(
        accountID: String, currency: String, from: String, to: String, days: [DayBalance], nextFrom: String?,
        freshness: Freshness
    ) {
        self.accountID = accountID
        self.currency = currency
        self.from = from
        self.to = to
        self.days = days
        self.nextFrom = nextFrom
        self.freshness = freshness
    }

    enum CodingKeys: String, CodingKey {
        case accountID = "account_id"
        case nextFrom = "next_from"
        case currency, from, to, days, freshness
    }

    /// `next_from` is written as `null` on the last page: the keys never vary.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accountID, forKey: .accountID)
        try container.encode(currency, forKey: .currency)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(days, forKey: .days)
        try container.encode(nextFrom, forKey: .nextFrom)
        try container.encode(freshness, forKey: .freshness)
    }

    /// The page of `from…to` (valid "YYYY-MM-DD" days) that starts at `from`: its last day and
    /// where the next page starts, or nil when `from` is after `to`.
    public static func page(from: String, to: String, maxDays: Int) -> (last: String, nextFrom: String?)? {
        let span = BusinessDate.distance(from: from, to: to)
        guard span >= 0 else { return nil }
        guard span >= maxDays else { return (to, nil) }
        return (BusinessDate.adding(maxDays - 1, to: from), BusinessDate.adding(maxDays, to: from))
    }
}
