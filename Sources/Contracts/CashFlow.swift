public import Foundation
public import MalhaMessaging

// The cash-flow system's events, with explicit wire names: the ledger publishes them, the
// consolidation builds its daily balances from them (and nothing else).
//
// Both are published with the account id as the message key, so a subscription receives one
// account's events in the order the ledger recorded them: the account first, then its entries by
// `sequence`. Amounts are positive integer minor units (`amount_cents`); `type` says which way.

/// A cash account was opened.
public struct LedgerAccountOpened: MessageContract, Hashable {
    public static let type = "ledger.account-opened.v1"
    public var accountID: String
    public var ownerID: String
    public var name: String
    /// ISO 4217, e.g. "BRL".
    public var currency: String
    /// IANA time zone the account's business days are counted in, e.g. "America/Sao_Paulo".
    public var timezone: String
    public var openedAt: Date

    public init(accountID: String, ownerID: String, name: String, currency: String, timezone: String, openedAt: Date) {
        self.accountID = accountID
        self.ownerID = ownerID
        self.name = name
        self.currency = currency
        self.timezone = timezone
        self.openedAt = openedAt
    }

    enum CodingKeys: String, CodingKey {
        case name, currency, timezone
        case accountID = "account_id"
        case ownerID = "owner_id"
        case openedAt = "opened_at"
    }
}

/// Credit adds to the balance, debit takes from it.
public enum LedgerEntryType: String, Codable, Sendable, Hashable, CaseIterable {
    case credit
    case debit
}

/// An entry was recorded (entries are never changed; a correction is a reversal entry).
public struct LedgerEntryRecorded: MessageContract, Hashable {
    public static let type = "ledger.entry-recorded.v1"
    public var entryID: String
    public var accountID: String
    /// 1, 2, 3… per account, without gaps, in recording order: a consumer that has applied
    /// every sequence up to n knows its figures are complete up to entry n.
    public var sequence: Int64
    public var entryType: LedgerEntryType
    public var amountCents: Int64
    public var currency: String
    /// When the movement happened (what the balance of a day counts by).
    public var occurredAt: Date
    /// `occurredAt`'s calendar day in the account's time zone, "YYYY-MM-DD".
    public var businessDate: String
    public var category: String?
    public var description: String?
    /// Set on a reversal: the entry it cancels (same amount, opposite type).
    public var reversesEntryID: String?
    public var recordedAt: Date

    public init(
        entryID: String, accountID: String, sequence: Int64, entryType: LedgerEntryType, amountCents: Int64,
        currency: String, occurredAt: Date, businessDate: String, category: String?, description: String?,
        reversesEntryID: String?, recordedAt: Date
    ) {
        self.entryID = entryID
        self.accountID = accountID
        self.sequence = sequence
        self.entryType = entryType
        self.amountCents = amountCents
        self.currency = currency
        self.occurredAt = occurredAt
        self.businessDate = businessDate
        self.category = category
        self.description = description
        self.reversesEntryID = reversesEntryID
        self.recordedAt = recordedAt
    }

    /// The entry's effect on a balance: +amount for a credit, −amount for a debit.
    public var signedAmountCents: Int64 { entryType == .credit ? amountCents : -amountCents }

    enum CodingKeys: String, CodingKey {
        case sequence, currency, category, description
        case entryID = "entry_id"
        case accountID = "account_id"
        case entryType = "type"
        case amountCents = "amount_cents"
        case occurredAt = "occurred_at"
        case businessDate = "business_date"
        case reversesEntryID = "reverses_entry_id"
        case recordedAt = "recorded_at"
    }
}
