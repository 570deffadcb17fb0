import Contracts
import Foundation
public import MalhaOpenAPI

// What the ledger's OpenAPI document says of its wire types, beyond what their decoders show:
// the bounds and enums of the rules in Domain/ (`AccountRules`, `EntryRules`) and the HTTP
// parsers (`AccountListQuery`, `EntryListQuery`), taken from the same constants.

/// Patterns shared by the ledger's schemas.
enum LedgerSchemas {
    /// `occurred_at`: `Timestamp`'s shape and the `date-time` format together are the rule.
    static let occurredAtRule =
        "RFC 3339 date-time, YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm), written in a year from 1970 to 9999, "
        + "no leap second; kept to the millisecond (further digits dropped)"

    /// The time zones `AccountRules.isTimeZone` accepts, as this process's time zone database
    /// lists them. `TimeZone(identifier:)` also takes a few spellings the list leaves out
    /// ("GMT+3", "EST"); documented is the canonical set.
    static let timeZones: [String] = TimeZone.knownTimeZoneIdentifiers.filter(AccountRules.isTimeZone).sorted()

    /// A business date as `BusinessDate.parse` accepts it: a real day written YYYY-MM-DD.
    static let businessDate = JSONSchema.string(format: .date, description: "A business date, YYYY-MM-DD")

    /// `Location` of a recorded entry: set on the first answer, absent on an idempotent replay
    /// (the stored answer keeps the body and status only).
    static let entryLocation = OpenAPIDocument.ResponseHeader(
        "Location", .string(format: .uriReference), required: false,
        description: "The entry, /v1/entries/{id} (absent on a replay)")
}

extension OpenAccountRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A cash account to open; currency and timezone take their defaults when absent or null"),
        .property(
            "name", .required, .nonNull, .length(1...AccountRules.maxNameLength), .pattern(TextPattern.notBlank),
            .description("1 to \(AccountRules.maxNameLength) characters as sent, not blank; stored trimmed")),
        .property(
            // Without `$`: Python's `re` (schemathesis) lets `$` match before a final newline.
            "currency", .length(3...3), .pattern("^[A-Z]{3}"),
            .description("ISO 4217 code, three upper-case letters; absent or null: \(AccountRules.defaultCurrency)")),
        .property(
            "timezone", .schema(JSONSchema.enumeration(LedgerSchemas.timeZones).nullable()),
            .description("IANA time zone id; absent or null: \(AccountRules.defaultTimezone)")),
    ]
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
                    description: "Integer minor units (cents); a fraction, a string or null is refused (422 "
                        + "invalid_amount), never rounded"))),
        .property(
            "description", .maxLength(EntryRules.maxDescriptionLength),
            .description(
                "Trimmed; blank or null: none. At most \(EntryRules.maxDescriptionLength) characters as sent")),
        .property(
            "category", .maxLength(EntryRules.maxCategoryLength),
            .description("Trimmed; blank or null: none. At most \(EntryRules.maxCategoryLength) characters as sent")),
        .property(
            "occurred_at", .format(.dateTime), .pattern(Timestamp.pattern),
            .description(
                "\(LedgerSchemas.occurredAtRule), e.g. 2026-03-09T10:00:00.123Z; absent or null: now. More than one "
                    + "day after the ledger's clock: 409 validation_failed")),
    ]
}

extension ReversalRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("Optional overrides for a reversal (the body itself may be omitted)"),
        .property(
            "description", .maxLength(EntryRules.maxDescriptionLength),
            .description(
                "Trimmed; blank, null or absent: \"Estorno de <entry id>\". At most "
                    + "\(EntryRules.maxDescriptionLength) characters as sent")),
        .property(
            "occurred_at", .format(.dateTime), .pattern(Timestamp.pattern),
            .description(
                "\(LedgerSchemas.occurredAtRule); absent or null: now. More than one day after the ledger's clock: "
                    + "409 validation_failed")),
    ]
}

extension LedgerAccount: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A cash account: its owner, currency and the time zone its business days are counted in"),
        .property("id", .format(.uuid), .description("UUIDv7: ids sort by creation")),
        .property("owner_id", .description("The subject of the token that opened it")),
        .property("name", .length(1...AccountRules.maxNameLength)),
        .property("currency", .pattern("^[A-Z]{3}$"), .description("ISO 4217")),
        .property("timezone", .description("IANA time zone id")),
        .property(
            "last_sequence", .minimum(0),
            .description("The sequence of the latest entry (0 before any): every entry up to it is committed")),
    ]
}

extension LedgerEntry: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("One movement on an account; never changed once recorded (a correction is a reversal)"),
        .property("id", .format(.uuid)),
        .property("account_id", .format(.uuid)),
        .property("sequence", .minimum(1), .description("1, 2, 3… per account, without gaps, in recording order")),
        .property("amount_cents", .range(1...EntryRules.maxAmountCents)),
        .property("currency", .pattern("^[A-Z]{3}$"), .description("The account's currency")),
        // Written as null rather than omitted: every entry has the same keys.
        .property("description", .required, .maxLength(EntryRules.maxDescriptionLength)),
        .property("category", .required, .maxLength(EntryRules.maxCategoryLength)),
        .property("occurred_at", .description("When the movement happened, to the millisecond")),
        .property("business_date", .format(.date), .description("occurred_at's day in the account's time zone")),
        .property(
            "reverses_entry_id", .required, .format(.uuid), .description("Set on a reversal: the entry it cancels")),
        .property("created_at", .description("When the ledger recorded it")),
    ]
}
