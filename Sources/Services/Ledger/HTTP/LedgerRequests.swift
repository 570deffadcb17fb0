import Contracts
import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaService

extension LedgerAccount: ResponseEncodable {}
extension LedgerEntry: ResponseEncodable {}

/// `POST /v1/accounts`. Every field is optional to the decoder so that the rules, not a decoding
/// error, say what is missing.
struct OpenAccountRequest: Decodable, Sendable {
    var name: String?
    var currency: String?
    var timezone: String?
}

/// `POST /v1/accounts/{id}/entries`.
struct RecordEntryRequest: Decodable, Sendable {
    var type: String?
    var amountCents: AmountInput
    var description: String?
    var category: String?
    /// `Timestamp`'s RFC 3339; absent or null: now.
    var occurredAt: TimestampInput?

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
        occurredAt = try TimestampInput.decode(from: container, forKey: .occurredAt)
    }
}

/// `POST /v1/entries/{id}/reversal`: optional overrides; the body itself is optional.
struct ReversalRequest: Decodable, Sendable {
    var description: String?
    var occurredAt: TimestampInput?

    enum CodingKeys: String, CodingKey {
        case description
        case occurredAt = "occurred_at"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        occurredAt = try TimestampInput.decode(from: container, forKey: .occurredAt)
    }
}

extension TimestampInput {
    /// A string is judged by the rules (`Timestamp.parse`); another JSON type stays a decoding error.
    static func decode<Key: CodingKey>(from container: KeyedDecodingContainer<Key>, forKey key: Key) throws -> Self? {
        try container.decodeIfPresent(String.self, forKey: key).map { Timestamp.parse($0).map(Self.date) ?? .malformed }
    }
}

