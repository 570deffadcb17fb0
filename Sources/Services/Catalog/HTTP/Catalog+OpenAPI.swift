import Foundation
public import MalhaOpenAPI

// The schemas of the catalog's wire types, refined to say what `ProductRules` and the handlers
// accept: a fuzzer that sends what a schema allows must get an answer, and what it forbids a 4xx.

/// Schemas shared by the catalog's annotations.
enum CatalogSchemas {
    /// An absolute http(s) URL with a host, as `ProductRules.isImageURL` accepts it (conservatively:
    /// plain host names and paths, which `URL(string:)` parses on every platform).
    static let imageURL = "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"

    static let currency = "^[A-Z]{3}$"

    /// `in_stock`: what `ProductQuery.parse` reads as a boolean (case-insensitive true/false, 1/0).
    static let queryBoolean = JSONSchema.string(
        pattern: "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$", description: "true or false (also 1 or 0)")

    static let attributes: JSONSchema = {
        var schema = JSONSchema.dictionary(
            of: .string(maxLength: ProductRules.maxAttributeValueLength),
            description:
                "At most \(ProductRules.maxAttributes) entries; keys 1 to \(ProductRules.maxAttributeKeyLength) characters")
        schema.propertyNames = .init(.string(length: 1...ProductRules.maxAttributeKeyLength))
        return schema
    }()

    static let images = JSONSchema.array(
        of: .string(maxLength: ProductRules.maxImageURLLength, pattern: imageURL), maxItems: ProductRules.maxImages,
        description: "Absolute http(s) image URLs")
}

extension ProductRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A product's descriptive fields; PUT replaces them all (an omitted optional field takes its default)"),
        .property("sku", .length(1...ProductRules.maxSKULength), .pattern("^[A-Za-z0-9._-]+$")),
        .property("name", .length(1...ProductRules.maxNameLength), .pattern(TextPattern.notBlank)),
        .property("description", .maxLength(ProductRules.maxDescriptionLength), .description("Default: empty")),
        .property("category_id", .format(.uuid), .description("An existing category's id (one that names no category is 409)")),
        .property("price_cents", .range(0...Int64(ProductRules.maxPriceCents))),
        .property("currency", .pattern(CatalogSchemas.currency), .description("ISO 4217; default BRL")),
        .property("attributes", .schema(CatalogSchemas.attributes.nullable())),
        .property("images", .schema(CatalogSchemas.images.nullable())),
        .property("active", .description("Default: true")),
        .property(
            "initial_stock", .range(0...Int64(ProductRules.maxStockDelta)),
            .description("Units on hand at creation (POST only; PUT ignores it)")),
    ]
}

extension CategoryRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "slug", .length(1...ProductRules.maxSlugLength), .pattern("^[a-z0-9]+(-[a-z0-9]+)*$"),
            .description("Lowercase letters, digits and single hyphens")),
        .property("name", .length(1...ProductRules.maxCategoryNameLength), .pattern(TextPattern.notBlank)),
    ]
}

extension StockAdjustmentRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "delta",
            .schema(
                .anyOf(
                    [
                        .integer(Int64(-ProductRules.maxStockDelta)...(-1)),
                        .integer(1...Int64(ProductRules.maxStockDelta)),
                    ], description: "Units added (positive) or removed (negative); never zero")
            )),
        .property("reason", .length(1...ProductRules.maxReasonLength), .pattern(TextPattern.notBlank)),
    ]
}

extension StockLevel: OpenAPISchemaProviding {
    public static var openAPIComponentName: String? { "StockLevel" }
    public static var openAPISchema: JSONSchema {
        .object(
            [
                .init("on_hand", .integer(minimum: 0, description: "Every unit in the warehouse")),
                .init("reserved", .integer(minimum: 0, description: "Held for orders not yet shipped")),
                .init("available", .integer(minimum: 0, description: "What can still be sold: on_hand - reserved")),
            ], required: ["on_hand", "reserved", "available"])
    }
}

extension Product: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("category_id", .format(.uuid), .description("Absent when the product has no category")),
        .property("price_cents", .range(0...Int64(ProductRules.maxPriceCents))),
        .property("currency", .pattern(CatalogSchemas.currency)),
    ]
}

extension Category: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [.property("id", .format(.uuid))]
}

extension StockMovement: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("product_id", .format(.uuid)),
        .property("on_hand_after", .minimum(0)),
        .property("actor", .description("The subject of the administrator who adjusted")),
    ]
}
