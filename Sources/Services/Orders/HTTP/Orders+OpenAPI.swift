public import MalhaOpenAPI

// The schemas of the orders service's wire types, refined to say what `CartRules` and the
// handlers accept.

extension AddCartItemRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("product_id", .format(.uuid), .description("A product for sale in the catalog")),
        .property(
            "quantity", .range(1...Int64(CartRules.maxQuantity)),
            .description("Units added to what the cart holds (at most \(CartRules.maxQuantity) per product in all)")),
    ]
}

extension SetCartItemRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("quantity", .range(1...Int64(CartRules.maxQuantity)))
    ]
}

extension CheckoutRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "payment_method", .length(1...CartRules.maxPaymentMethodLength), .pattern("^[A-Za-z0-9_]+$"),
            .description("A payment provider token (pm_card_ok in the simulated provider); null or absent: the default"))
    ]
}

extension CartView: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("The cart, at the prices seen when each line was set (checkout re-prices them)"),
        .property("item_count", .minimum(0), .description("Units in all lines")),
        .property("currency", .description("The lines' currency; absent when the cart is empty")),
    ]
}

extension CartView.Line: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("product_id", .format(.uuid)),
        .property("quantity", .range(1...Int64(CartRules.maxQuantity))),
    ]
}

extension Order: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("cancel_reason", .description("Why it was cancelled")),
    ]
}

extension RecordedTransition: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("input", .description("The input offered to the saga")),
        .property("outcome", .values("applied", "duplicate", "rejected")),
        .property("step_after", .cases(SagaStep.self)),
    ]
}
