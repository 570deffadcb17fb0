import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaStore
import SQLKit
import Testing

@testable import Catalog

@Suite("Catalog HTTP")
struct CatalogHTTPTests {
    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await CatalogHarness.run { harness in
            let routes = Set(harness.makeRouter().routes.map { "\($0.method) \($0.path)" })
            #expect(routes == CatalogService.openAPI.routeKeys)
            try await harness.test { client in
                let response = try await client.send(.get, "/openapi.json")
                #expect(response.status == .ok)
                let document = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                let paths = try #require(document?["paths"] as? [String: Any])
                #expect(paths["/v1/products/{id}/stock-adjustments"] != nil)
            }
        }
    }

    @Test func listsSearchesAndPaginatesTheSeededCatalog() async throws {
        try await CatalogHarness.run { harness in
            try await CatalogService.seedDemoCatalog(repository: harness.repository)
            try await harness.test { client in
                let categories = try await client.send(.get, "/v1/categories").decode(CategoriesBody.self)
                #expect(categories.items.count == 8)

                let first = try await client.send(.get, "/v1/products")
                #expect(first.status == .ok)
                let page = try first.decode(PageBody.self)
                #expect(page.items.count == 20)
                let cursor = try #require(page.nextCursor)

                var seen = Set(page.items.map(\.id))
                var next: String? = cursor
                var pages = 1
                while let current = next {
                    let response = try await client.send(.get, "/v1/products?limit=20&cursor=\(current)")
                    #expect(response.status == .ok)
                    let body = try response.decode(PageBody.self)
                    for item in body.items { #expect(seen.insert(item.id).inserted, "duplicate \(item.sku)") }
                    next = body.nextCursor
                    pages += 1
                }
                #expect(seen.count == 200)
                #expect(pages == 10)

                let search = try await client.send(.get, "/v1/products?q=aurora%2014&sort=price_desc&limit=100")
                let found = try search.decode(PageBody.self)
                #expect(found.items.count == 5)
                #expect(found.items.map(\.priceCents) == found.items.map(\.priceCents).sorted(by: >))
                #expect(found.nextCursor == nil)

                let filtered = try await client.send(
                    .get, "/v1/products?category=notebooks&min_price=600000&max_price=900000&in_stock=true&limit=100"
                ).decode(PageBody.self)
                #expect(!filtered.items.isEmpty)
                #expect(filtered.items.allSatisfy { (600_000...900_000).contains($0.priceCents) && $0.stock.available > 0 })
            }
        }
    }

    @Test func badQueryParametersAre4xxProblems() async throws {
        try await CatalogHarness.run { harness in
            try await harness.test { client in
                for query in ["limit=101", "limit=0", "limit=x", "min_price=-5", "max_price=abc", "in_stock=maybe", "sort=best"] {
                    let response = try await client.send(.get, "/v1/products?\(query)")
                    #expect(response.status == .unprocessableContent, "\(query)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(response.problem?.code == "validation_failed")
                }
                for cursor in ["garbage", "eyJ4IjoxfQ", ProductCursor(sort: .newest, number: 1, id: UUID().uuidString).encoded] {
                    let response = try await client.send(.get, "/v1/products?cursor=\(cursor)")
                    #expect(response.status == .notFound)
                    #expect(response.problem?.code == "cursor_not_found")
                }
                let inverted = try await client.send(.get, "/v1/products?min_price=900000&max_price=100")
                #expect(inverted.status == .ok)
                #expect(try inverted.decode(PageBody.self).items.isEmpty)
            }
        }
    }

    @Test func productETagAnswers304UntilTheProductChanges() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let created = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "ETAG-1")))
                #expect(created.status == .created)
                let product = try created.decode(Product.self)

                let first = try await client.send(.get, "/v1/products/\(product.id)")
                #expect(first.status == .ok)
                let etag = try #require(first.headers[.eTag])
                #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
                #expect(try first.decode(Product.self).priceCents == 100_000)

                let again = try await client.send(.get, "/v1/products/\(product.id)", headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified)
                #expect(again.body.readableBytes == 0)
                #expect(again.headers[.eTag] == etag)
                let listed = try await client.send(
                    .get, "/v1/products/\(product.id)", headers: [.ifNoneMatch: "\"other\", W/\(etag)"])
                #expect(listed.status == .notModified)

                let updated = try await client.send(
                    .put, "/v1/products/\(product.id)", headers: admin, body: jsonBody(productBody(sku: "ETAG-1", price: 89_900)))
                #expect(updated.status == .ok)
                let changed = try await client.send(.get, "/v1/products/\(product.id)", headers: [.ifNoneMatch: etag])
                #expect(changed.status == .ok)
                #expect(changed.headers[.eTag] != etag)
                #expect(try changed.decode(Product.self).priceCents == 89_900)
            }
        }
    }

    @Test func readsGoThroughTheCacheAndWritesInvalidateIt() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let product = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "CACHE-1"))
                )
                .decode(Product.self)
                #expect(try await client.send(.get, "/v1/products/\(product.id)").decode(Product.self).priceCents == 100_000)
                #expect(await harness.cache.get("product:\(product.id)") != nil)

                // A change behind the repository's back is not seen: the read is served from the cache.
                try await harness.store.transaction { database in
                    try await database.raw("UPDATE products SET price_cents = 1 WHERE id = \(bind: product.id)").run()
                }
                #expect(try await client.send(.get, "/v1/products/\(product.id)").decode(Product.self).priceCents == 100_000)

                // A write through the API invalidates it.
                let put = try await client.send(
                    .put, "/v1/products/\(product.id)", headers: admin, body: jsonBody(productBody(sku: "CACHE-1", price: 77_700))
                )
                #expect(put.status == .ok)
                #expect(try await client.send(.get, "/v1/products/\(product.id)").decode(Product.self).priceCents == 77_700)

                let adjusted = try await client.send(
                    .post, "/v1/products/\(product.id)/stock-adjustments", headers: admin,
                    body: jsonBody(["delta": 3, "reason": "compra"]))
                #expect(adjusted.status == .created)
                #expect(try await client.send(.get, "/v1/products/\(product.id)").decode(Product.self).stock.onHand == 3)

                #expect(try await client.send(.delete, "/v1/products/\(product.id)", headers: admin).status == .noContent)
                #expect(try await client.send(.get, "/v1/products/\(product.id)").status == .notFound)
            }
        }
    }

    @Test func adminManagesCategoriesAndProducts() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let categoryResponse = try await client.send(
                    .post, "/v1/categories", headers: admin, body: jsonBody(["slug": "games", "name": "Games"]))
                #expect(categoryResponse.status == .created)
                let category = try categoryResponse.decode(Catalog.Category.self)
                let duplicate = try await client.send(
                    .post, "/v1/categories", headers: admin, body: jsonBody(["slug": "games", "name": "Jogos"]))
                #expect(duplicate.status == .conflict)
                #expect(duplicate.problem?.code == "slug_taken")
                let badSlug = try await client.send(
                    .post, "/v1/categories", headers: admin, body: jsonBody(["slug": "Games!", "name": "x"]))
                #expect(badSlug.status == .unprocessableContent)

                let body = productBody(
                    sku: "GAME-1", name: "Console Nebula", category: category.id,
                    extra: [
                        "attributes": ["armazenamento": "1TB"], "images": ["https://cdn.example/console.jpg"],
                        "initial_stock": 7, "currency": "USD",
                    ])
                let created = try await client.send(.post, "/v1/products", headers: admin, body: jsonBody(body))
                #expect(created.status == .created)
                let product = try created.decode(Product.self)
                #expect(created.headers[.location] == "/v1/products/\(product.id)")
                #expect(product.categoryID == category.id)
                #expect(product.currency == "USD")
                #expect(product.attributes == ["armazenamento": "1TB"])
                #expect(product.stock == StockLevel(onHand: 7, reserved: 0))
                #expect(product.active)
                let raw = try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any]
                #expect((raw?["stock"] as? [String: Any])?["available"] as? Int == 7)
                #expect(
                    Set((raw ?? [:]).keys).isSuperset(of: [
                        "id", "sku", "name", "description", "category_id", "price_cents", "currency", "attributes", "images",
                        "active", "stock", "created_at", "updated_at",
                    ]))

                let defaults = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "GAME-2")))
                #expect(try defaults.decode(Product.self).currency == "BRL")

                let dupSKU = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "GAME-1")))
                #expect(dupSKU.status == .conflict)
                #expect(dupSKU.problem?.code == "sku_taken")

                let unknownCategory = try await client.send(
                    .post, "/v1/products", headers: admin,
                    body: jsonBody(productBody(sku: "GAME-3", category: UUID().uuidString.lowercased())))
                #expect(unknownCategory.status == .conflict)
                #expect(unknownCategory.problem?.code == "validation_failed")
                #expect(unknownCategory.problem?.errors?.first?.field == "category_id")

                // Soft delete: hidden from the public, still there for admins.
                #expect(try await client.send(.delete, "/v1/products/\(product.id)", headers: admin).status == .noContent)
                #expect(try await client.send(.get, "/v1/products/\(product.id)").status == .notFound)
                let customer = try await harness.customerHeaders()
                #expect(try await client.send(.get, "/v1/products/\(product.id)", headers: customer).status == .notFound)
                let asAdmin = try await client.send(.get, "/v1/products/\(product.id)", headers: admin)
                #expect(asAdmin.status == .ok)
                #expect(try asAdmin.decode(Product.self).active == false)
                let list = try await client.send(.get, "/v1/products?limit=100").decode(PageBody.self)
                #expect(list.items.map(\.sku) == ["GAME-2"])
            }
        }
    }

    @Test func accessIsEnforced() async throws {
        try await CatalogHarness.run { harness in
            let customer = try await harness.customerHeaders()
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let product = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "ACL-1"))
                )
                .decode(Product.self)
                let attempts: [(HTTPRequest.Method, String, ByteBuffer?)] = [
                    (.post, "/v1/products", jsonBody(productBody(sku: "ACL-2"))),
                    (.put, "/v1/products/\(product.id)", jsonBody(productBody(sku: "ACL-1"))),
                    (.delete, "/v1/products/\(product.id)", nil),
                    (.post, "/v1/categories", jsonBody(["slug": "x", "name": "X"])),
                    (.post, "/v1/products/\(product.id)/stock-adjustments", jsonBody(["delta": 1, "reason": "x"])),
                ]
                for (method, uri, body) in attempts {
                    let forbidden = try await client.send(method, uri, headers: customer, body: body)
                    #expect(forbidden.status == .forbidden, "\(method) \(uri)")
                    #expect(forbidden.problem?.code == "forbidden")
                    let anonymous = try await client.send(method, uri, headers: [.contentType: "application/json"], body: body)
                    #expect(anonymous.status == .unauthorized, "\(method) \(uri)")
                    #expect(anonymous.headers[.wwwAuthenticate] != nil)
                }
                let forged = try await client.send(.get, "/v1/products", headers: [.authorization: "Bearer not.a.jwt"])
                #expect(forged.status == .unauthorized)
                #expect(try await client.send(.get, "/v1/products", headers: customer).status == .ok)
            }
        }
    }

    @Test func badBodiesAndUnknownIdsAre4xx() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let malformed = try await client.send(
                    .post, "/v1/products", headers: admin, body: ByteBuffer(string: "{\"sku\": "))
                #expect(malformed.status == .badRequest)
                #expect(malformed.problem?.code == "malformed_json")

                let invalidBodies: [[String: Any]] = [
                    productBody(sku: "T-1", extra: ["price_cents": "cheap"]),
                    productBody(sku: "T-1", extra: ["price_cents": 10.5]),
                    productBody(sku: "T-1", price: -1),
                    productBody(sku: "T-1", price: 1_000_000_000_000),
                    productBody(sku: "T-1", extra: ["price_cents": 1e30]),
                    productBody(sku: "T-1", name: String(repeating: "n", count: 201)),
                    productBody(sku: "T-1", extra: ["description": String(repeating: "d", count: 5001)]),
                    productBody(sku: String(repeating: "S", count: 65)),
                    productBody(sku: "T-1", extra: ["currency": "brl"]),
                    productBody(
                        sku: "T-1", extra: ["attributes": Dictionary(uniqueKeysWithValues: (0..<51).map { ("k\($0)", "v") })]),
                    productBody(sku: "T-1", extra: ["attributes": ["ram": 16]]),
                    productBody(sku: "T-1", extra: ["images": Array(repeating: "https://cdn.example/a.jpg", count: 21)]),
                    productBody(sku: "T-1", extra: ["images": ["javascript:alert(1)"]]),
                    productBody(sku: "T-1", extra: ["category_id": "not-a-uuid"]),
                    productBody(sku: "T-1", extra: ["initial_stock": -3]),
                    ["name": "sem sku", "price_cents": 1],
                ]
                for body in invalidBodies {
                    let response = try await client.send(.post, "/v1/products", headers: admin, body: jsonBody(body))
                    #expect(
                        response.status == .unprocessableContent,
                        "\(body.keys.sorted()) \(String(buffer: jsonBody(body))) \(response.problem?.detail ?? "")")
                    #expect(response.problem?.code == "validation_failed")
                }

                let unknown = UUID().uuidString.lowercased()
                #expect(try await client.send(.get, "/v1/products/\(unknown)").status == .notFound)
                #expect(try await client.send(.get, "/v1/products/not-a-uuid").problem?.code == "not_found")
                #expect(
                    try await client.send(
                        .put, "/v1/products/\(unknown)", headers: admin, body: jsonBody(productBody(sku: "U-1"))
                    ).status == .notFound)
                #expect(try await client.send(.delete, "/v1/products/\(unknown)", headers: admin).status == .notFound)
                #expect(try await client.send(.delete, "/v1/products/12345", headers: admin).status == .notFound)
                let adjustUnknown = try await client.send(
                    .post, "/v1/products/\(unknown)/stock-adjustments", headers: admin,
                    body: jsonBody(["delta": 1, "reason": "x"]))
                #expect(adjustUnknown.status == .notFound)
            }
        }
    }

    @Test func stockAdjustmentsAreRecordedAndNeverGoNegative() async throws {
        try await CatalogHarness.run { harness in
            let admin = try await harness.adminHeaders()
            try await harness.test { client in
                let product = try await client.send(
                    .post, "/v1/products", headers: admin, body: jsonBody(productBody(sku: "STOCK-1"))
                )
                .decode(Product.self)
                let uri = "/v1/products/\(product.id)/stock-adjustments"
                let added = try await client.send(
                    .post, uri, headers: admin, body: jsonBody(["delta": 10, "reason": "recebimento NF 123"]))
                #expect(added.status == .created)
                let body = try added.decode(StockAdjustmentBody.self)
                #expect(body.stock == StockLevel(onHand: 10, reserved: 0))
                #expect(body.movement.delta == 10)
                #expect(body.movement.reason == "recebimento NF 123")

                let tooMuch = try await client.send(
                    .post, uri, headers: admin, body: jsonBody(["delta": -11, "reason": "perda"]))
                #expect(tooMuch.status == .conflict)
                #expect(tooMuch.problem?.code == "insufficient_stock")
                let zero = try await client.send(.post, uri, headers: admin, body: jsonBody(["delta": 0, "reason": "nada"]))
                #expect(zero.status == .unprocessableContent)
                let noReason = try await client.send(.post, uri, headers: admin, body: jsonBody(["delta": 1, "reason": " "]))
                #expect(noReason.status == .unprocessableContent)
                let wrongType = try await client.send(.post, uri, headers: admin, body: jsonBody(["delta": "1", "reason": "x"]))
                #expect(wrongType.status == .unprocessableContent)
                let removed = try await client.send(
                    .post, uri, headers: admin, body: jsonBody(["delta": -10, "reason": "venda balcão"]))
                #expect(try removed.decode(StockAdjustmentBody.self).stock == StockLevel(onHand: 0, reserved: 0))

                let movements = try await harness.repository.stockMovements(productID: product.id)
                #expect(movements.map(\.delta) == [10, -10])
                #expect(movements.map(\.onHandAfter) == [10, 0])
                let stored = try await client.send(.get, "/v1/products/\(product.id)").decode(Product.self)
                #expect(stored.stock == StockLevel(onHand: 0, reserved: 0))
            }
        }
    }
}

struct StockAdjustmentBody: Decodable {
    var movement: StockMovement
    var stock: StockLevel
}
