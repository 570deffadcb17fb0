public import Contracts
public import Foundation

/// One movement on an account: never changed and never deleted once recorded. A correction is a
/// new entry, a reversal, that cancels it (same amount, the other type).
public struct LedgerEntry: Sendable, Hashable, Codable {
    /// UUIDv7.
    public var id: String
    public var accountID: String
    /// 1, 2, 3… per account, without gaps, in recording order.
    public var sequence: Int64
    public var type: LedgerEntryType
    /// Positive integer minor units; `type` says which way.
    public var amountCents: Int64
    /// The account's currency.
    public var currency: String
    public var description: String?
    public var category: String?
    /// When the movement happened (what a day's balance counts by), to the millisecond.
    public var occurredAt: Date
    /// `occurredAt`'s calendar day in the account's time zone, "YYYY-MM-DD".
    public var businessDate: String
    /// Set on a reversal: the entry it cancels.
    public var reversesEntryID: String?
    /// When the ledger recorded it.
    public var createdAt: Date

    public init(
        id: String, accountID: String, sequence: Int64, type: LedgerEntryType, amountCents: Int64, currency: String,
        description: String?, category: String?, occurredAt: Date, businessDate: String, reversesEntryID: String?,
        createdAt: Date
    ) {
        self.id = id
        self.accountID = accountID
        self.sequence = sequence
        self.type = type
        self.amountCents = amountCents
        self.currency = currency
        self.description = description
        self.category = category
        self.occurredAt = occurredAt
        self.businessDate = businessDate
        self.reversesEntryID = reversesEntryID
        self.createdAt = createdAt
    }

    public var isReversal: Bool { reversesEntryID != nil }

    /// The entry's effect on a balance: +amount for a credit, −amount for a debit.
    public var signedAmountCents: Int64 { type == .credit ? amountCents : -amountCents }

    /// The description a reversal gets when its request gives none.
    public static func reversalDescription(of entryID: String) -> String { "Estorno de \(entryID)" }

    enum CodingKeys: String, CodingKey {
        case id, sequence, type, currency, description, category
        case accountID = "account_id"
        case amountCents = "amount_cents"
        case occurredAt = "occurred_at"
        case businessDate = "business_date"
        case reversesEntryID = "reverses_entry_id"
        case createdAt = "created_at"
    }

    /// Absent values are written as `null`: every entry has the same keys on the wire.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(accountID, forKey: .accountID)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(type, forKey: .type)
        try container.encode(amountCents, forKey: .amountCents)
        try container.encode(currency, forKey: .currency)
        try container.encode(description, forKey: .description)
        try container.encode(category, forKey: .category)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encode(businessDate, forKey: .businessDate)
        try container.encode(reversesEntryID, forKey: .reversesEntryID)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

extension LedgerEntryType {
    /// What cancels an entry of this type.
    public var opposite: LedgerEntryType { self == .credit ? .debit : .credit }
}

/// What a request said `amount_cents` was, before the rules judge it. Kept apart from `Int64` so
/// that a fraction, a string or a number too large to be cents is a rule broken (422
/// `invalid_amount`), never a value rounded or truncated into one.
public enum AmountInput: Sendable, Hashable {
    case integer(Int64)
    /// Absent or `null`.
    case missing
    /// A JSON number that is not an integer that fits 64 bits (10.5, 1e30).
    case notAnInteger
    /// A string, a boolean, an array or an object.
    case notANumber
}

/// An entry to record, validated: the input of the fingerprint that makes `Idempotency-Key`s
/// work, and of the record itself.
public struct EntryDraft: Sendable, Hashable {
    public var type: LedgerEntryType
    public var amountCents: Int64
    public var description: String?
    public var category: String?
    /// nil: the moment it is recorded.
    public var occurredAt: Date?
}

/// A reversal's optional overrides, validated.
public struct ReversalDraft: Sendable, Hashable {
    public var description: String?
    public var occurredAt: Date?
}

/// The rules every entry obeys. Pure, so they are tested without HTTP or a database.
public enum EntryRules {
    /// R$ 1 bi in cents: 10^11.
    public static let maxAmountCents: Int64 = 100_000_000_000
    public static let maxDescriptionLength = 500
    public static let maxCategoryLength = 100
    /// How far ahead of the ledger's clock `occurred_at` may be (a client's clock or a time zone
    /// slip, not a scheduled movement: the ledger records what happened).
    public static let maxFutureSkew: TimeInterval = 86_400

