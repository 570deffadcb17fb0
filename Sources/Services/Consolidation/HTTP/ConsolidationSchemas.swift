import Contracts
public import MalhaOpenAPI

// What the consolidation's OpenAPI document says of its wire types beyond what their decoders
// show: formats, bounds and the keys the encoders always write (null rather than omitted).

extension DayBalance: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] =
        DayBalance.figures + [
            .description("One business day of an account, in integer cents: closing = opening + credits − debits")
        ]

    /// The day's properties, also flattened into `BalanceOfDay`.
    static let figures: [SchemaAnnotation] = [
        .property("date", .format(.date), .description("The business day, YYYY-MM-DD")),
        .property("opening_balance_cents", .description("The previous day's closing balance")),
        .property("credits_cents", .minimum(0)),
        .property("debits_cents", .minimum(0)),
        .property("net_cents", .required, .nonNull, .description("credits_cents − debits_cents")),
        .property("entry_count", .minimum(0), .description("Entries counted on the day")),
    ]
}

extension Freshness: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description(
            "How complete the figures are: every entry up to complete_through_sequence is counted, and "
                + "pending_out_of_order entries above it that arrived early"),
        .property("complete_through_sequence", .minimum(0)),
        .property(
            "complete_through_recorded_at", .required,
            .description("When the ledger recorded entry complete_through_sequence (null before any entry)")),
        .property("latest_sequence_seen", .minimum(0)),
        .property("pending_out_of_order", .minimum(0)),
    ]
}

extension BalanceOfDay: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] =
        [
            .description("An account's balance on one business day, and how complete the figures are"),
            .property("account_id", .format(.uuid)),
            .property("currency", .pattern("^[A-Z]{3}$")),
        ] + DayBalance.figures
}

extension BalanceRange: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description(
            "The business days from `from` to `to`, quiet days carried forward, at most "
                + "\(ConsolidationRoutes.maxRangeDays) at a time"),
        .property("account_id", .format(.uuid)),
        .property("currency", .pattern("^[A-Z]{3}$")),
        .property("from", .format(.date)),
        .property("to", .format(.date)),
        .property(
            "days", .items(0...ConsolidationRoutes.maxRangeDays),
            .description(
                "One per day from `from`, in order: at most \(ConsolidationRoutes.maxRangeDays) (see next_from); none "
                    + "when from is after to")),
        .property(
            "next_from", .required, .format(.date),
            .description("Where the next page starts (ask again with from=next_from); null on the last page")),
    ]
}

extension ConsolidationRoutes.RebuildRequest: OpenAPISchemaProviding {
    static let openAPIComponentName: String? = "RebuildRequest"

    /// Stated whole (not derived) for its `oneOf`: one `date`, or a range of `from`/`to` — never
    /// both. `null` is absent, as the handler reads it.
    static let openAPISchema: JSONSchema = {
        let accountID = JSONSchema.string(format: .uuid, description: "The ledger account (a UUID)")
        var verify = JSONSchema()
        verify.types = [.boolean, .null]
        verify.description = "true: compare only, nothing written; false, null or absent: rebuild"
        func day(_ text: String) -> JSONSchema { ConsolidationSchemas.businessDate.described(text) }
        let oneDay = JSONSchema.object(
            [
                .init("account_id", accountID), .init("date", day("One business day, YYYY-MM-DD")),
                .init("from", JSONSchema.null.described("Not with date")),
                .init("to", JSONSchema.null.described("Not with date")), .init("verify", verify),
            ], required: ["account_id", "date"], description: "One business day")
        let range = JSONSchema.object(
            [
                .init("account_id", accountID), .init("date", JSONSchema.null.described("Not with from/to")),
                .init("from", day("First business day, inclusive; absent or null: from the first").nullable()),
                .init("to", day("Last business day, inclusive; absent or null: to the last").nullable()),
                .init("verify", verify),
            ], required: ["account_id"],
            description: "from…to, either end open (both absent: the whole account); from after to: an empty report")
        return JSONSchema.oneOf(
            [oneDay, range],
            description: "What to verify or rebuild: the whole account, one date, or from…to; give either date or from/to")
    }()
}

/// Schemas shared by the consolidation's operations.
enum ConsolidationSchemas {
    /// A business day as `BusinessDate.parse` reads it: a real day, YYYY-MM-DD, any year from 0000
    /// to 9999 (its calendar is integer arithmetic, proleptic Gregorian). The pattern only repeats
    /// the shape the format states; it is there because schemathesis draws the format from a
    /// `["string", "null"]` type as any string.
    static let businessDate = JSONSchema.string(format: .date, pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}")
}

extension RebuildReport: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("What a verification or a rebuild found"),
        .property("account_id", .format(.uuid)),
        // Open ends are written as null, not omitted.
        .property("from", .required, .format(.date)),
        .property("to", .required, .format(.date)),
        .property("mode", .values("verify", "rebuild")),
        .property("consistent", .description("The consolidation held exactly what the ledger says")),
        .property("ledger_entries", .minimum(0)),
        .property("days_checked", .minimum(0)),
        .property("missing_entries", .items(0...100), .description("Entries the consolidation lacked (the first 100)")),
        .property("missing_entry_count", .minimum(0)),
        .property(
            "unexpected_entries", .items(0...100), .description("Entries the ledger does not have (the first 100)")),
        .property("unexpected_entry_count", .minimum(0)),
        .property("repaired", .description("A rebuild that found differences wrote the ledger's figures")),
    ]
}

extension RebuildReport.Difference: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("RebuildDifference"),
        .property("date", .format(.date)),
        .property("expected", .description("What the ledger's entries make of the day")),
        .property("actual", .required, .description("What the consolidation held (null: no row for the day)")),
    ]
}

extension RebuildReport.Figures: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("RebuildFigures"),
        .property("credits_cents", .minimum(0)),
        .property("debits_cents", .minimum(0)),
        .property("entry_count", .minimum(0)),
    ]
}
