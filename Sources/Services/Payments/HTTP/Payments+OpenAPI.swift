public import MalhaOpenAPI

// The schemas of the payments service's wire types, refined to say what the handlers accept.

extension RefundRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("amount_cents", .minimum(1), .description("At most what was captured and not yet refunded")),
        .property(
            "reason", .maxLength(maxReasonLength), .pattern(TextPattern.notBlank),
            .description("At most \(maxReasonLength) code points, not blank")),
    ]
}

extension ReviewRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [.property("decision", .values("approve", "deny"))]
}

extension WebhookNotification: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("reference", .description("The provider's reference for the operation")),
        .property("status", .values("approved", "declined")),
        .property("reason", .description("Why it was declined (default: declined)")),
    ]
}

extension WebhookAnswer: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [.property("status", .values("processed", "duplicate"))]
}

extension Payment: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("customer_id", .description("Empty when the order named no customer")),
        .property("amount_cents", .minimum(0)),
        .property(
            "decline_reason",
            .description("Why it was declined (card_declined, fraud_suspected, provider_unavailable, voided…)")),
        .property("fraud_verdict", .values("approve", "review", "deny"), .description("Antifraud's verdict, once screened")),
        .property("refunded_cents", .minimum(0)),
        .property("refunds", .description("Oldest first")),
    ]
}

extension Refund: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("payment_id", .format(.uuid)),
        .property("amount_cents", .minimum(1)),
        .property("requested_by", .description("Who asked (admin:<subject>)")),
    ]
}

extension PaymentAuditEvent: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("payment_id", .format(.uuid)),
        .property(
            "type",
            .description(
                "created, screened, state_changed, provider_call, review_decided, refund_requested, webhook_received, "
                    + "command_received")),
        .property("actor", .description("system, provider or admin:<subject>")),
    ]
}