extension AmountInput: Decodable {
    /// Reads `amount_cents` without ever going through a floating-point value that could be
    /// rounded or truncated into cents, and without throwing: whatever was sent becomes a value
    /// the rules judge (so a bad amount is always 422 `invalid_amount`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .missing
        } else if let cents = try? container.decode(Int64.self) {
            // Foundation reads an integer literal exactly. A literal with a fraction or an
            // exponent ("10.0", "1e3") it converts only when the value is exact; the Decimal read
            // of the same text must agree, so "1.0000000000000001" is not taken for 1.
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

extension Violations: ProblemConvertible {
    /// 422 problem+json listing every violation. The code is `invalid_amount` when the amount is
    /// among them (the one mistake a client must never get past by retrying differently), else
    /// `validation_failed`.
    public var problem: Problem {
        let errors = violations.map { Problem.FieldError(field: $0.field, message: $0.message) }
        if onlyConflictWithState {
            // Decision 1 of the contract work: same code, the status says the state refused it.
            var problem = Problem.validation(errors)
            problem.status = .conflict
            return problem
        }
        guard fields.contains("amount_cents") else { return .validation(errors) }
        return Problem(
            .unprocessableContent, code: "invalid_amount", title: "Invalid amount",
            detail: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: errors)
    }
}

extension LedgerRefusal: ProblemConvertible {
    public var problem: Problem {
        switch self {
        case .accountNotFound: .notFound("Account")
        case .entryNotFound: .notFound("Entry")
        case .alreadyReversed(let reversalID):
            .conflict("already_reversed", "the entry was already reversed by entry \(reversalID); an entry is reversed once")
        case .cannotReverseAReversal:
            // The request is well formed; the entry it names cannot be reversed (a state conflict).
            Problem(
                .conflict, code: "cannot_reverse_a_reversal",
                detail: "this entry is a reversal; to undo it, record a new entry")
        }
    }
}

/// A parsed `GET /v1/accounts` query.
struct AccountListQuery: Sendable, Hashable {
    static let defaultLimit = 20
    static let maxLimit = 100

    var limit = defaultLimit
    /// The previous page's last account id.
    var cursor: String?
    /// Finance and administrators: one owner's accounts.
    var ownerID: String?

    static func parse(_ parameters: [String: String]) throws -> AccountListQuery {
        var query = AccountListQuery()
        var errors: [Problem.FieldError] = []
        if let raw = parameters["limit"] {
            if let limit = Int(raw), (1...maxLimit).contains(limit) {
                query.limit = limit
            } else {
                errors.append(.init(field: "limit", message: "must be an integer from 1 to \(maxLimit)"))
            }
        }
        if let raw = parameters["owner_id"] {
            if raw.isEmpty || raw.unicodeScalars.count > 255 {
                errors.append(.init(field: "owner_id", message: "must be 1 to 255 characters"))
            } else {
                query.ownerID = raw
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        if let raw = parameters["cursor"] {
            // Cursors are account ids (UUIDv7); anything else was not issued here.
            guard let uuid = UUID(uuidString: raw) else {
                throw Problem.badRequest("invalid_cursor", "the cursor is not one this endpoint issued")
            }
            query.cursor = uuid.uuidString.lowercased()
        }
        return query
    }
}

/// A parsed `GET /v1/accounts/{id}/entries` query.
struct EntryListQuery: Sendable, Hashable {
    static let defaultLimit = 100
    static let maxLimit = 500

    var filter = LedgerEntries.Filter()
    var limit = defaultLimit
    /// The previous page's last sequence.
    var cursor: Int64?

    /// `from` after `to`: no day is in the range, so the page is empty (not a refusal).
    var isEmptyRange: Bool {
        guard let from = filter.from, let to = filter.to else { return false }
        return from > to
    }

    static func parse(_ parameters: [String: String]) throws -> EntryListQuery {
        var query = EntryListQuery()
        var errors: [Problem.FieldError] = []
        for field in ["from", "to"] {
            guard let raw = parameters[field] else { continue }
            if let date = BusinessDate.parse(raw) {
                if field == "from" { query.filter.from = date } else { query.filter.to = date }
            } else {
                errors.append(.init(field: field, message: "must be a business date YYYY-MM-DD, e.g. 2026-03-09"))
            }
        }
        if let raw = parameters["type"] {
            query.filter.type = LedgerEntryType(rawValue: raw)
            if query.filter.type == nil { errors.append(.init(field: "type", message: "must be credit or debit")) }
        }
        if let raw = parameters["category"] {
            // Code points as sent: the bound the document states. A blank category is no entry's
            // (they are stored trimmed, blank as none), so it filters everything out.
            if raw.isEmpty || raw.unicodeScalars.count > EntryRules.maxCategoryLength {
                errors.append(.init(field: "category", message: "must be 1 to \(EntryRules.maxCategoryLength) characters"))
            } else {
                query.filter.category = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        if let raw = parameters["limit"] {
            if let limit = Int(raw), (1...maxLimit).contains(limit) {
                query.limit = limit
            } else {
                errors.append(.init(field: "limit", message: "must be an integer from 1 to \(maxLimit)"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        if let raw = parameters["cursor"] {
            // Cursors are sequences; anything else was not issued here.
            guard let sequence = Int64(raw), sequence >= 1 else {
                throw Problem.badRequest("invalid_cursor", "the cursor is not one this endpoint issued")
            }
            query.cursor = sequence
        }
        return query
    }
}

/// What "the same request" means for an `Idempotency-Key`: the operation, its target and the
/// validated input, hashed. Absent values differ from empty ones, and an omitted `occurred_at`
/// stays omitted (a retry made later is still the same request).
enum RequestFingerprint {
    static func of(_ parts: [String?]) -> String {
        // Encoding an array of optional strings cannot fail.
        (try? IdempotentCommand.fingerprint(of: parts)) ?? ""
    }

    static func entry(_ draft: EntryDraft, accountID: String) -> String {
        of([
            "entry.v1", accountID, draft.type.rawValue, String(draft.amountCents), draft.description, draft.category,
            draft.occurredAt.map { String($0.epochMilliseconds) },
        ])
    }

    static func reversal(_ draft: ReversalDraft, entryID: String) -> String {
        of(["reversal.v1", entryID, draft.description, draft.occurredAt.map { String($0.epochMilliseconds) }])
    }
}
