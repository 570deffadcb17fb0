import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Catalog

/// The catalog's OpenAPI document says what the handlers really answer and accept: real
/// responses, through the router, conform to the documented schema of their status.
@Suite("Catalog OpenAPI document")
struct CatalogDocumentTests {
    let document = CatalogService.openAPI

    @Test("the document has no dangling reference and openapi-spec-validator accepts it")
    func documentIsValid() throws {
        #expect(document.danglingReferences() == [])
        try OpenAPISpecValidation.check(document)
    }

    @Test("every response of a catalog session is documented, with a body that conforms")
    func responsesConform() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            let document = self.document
            try await harness.test { client in
                func send(
                    _ method: HTTPRequest.Method, _ path: String, _ template: String, headers: HTTPFields? = nil,
                    body: [String: Any]? = nil
                ) async throws -> TestResponse {
                    let response = try await client.send(
                        method, path, headers: headers ?? admin, body: body.map(jsonBody))
                    #expect(document.violations(of: response, to: method, template) == [], "\(method) \(path)")
                    return response
                }
                let category = try await send(
                    .post, "/v1/categories", "/v1/categories", body: ["slug": "notebooks", "name": "Notebooks"])
                #expect(category.status == .created)
                let categoryID = try JSONCoding.decoder.decode(Catalog.Category.self, from: Data(category.body.readableBytesView))
                    .id
                _ = try await send(.get, "/v1/categories", "/v1/categories", headers: [:])
                let created = try await send(
                    .post, "/v1/products", "/v1/products",
                    body: productBody(
                        sku: "NB-14", category: categoryID,
                        extra: [
                            "attributes": ["ram": "16GB"], "images": ["https://img.example.com/nb-14.png"],
                            "initial_stock": 5, "currency": "BRL",
                        ]))
                #expect(created.status == .created)
                let id = try JSONCoding.decoder.decode(Product.self, from: Data(created.body.readableBytesView)).id
                let path = "/v1/products/\(id)"
                let fetched = try await send(.get, path, "/v1/products/{id}", headers: [:])
                #expect(fetched.status == .ok)
                let etag = try #require(fetched.headers[.eTag])
                #expect(try await send(.get, path, "/v1/products/{id}", headers: [.ifNoneMatch: etag]).status == .notModified)
                _ = try await send(.get, "/v1/products?sort=price_asc&limit=1&in_stock=true", "/v1/products", headers: [:])
                #expect(try await send(.put, path, "/v1/products/{id}", body: productBody(sku: "NB-14b")).status == .ok)
                let adjusted = try await send(
                    .post, "\(path)/stock-adjustments", "/v1/products/{id}/stock-adjustments",
                    body: ["delta": -2, "reason": "inventory count"])
                #expect(adjusted.status == .created)

                // Refusals: each is a documented status with a Problem body.
                #expect(
                    try await send(
                        .post, "\(path)/stock-adjustments", "/v1/products/{id}/stock-adjustments",
                        body: ["delta": -100, "reason": "too many"]
                    ).status == .conflict)
                #expect(
                    try await send(.post, "/v1/products", "/v1/products", body: productBody(sku: "NB-14b")).status == .conflict)
                #expect(try await send(.post, "/v1/products", "/v1/products", body: ["sku": ""]).status == .unprocessableContent)
                #expect(try await send(.get, "/v1/products?cursor=nope", "/v1/products", headers: [:]).status == .notFound)
                #expect(
                    try await send(.get, "/v1/products?limit=0", "/v1/products", headers: [:]).status == .unprocessableContent)
                #expect(try await send(.delete, path, "/v1/products/{id}").status == .noContent)
                #expect(try await send(.get, path, "/v1/products/{id}", headers: [:]).status == .notFound)
                #expect(
                    try await send(.get, "/v1/products/not-a-uuid", "/v1/products/{id}", headers: [:]).status == .notFound)
                #expect(
                    try await send(.post, "/v1/categories", "/v1/categories", headers: [:], body: ["slug": "x"]).status
                        == .unauthorized)
                #expect(
                    try await send(
                        .get, "/v1/categories", "/v1/categories", headers: [.authorization: "Bearer nonsense"]
                    ).status == .unauthorized)
                let customer = try await harness.customerHeaders()
                #expect(
                    try await send(.delete, path, "/v1/products/{id}", headers: customer).status == .forbidden)
            }
        }
    }

    @Test("the request schemas refuse what ProductRules refuses, and accept what it accepts")
    func requestSchemasMatchRules() throws {
        let validator = document.validator
        let product = JSONSchema.reference("ProductRequest")
        let valid: JSONValue = [
            "sku": "NB-14.a_b", "name": "Notebook", "price_cents": 0, "description": nil, "category_id": nil,
            "currency": "USD", "attributes": ["k": "v"], "images": ["http://example.com/a.png"], "active": nil,
            "initial_stock": 0,
        ]
        #expect(validator.violations(of: valid, against: product) == [])
        for broken: JSONValue in [
            ["sku": "NB 14", "name": "Notebook", "price_cents": 1],
            ["sku": "NB", "name": "   ", "price_cents": 1],
            ["sku": "NB", "name": "Notebook", "price_cents": -1],
            ["sku": "NB", "name": "Notebook", "price_cents": 10_000_000_001],
            ["sku": "NB", "name": "Notebook", "price_cents": 1.5],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "currency": "brl"],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "category_id": "general"],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "images": ["ftp://example.com/a.png"]],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "attributes": ["": "v"]],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "initial_stock": nil],
            ["sku": "NB", "name": "Notebook", "price_cents": 1, "initial_stock": 1_000_001],
            ["name": "Notebook", "price_cents": 1],
        ] {
            #expect(!validator.violations(of: broken, against: product).isEmpty, "\(broken)")
        }
        let adjustment = JSONSchema.reference("StockAdjustmentRequest")
        #expect(validator.violations(of: ["delta": -1, "reason": "count"], against: adjustment) == [])
        #expect(!validator.violations(of: ["delta": 0, "reason": "count"], against: adjustment).isEmpty)
        #expect(!validator.violations(of: ["delta": 1_000_001, "reason": "count"], against: adjustment).isEmpty)
        #expect(!validator.violations(of: ["delta": 1, "reason": " \n"], against: adjustment).isEmpty)
        let category = JSONSchema.reference("CategoryRequest")
        #expect(validator.violations(of: ["slug": "a-b1", "name": "A"], against: category) == [])
        #expect(!validator.violations(of: ["slug": "a--b", "name": "A"], against: category).isEmpty)
    }
}
