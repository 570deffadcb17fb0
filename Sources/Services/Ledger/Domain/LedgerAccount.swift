public import Foundation

/// A cash account: whose it is, the currency its entries are in, and the time zone its business
/// days are counted in. Both are fixed when the account is opened (an entry's `business_date` and
/// `currency` must never change meaning afterwards).
public struct LedgerAccount: Sendable, Hashable, Codable {
    /// UUIDv7: ids sort by creation, which is the list order (newest first).
    public var id: String
    public var ownerID: String
    public var name: String
    /// ISO 4217, e.g. "BRL".
    public var currency: String
    /// IANA time zone, e.g. "America/Sao_Paulo".
    public var timezone: String
    public var createdAt: Date
    /// The sequence of the account's latest entry (0 before any): every entry up to it is
    /// committed, which is what a reader of the entries (the consolidation's rebuild) compares with.
    public var lastSequence: Int64

    public init(
        id: String, ownerID: String, name: String, currency: String, timezone: String, createdAt: Date,
        lastSequence: Int64 = 0
    ) {
        self.id = id
        self.ownerID = ownerID
        self.name = name
        self.currency = currency
        self.timezone = timezone
        self.createdAt = createdAt
        self.lastSequence = lastSequence
    }

    enum CodingKeys: String, CodingKey {
        case id, name, currency, timezone
        case ownerID = "owner_id"
        case createdAt = "created_at"
        case lastSequence = "last_sequence"
    }
}

/// A field that breaks a rule, and why (the HTTP layer turns these into problem+json `errors`).
public struct FieldViolation: Sendable, Hashable {
    public var field: String
    public var message: String
    /// A well-formed value the current state refuses (a time past the ledger's clock), not a
    /// rule the document states: alone, such violations answer 409 rather than 422.
    public var conflictsWithState: Bool

    public init(_ field: String, _ message: String, conflictsWithState: Bool = false) {
        self.field = field
        self.message = message
        self.conflictsWithState = conflictsWithState
    }
}

/// What opening an account needs, once validated: a trimmed name, a currency, a time zone.
public struct AccountOpening: Sendable, Hashable {
    public var name: String
    public var currency: String
    public var timezone: String
}

/// The rules for opening an account. Pure, so they are tested without HTTP or a database.
public enum AccountRules {
    public static let defaultCurrency = "BRL"
    public static let defaultTimezone = "America/Sao_Paulo"
    public static let maxNameLength = 200
    /// IANA ids are short ("America/Argentina/ComodRivadavia" is among the longest); this bounds
    /// what reaches `TimeZone(identifier:)`.
    public static let maxTimezoneLength = 64

    /// The opening `name`, `currency` and `timezone` describe (nil ones take the defaults), or every
    /// rule they break.
    public static func validate(
        name: String?, currency: String?, timezone: String?
    ) -> Result<AccountOpening, Violations> {
        var violations: [FieldViolation] = []
        let trimmed = name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        // Code points of the name as sent (what JSON Schema's lengths count).
        if trimmed.isEmpty || (name?.unicodeScalars.count ?? 0) > maxNameLength {
            violations.append(FieldViolation("name", "must be 1 to \(maxNameLength) characters and not blank"))
        }
        let currency = currency ?? defaultCurrency
        if !isCurrencyCode(currency) {
            violations.append(FieldViolation("currency", "must be an ISO 4217 code: three upper-case letters, e.g. BRL"))
        }
        let timezone = timezone ?? defaultTimezone
        if !isTimeZone(timezone) {
            violations.append(FieldViolation("timezone", "must be an IANA time zone id, e.g. America/Sao_Paulo"))
        }
        guard violations.isEmpty else { return .failure(Violations(violations)) }
        return .success(AccountOpening(name: trimmed, currency: currency, timezone: timezone))
    }

    /// Three ASCII upper-case letters. Whether the code is currently assigned is not checked: the
    /// ledger only needs every entry of an account to be in the account's one currency.
    public static func isCurrencyCode(_ text: String) -> Bool {
        text.utf8.count == 3 && text.utf8.allSatisfy { (0x41...0x5A).contains($0) }
    }

    public static func isTimeZone(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maxTimezoneLength && TimeZone(identifier: text) != nil
    }
}

/// Broken rules, thrown or returned as a whole so a client learns every one at once.
public struct Violations: Error, Sendable, Hashable {
    public var violations: [FieldViolation]

    public init(_ violations: [FieldViolation]) {
        self.violations = violations
    }

    public var fields: [String] { violations.map(\.field) }

    /// Every violation is a conflict with the current state (409), none a stated rule (422).
    public var onlyConflictWithState: Bool { !violations.isEmpty && violations.allSatisfy(\.conflictsWithState) }
}
