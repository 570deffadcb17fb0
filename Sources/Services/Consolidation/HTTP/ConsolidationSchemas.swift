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
        .description("Every business day from `from` to `to`, quiet days carried forward"),
        .property("account_id", .format(.uuid)),
        .property("currency", .pattern("^[A-Z]{3}$")),
        .property("from", .format(.date)),
        .property("to", .format(.date)),
        .property("days", .items(1...ConsolidationRoutes.maxRangeDays), .description("One per day of the range, in order")),
    ]
}

extension ConsolidationRoutes.RebuildRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("RebuildRequest"),
        .description(
            "What to verify or rebuild: the whole account, one date, or from…to (either end open); give either date "
                + "or from/to, and from not after to"),
        .property("account_id", .format(.uuid), .description("The ledger account (a UUID)")),
        .property("date", .format(.date), .description("One business day, YYYY-MM-DD")),
        .property("from", .format(.date), .description("First business day, inclusive")),
        .property("to", .format(.date), .description("Last business day, inclusive")),
        .property("verify", .description("true: compare only, nothing written; false, null or absent: rebuild")),
    ]
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