    /// The entry the request describes, or every rule it breaks.
    public static func validate(
        type: String?, amount: AmountInput, description: String?, category: String?, occurredAt: TimestampInput?,
        now: Date
    ) -> Result<EntryDraft, Violations> {
        var violations: [FieldViolation] = []
        let entryType = type.flatMap(LedgerEntryType.init(rawValue:))
        if entryType == nil { violations.append(FieldViolation("type", "must be credit or debit")) }
        let cents = validateAmount(amount, into: &violations)
        let description = text(description, field: "description", max: maxDescriptionLength, into: &violations)
        let category = text(category, field: "category", max: maxCategoryLength, into: &violations)
        let occurred = validateOccurredAt(occurredAt, now: now, into: &violations)
        guard violations.isEmpty, let entryType, let cents else { return .failure(Violations(violations)) }
        return .success(
            EntryDraft(type: entryType, amountCents: cents, description: description, category: category, occurredAt: occurred))
    }

    /// A reversal's overrides, or every rule they break.
    public static func validateReversal(
        description: String?, occurredAt: TimestampInput?, now: Date
    ) -> Result<ReversalDraft, Violations> {
        var violations: [FieldViolation] = []
        let description = text(description, field: "description", max: maxDescriptionLength, into: &violations)
        let occurred = validateOccurredAt(occurredAt, now: now, into: &violations)
        guard violations.isEmpty else { return .failure(Violations(violations)) }
        return .success(ReversalDraft(description: description, occurredAt: occurred))
    }

    static func validateAmount(_ amount: AmountInput, into violations: inout [FieldViolation]) -> Int64? {
        let range = "from 1 to \(maxAmountCents) (integer cents)"
        switch amount {
        case .integer(let cents) where (1...maxAmountCents).contains(cents):
            return cents
        case .integer:
            violations.append(FieldViolation("amount_cents", "must be \(range)"))
        case .missing:
            violations.append(FieldViolation("amount_cents", "is required: an integer \(range)"))
        case .notAnInteger:
            violations.append(
                FieldViolation("amount_cents", "must be a JSON integer \(range); a fraction is refused, never rounded"))
        case .notANumber:
            violations.append(FieldViolation("amount_cents", "must be a JSON integer \(range), not a string or other value"))
        }
        return nil
    }

    /// Trimmed; blank is absent. The bound counts code points (what JSON Schema's `maxLength`
    /// counts) of the text as sent, surrounding spaces included, so the schema states it exactly.
    static func text(_ value: String?, field: String, max: Int, into violations: inout [FieldViolation]) -> String? {
        guard let value else { return nil }
        if value.unicodeScalars.count > max { violations.append(FieldViolation(field, "must be at most \(max) characters")) }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Stored to the millisecond: the ledger truncates once, when it records the entry, and
    /// computes the business date from what it stores.
    ///
    /// The format and the years (1970 to 9999, as written) are rules the document states; "not
    /// more than a day ahead" depends on the clock, so breaking it is a conflict with the current
    /// state (409), not a malformed request.
    static func validateOccurredAt(
        _ input: TimestampInput?, now: Date, into violations: inout [FieldViolation]
    ) -> Date? {
        switch input {
        case nil:
            return nil
        case .malformed:
            violations.append(
                FieldViolation(
                    "occurred_at", "must be an RFC 3339 date-time from year 1970, e.g. 2026-03-09T10:00:00.123Z"))
            return nil
        case .date(let date):
            if date > now.addingTimeInterval(maxFutureSkew) {
                violations.append(
                    FieldViolation(
                        "occurred_at", "must not be more than 1 day after the current time", conflictsWithState: true))
            }
            return date
        }
    }
}

/// Why the ledger refused an operation on entries that was otherwise well formed.
public enum LedgerRefusal: Error, Sendable, Hashable {
    case accountNotFound
    case entryNotFound
    /// The entry already has its reversal (at most one per entry).
    case alreadyReversed(reversalID: String)
    /// A reversal is itself never reversed: record a new entry instead.
    case cannotReverseAReversal
}
