import Foundation
@testable import MalhaOpenAPI

/// The documents the tests (and `validate.sh`) check: parts of Malha's ledger, orders and
/// identity services declared with the v2 builder.
enum SampleDocuments {
    static func ledger() throws -> OpenAPIDocument {
        try OpenAPIDocument(
            service: "ledger", title: "Malha Ledger (cash flow)", version: "1.0.0",
            operations: [
                .post(
                    "/v1/accounts", "Open a cash account owned by the caller", access: .authenticated,
                    body: .json(OpenAccountRequest.self),
                    responses: [.created(LedgerAccount.self), .problem(422, "Invalid name, currency or timezone")]),
                .get(
                    "/v1/accounts", "The caller's accounts, newest first", access: .authenticated,
                    parameters: [
                        .query("limit", .integer(1...100).defaulting(20)),
                        .query("cursor", .string(format: .uuid), description: "The previous page's next_cursor"),
                        .query("owner_id", .string(length: 1...255), description: "Finance and admin: one owner's accounts"),
                    ],
                    responses: [
                        .page(of: LedgerAccount.self), .problem(400, "Invalid cursor"),
                        .problem(403, "owner_id of someone else without the finance or admin role"),
                        .problem(422, "Invalid limit or owner_id"),
                    ]),
                .get(
                    "/v1/accounts/{id}", "An account (its owner, finance or admin)", access: .authenticated,
                    parameters: [.path("id", UUID.self)], ifNoneMatch: true,
                    responses: [.ok(LedgerAccount.self, headers: [.etag]), .problem(404)]),
                .post(
                    "/v1/accounts/{id}/entries", "Record a credit or debit", access: .authenticated,
                    parameters: [.path("id", UUID.self)], idempotencyKey: .required,
                    body: .json(RecordEntryRequest.self),
                    responses: [
                        .created(LedgerEntry.self, headers: [.location, .idempotentReplayed]),
                        .problem(400, 401, 404, 409, 415, 422),
                    ]),
                .get(
                    "/v1/accounts/{id}/entries", "The account's entries by sequence", access: .authenticated,
                    parameters: [
                        .path("id", UUID.self),
                        .query("from", .string(format: .date), description: "Business date, inclusive"),
                        .query("to", .string(format: .date), description: "Business date, inclusive"),
                        .query("type", LedgerEntryType.self),
                        .query("category", .string(length: 1...100)),
                        .query("limit", .integer(1...500).defaulting(100)),
                        .query("cursor", .integer(minimum: 1), description: "The previous page's next_cursor"),
                    ],
                    responses: [.page(of: LedgerEntry.self), .problem(400, 404, 422)]),
                .post(
                    "/v1/entries/{id}/reversal", "Reverse an entry once", access: .authenticated,
                    parameters: [.path("id", UUID.self)], idempotencyKey: .required,
                    body: .json(ReversalRequest.self, required: false),
                    responses: [
                        .created(LedgerEntry.self, "The reversal entry", headers: [.location, .idempotentReplayed]),
                        .problem(404), .problem(409, "already_reversed, or the key's first request is still running"),
                    ]),
            ])
    }

    static func shop() throws -> OpenAPIDocument {
        try OpenAPIDocument(
            service: "orders", title: "Malha Orders", version: "1.0.0",
            operations: [
                .get("/v1/cart", "The caller's cart", access: .authenticated, responses: [.ok(CartView.self)]),
                .post(
                    "/v1/cart/items", "Add units of a product to the cart", access: .authenticated,
                    body: .json(AddCartItemRequest.self), responses: [.ok(CartView.self), .problem(404)]),
                .post(
                    "/v1/products", "Create a product", access: .admin, body: .json(ProductRequest.self),
                    responses: [.created(Product.self), .problem(409, "sku_taken")]),
                .get(
                    "/v1/products/{id}", "A product", parameters: [.path("id", UUID.self)], ifNoneMatch: true,
                    responses: [.ok(Product.self, headers: [.etag]), .problem(404)]),
            ])
    }

    static func identity() throws -> OpenAPIDocument {
        try OpenAPIDocument(
            service: "identity", title: "Malha identity", version: "1.0.0",
            operations: [
                .post(
                    "/v1/oauth/token", "OAuth 2.0 token endpoint (client_credentials)",
                    security: [.basic, .anonymous], body: .form(TokenRequest.self, orJSON: true),
                    responses: [
                        .ok(TokenResponse.self, "An access token"),
                        .problem(400, "invalid_request, unsupported_grant_type or invalid_scope"),
                        .problem(401, "invalid_client"),
                    ])
            ])
    }

    /// The gateway's own operations: the merged document and its page.
    static func gatewayOwn() throws -> OpenAPIDocument {
        try OpenAPIDocument(
            service: "gateway", title: "Malha gateway", version: "1.0.0", includePlatformOperations: false,
            operations: [
                .get(
                    "/openapi.json", "This document: every service's public operations",
                    responses: [.status(200, "OpenAPI 3.1", contentType: "application/json", schema: .typed(.object))]),
                .get(
                    "/docs", "This document, readable",
                    responses: [.status(200, "A self-contained HTML page", contentType: "text/html", schema: .string())]),
            ])
    }

    static func gateway() throws -> OpenAPIDocument {
        try OpenAPIDocument.merged(
            title: "Malha API", version: "1.0.0", description: "Every public operation, through the gateway",
            documents: [gatewayOwn(), ledger(), shop(), identity()])
    }
}
