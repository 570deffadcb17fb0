import Foundation
import MalhaOpenAPI

// Copies of Malha's ledger wire types (Sources/Services/Ledger, Sources/Contracts), decoders
// unchanged, plus the annotations a service author would add.

/// Credit adds to the balance, debit takes from it.
enum LedgerEntryType: String, Codable, Sendable, Hashable, CaseIterable {
    case credit
    case debit
}

/// `POST /v1/accounts`. Every field is optional to the decoder so that the rules, not a decoding
/// error, say what is missing.
struct OpenAccountRequest: Decodable, Sendable {
    var name: String?
    var currency: String?
    var timezone: String?
}

extension OpenAccountRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A cash account to open; currency and timezone take defaults when absent"),
        .property("name", .required, .nonNull, .length(1...200), .pattern(#"\S"#)),
        .property("currency", .nonNull, .pattern("^[A-Z]{3}$"), .description("ISO 4217, default BRL")),
        .property("timezone", .nonNull, .length(1...64), .description("IANA time zone, default America/Sao_Paulo")),
    ]
}

/// What a request said `amount_cents` was, before the rules judge it.
enum AmountInput: Sendable, Hashable {
    case integer(Int64)
    case missing
    case notAnInteger
    case notANumber
}

extension AmountInput: Decodable {
    /// Malha's decoder: never throws, whatever was sent becomes a value the rules judge.
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .missing
        } else if let cents = try? container.decode(Int64.self) {
            if let exact = try? container.decode(Decimal.self), exact != Decimal(cents) {
                self = .notAnInteger
            } else {
                self = .integer(cents)
            }
        } else if (try? container.decode(String.self)) != nil || (try? container.decode(Bool.self)) != nil {
            self = .notANumber
        } else if (try? container.decode(Decimal.self)) != nil {
            self = .notAnInteger
        } else {
            self = .notANumber
        }
    }
}

enum EntryRules {
    static let maxAmountCents: Int64 = 100_000_000_000
    static let maxDescriptionLength = 500
    static let maxCategoryLength = 100
}

/// `POST /v1/accounts/{id}/entries`.
struct RecordEntryRequest: Decodable, Sendable {
    var type: String?
    var amountCents: AmountInput
    var description: String?
    var category: String?
    var occurredAt: Date?

    enum CodingKeys: String, CodingKey {
        case type, description, category
        case amountCents = "amount_cents"
        case occurredAt = "occurred_at"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        amountCents = try container.decodeIfPresent(AmountInput.self, forKey: .amountCents) ?? .missing
        description = try container.decodeIfPresent(String.self, forKey: .description)
        category = try container.decodeIfPresent(String.self, forKey: .category)
        occurredAt = try container.decodeIfPresent(Date.self, forKey: .occurredAt)
    }
}

extension RecordEntryRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A credit or debit to record"),
        .property("type", .required, .documented(as: LedgerEntryType.self)),
        .property(
            "amount_cents", .required,
            .schema(
                .integer(
                    1...EntryRules.maxAmountCents,
                    description: "Integer minor units (cents); a fraction or a string is refused, never rounded"))),
        .property("description", .maxLength(EntryRules.maxDescriptionLength)),
        .property("category", .maxLength(EntryRules.maxCategoryLength)),
        .property("occurred_at", .description("RFC 3339; absent: now. At most one day ahead of the ledger's clock")),
    ]
}

/// `POST /v1/entries/{id}/reversal`: optional overrides; the body itself is optional.
struct ReversalRequest: Decodable, Sendable {
    var description: String?
    var occurredAt: Date?

    enum CodingKeys: String, CodingKey {
        case description
        case occurredAt = "occurred_at"
    }
}

/// A cash account.
struct LedgerAccount: Sendable, Hashable, Codable {
    var id: String
    var ownerID: String
    var name: String
    var currency: String
    var timezone: String
    var createdAt: Date
    var lastSequence: Int64

    enum CodingKeys: String, CodingKey {
        case id, name, currency, timezone
        case ownerID = "owner_id"
        case createdAt = "created_at"
        case lastSequence = "last_sequence"
    }
}

extension LedgerAccount: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("currency", .pattern("^[A-Z]{3}$")),
        .property("last_sequence", .minimum(0)),
    ]
}

/// One movement on an account: never changed and never deleted once recorded.
struct LedgerEntry: Sendable, Hashable, Codable {
    var id: String
    var accountID: String
    var sequence: Int64
    var type: LedgerEntryType
    var amountCents: Int64
    var currency: String
    var description: String?
    var category: String?
    var occurredAt: Date
    var businessDate: String
    var reversesEntryID: String?
    var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, sequence, type, currency, description, category
        case accountID = "account_id"
        case amountCents = "amount_cents"
        case occurredAt = "occurred_at"
        case businessDate = "business_date"
        case reversesEntryID = "reverses_entry_id"
        case createdAt = "created_at"
    }

    /// Malha's encoder: absent values are written as `null`, every entry has the same keys.
    func encode(to encoder: any Encoder) throws {
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

extension LedgerEntry: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("One movement on an account; never changed once recorded (a correction is a reversal)"),
        .property("id", .format(.uuid)),
        .property("account_id", .format(.uuid)),
        .property("sequence", .minimum(1)),
        .property("amount_cents", .range(1...EntryRules.maxAmountCents)),
        // Malha's encoder writes these as null rather than omitting them.
        .property("description", .required),
        .property("category", .required),
        .property("reverses_entry_id", .required, .format(.uuid)),
        .property("business_date", .format(.date)),
    ]
}

/// Malha's coders (Sources/Platform/MalhaHTTP/JSONCoding.swift): RFC 3339 dates in UTC with
/// milliseconds.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }()
}
