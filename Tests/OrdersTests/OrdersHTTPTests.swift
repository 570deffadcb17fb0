import AsyncHTTPClient
import Catalog
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import ServiceLifecycle
import Testing

@testable import Orders

/// Orders over HTTP with a real catalog on a loopback port (prices come from its API) and the
/// orders database on each backend.
struct OrdersHarness: Sendable {
    let store: any SQLStore
    let catalogStore: any SQLStore
    let catalogURL: String
    let runtime: ServiceRuntime
    let tokens: TestTokens
    let prices: CatalogHTTPPrices
    /// Three demo products that are for sale, with their prices.
    let products: [(id: String, priceCents: Int64)]

    var verifier: AccessTokenVerifier { tokens.verifier }

    static func run(_ body: (OrdersHarness) async throws -> Void) async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, catalogStore) = (stores[0], stores[1])
            try await OrdersService.migrate(store, logger: testLogger)
            let tokens = await TestTokens.make()
            try await withLiveCatalog(store: catalogStore, verifier: tokens.verifier) { catalogURL in
                let products = try await catalogStore.read { db in
                    try await db.raw("SELECT id, price_cents FROM products WHERE active = \(bind: true) ORDER BY sku LIMIT 3")
                        .all().map {
                            (
                                id: try $0.decode(column: "id", as: String.self),
                                priceCents: try $0.decode(column: "price_cents", as: Int64.self)
                            )
                        }
                }
                try await body(
                    OrdersHarness(
                        store: store, catalogStore: catalogStore, catalogURL: catalogURL,
                        runtime: ServiceRuntime(descriptor: .init(name: OrdersService.name), logger: testLogger),
                        tokens: tokens, prices: CatalogHTTPPrices(baseURL: catalogURL, httpClient: .shared), products: products))
            }
        }
    }

    func test(prices: (any PriceSource)? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = OrdersService.buildRouter(
            runtime: runtime, store: store, prices: prices ?? self.prices, verifier: verifier)
        try await Application(router: router).test(.router, body)
    }

    func headers(subject: String, roles: [String] = [Role.customer], idempotencyKey: String? = nil) async throws -> HTTPFields {
        var headers = try await tokens.headers(subject: subject, roles: roles)
        if let idempotencyKey { headers[.idempotencyKey] = idempotencyKey }
        return headers
    }
}

/// Runs the catalog application (migrated, demo catalog seeded) on a free loopback port.
func withLiveCatalog(
    store: any SQLStore, verifier: AccessTokenVerifier, _ body: (String) async throws -> Void
) async throws {
    let runtime = ServiceRuntime(descriptor: .init(name: CatalogService.name), logger: testLogger)
    let application = try await CatalogService.buildApplication(
        configuration: .init(seedDemoData: true), runtime: runtime, store: store, verifier: verifier)
    let group = ServiceGroup(services: [application], logger: testLogger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        await runtime.readiness.wait(for: .migrations)
        let baseURL = try await runtime.boundAddress.baseURL()
        do {
            try await body(baseURL)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], json: [String: Any]? = nil
    ) async throws -> TestResponse {
        let body = json.map { ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: $0)) ?? Data()) }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { $0 }
    }
}

struct CartBody: Decodable {
    struct Line: Decodable {
        var productID: String
        var quantity: Int
        var unitPriceCents: Int64
        enum CodingKeys: String, CodingKey {
            case quantity
            case productID = "product_id"
            case unitPriceCents = "unit_price_cents"
        }
    }
    var items: [Line]
    var totalCents: Int64
    enum CodingKeys: String, CodingKey {
        case items
        case totalCents = "total_cents"
    }
}

struct OrderPage: Decodable {
    var items: [Order]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

func outboxTypes(_ store: any SQLStore) async throws -> [String] {
    try await store.read { db in
        try await db.raw("SELECT message_type FROM outbox ORDER BY seq").all().map {
            try $0.decode(column: "message_type", as: String.self)
        }
    }
}

@Suite("Orders HTTP: cart, checkout, orders")
struct OrdersHTTPTests {
    @Test("The cart is priced from the catalog, validated, and the caller's own")
    func cart() async throws {
        try await OrdersHarness.run { harness in
            let alice = try await harness.headers(subject: "alice")
            let bob = try await harness.headers(subject: "bob")
            let (first, second) = (harness.products[0], harness.products[1])
            try await harness.test { client in
                var response = try await client.send(.get, "/v1/cart")
                #expect(response.status == .unauthorized)

                response = try await client.send(
                    .post, "/v1/cart/items", headers: alice, json: ["product_id": first.id, "quantity": 2])
                #expect(response.status == .ok)
                response = try await client.send(
                    .post, "/v1/cart/items", headers: alice, json: ["product_id": first.id, "quantity": 1])
                response = try await client.send(
                    .put, "/v1/cart/items/\(second.id)", headers: alice, json: ["quantity": 4])
                var cart = try response.decode(CartBody.self)
                #expect(cart.items.map(\.quantity) == [3, 4])
                #expect(cart.items.map(\.unitPriceCents) == [first.priceCents, second.priceCents])
                #expect(cart.totalCents == 3 * first.priceCents + 4 * second.priceCents)

                // Bob's cart is his own.
                cart = try await client.send(.get, "/v1/cart", headers: bob).decode(CartBody.self)
                #expect(cart.items.isEmpty)

                // Bad input: a 4xx problem with a stable code, and the cart unchanged.
                // A product that is not for sale now conflicts with the catalog's state: 409.
                for (json, status, code) in [
                    (["product_id": "not-a-uuid", "quantity": 1], .unprocessableContent, "validation_failed"),
                    (["product_id": first.id, "quantity": 0], .unprocessableContent, "validation_failed"),
                    (["product_id": first.id, "quantity": 1001], .unprocessableContent, "validation_failed"),
                    (["product_id": first.id, "quantity": 998], .unprocessableContent, "validation_failed"),
                    (["product_id": UUID().uuidString, "quantity": 1], .conflict, "product_unavailable"),
                ] as [([String: Any], HTTPResponse.Status, String)] {
                    response = try await client.send(.post, "/v1/cart/items", headers: alice, json: json)
                    #expect(response.status == status, "\(json)")
                    #expect(response.problem?.code == code, "\(json)")
                }
                cart = try await client.send(.get, "/v1/cart", headers: alice).decode(CartBody.self)
                #expect(cart.items.map(\.quantity) == [3, 4])

                response = try await client.send(.delete, "/v1/cart/items/\(first.id)", headers: alice)
                #expect(response.status == .noContent)
                cart = try await client.send(.get, "/v1/cart", headers: alice).decode(CartBody.self)
                #expect(cart.items.map(\.productID) == [second.id])
                #expect(try await client.send(.delete, "/v1/cart", headers: alice).status == .noContent)
                cart = try await client.send(.get, "/v1/cart", headers: alice).decode(CartBody.self)
                #expect(cart.items.isEmpty)
            }
        }
    }

    @Test("Checkout needs an Idempotency-Key; same key and body → same order; other body → 422; running → 409")
    func checkoutIdempotency() async throws {
        try await OrdersHarness.run { harness in
            let product = harness.products[0]
            let noKey = try await harness.headers(subject: "carol")
            let keyed = try await harness.headers(subject: "carol", idempotencyKey: "checkout-1")
            try await harness.test { client in
                var response = try await client.send(.post, "/v1/orders", headers: noKey)
                #expect(response.status == .badRequest)
                #expect(response.problem?.code == "idempotency_key_required")

                // An empty cart fails before any effect and releases the key…
                response = try await client.send(.post, "/v1/orders", headers: keyed)
                #expect(response.status == .conflict)
                #expect(response.problem?.code == "cart_empty")

                // …so the same key works once the cart has something.
                _ = try await client.send(
                    .post, "/v1/cart/items", headers: keyed, json: ["product_id": product.id, "quantity": 2])
                response = try await client.send(.post, "/v1/orders", headers: keyed)
                #expect(response.status == .created)
                let order = try response.decode(Order.self)
                #expect(order.status == .pending)
                #expect(order.customerID == "carol")
                #expect(order.totalCents == 2 * product.priceCents)
                #expect(order.lines == [OrderLine(productID: product.id, quantity: 2, unitPriceCents: product.priceCents)])
                #expect(response.headers[.location] == "/v1/orders/\(order.id)")

                // The cart is empty; the order, its saga's first command and OrderPlaced are stored.
                #expect(try await client.send(.get, "/v1/cart", headers: keyed).decode(CartBody.self).items.isEmpty)
                #expect(try await outboxTypes(harness.store) == [OrderPlaced.type, ReserveStock.type])

                // A retry (same key, same — empty — body) replays the same order; nothing new is placed.
                response = try await client.send(.post, "/v1/orders", headers: keyed)
                #expect(response.status == .created)
                #expect(response.headers[.idempotentReplayed] == "true")
                #expect(response.headers[.location] == "/v1/orders/\(order.id)", "a replay is the first answer, headers too")
                #expect(try response.decode(Order.self) == order)
                #expect(try await outboxTypes(harness.store).count == 2)

                // The same key with another body is refused.
                response = try await client.send(
                    .post, "/v1/orders", headers: keyed, json: ["payment_method": "pm_card_declined"])
                #expect(response.status == .unprocessableContent)
                #expect(response.problem?.code == "idempotency_key_reused")

                // A key another request of the same customer holds right now → 409.
                _ = try await IdempotencyKeys.claim(
                    scope: "checkout:carol", key: "checkout-2", requestHash: try OrdersRoutes.fingerprint(CheckoutRequest()),
                    now: Date(),
                    in: harness.store)
                let running = try await harness.headers(subject: "carol", idempotencyKey: "checkout-2")
                response = try await client.send(.post, "/v1/orders", headers: running)
                #expect(response.status == .conflict)
                #expect(response.problem?.code == "idempotency_key_in_use")

                // Keys are per customer: dave's "checkout-1" is his own.
                let dave = try await harness.headers(subject: "dave", idempotencyKey: "checkout-1")
                _ = try await client.send(
                    .post, "/v1/cart/items", headers: dave, json: ["product_id": product.id, "quantity": 1])
                response = try await client.send(.post, "/v1/orders", headers: dave, json: ["payment_method": "pm_card_ok"])
                #expect(response.status == .created)
                #expect(try response.decode(Order.self).id != order.id)

                // Invalid payment method → 422 before any claim.
                let erin = try await harness.headers(subject: "erin", idempotencyKey: "k")
                response = try await client.send(.post, "/v1/orders", headers: erin, json: ["payment_method": "drop table"])
                #expect(response.status == .unprocessableContent)
                #expect(response.problem?.errors?.first?.field == "payment_method")
            }
        }
    }

    @Test("The payment method chosen at checkout reaches AuthorizePayment")
    func paymentMethodCarried() async throws {
        try await OrdersHarness.run { harness in
            let headers = try await harness.headers(subject: "fay", idempotencyKey: "k1")
            try await harness.test { client in
                _ = try await client.send(
                    .post, "/v1/cart/items", headers: headers, json: ["product_id": harness.products[0].id, "quantity": 1])
                let response = try await client.send(
                    .post, "/v1/orders", headers: headers, json: ["payment_method": "pm_card_declined"])
                #expect(response.status == .created)
            }
            let order = try await harness.store.read { db in
                try await OrderSagas.orders(customerID: "fay", before: nil, limit: 1, in: db).first
            }
            let orderID = try #require(order?.id)
            let transition = try await harness.store.transaction { db in
                try await OrderSagas.offer(
                    .stockReserved, orderID: orderID, messageID: "m1", causedBy: nil, now: Date(), stepTimeout: .seconds(30),
                    in: db)
            }
            guard case .applied = transition else { Issue.record("expected applied, got \(transition)"); return }
            let authorize = try await harness.store.read { db in
                try await db.raw("SELECT payload FROM outbox WHERE message_type = \(bind: AuthorizePayment.type)").first()
            }
            let payload = try #require(authorize).decode(column: "payload", as: String.self)
            let command = try MessageCoding.decoder.decode(AuthorizePayment.self, from: Data(payload.utf8))
            #expect(command.paymentMethod == "pm_card_declined")
            #expect(command.customerID == "fay")
        }
    }

    @Test("Checkout re-prices from the catalog: a changed price → 409 and the cart shows the new price")
    func pricesChanged() async throws {
        try await OrdersHarness.run { harness in
            let product = harness.products[0]
            let headers = try await harness.headers(subject: "gus", idempotencyKey: "k1")
            try await harness.test { client in
                _ = try await client.send(
                    .post, "/v1/cart/items", headers: headers, json: ["product_id": product.id, "quantity": 1])
            }
            try await harness.catalogStore.transaction { db in
                try await db.raw("UPDATE products SET price_cents = price_cents + 500 WHERE id = \(bind: product.id)").run()
            }
            // The running catalog serves the product from its cache (the SQL change went around its
            // API); a second catalog instance over the same database reports the new price.
            try await withLiveCatalog(store: harness.catalogStore, verifier: harness.verifier) { freshURL in
                let fresh = CatalogHTTPPrices(baseURL: freshURL, httpClient: .shared)
                try await harness.test(prices: fresh) { client in
                    var response = try await client.send(.post, "/v1/orders", headers: headers)
                    #expect(response.status == .conflict)
                    #expect(response.problem?.code == "cart_prices_changed")
                    let cart = try await client.send(.get, "/v1/cart", headers: headers).decode(CartBody.self)
                    #expect(cart.items.first?.unitPriceCents == product.priceCents + 500)
                    // Reviewed: the same key now goes through at the new price.
                    response = try await client.send(.post, "/v1/orders", headers: headers)
                    #expect(response.status == .created)
                    #expect(try response.decode(Order.self).totalCents == product.priceCents + 500)
                }
            }
        }
    }

    @Test("Catalog down → 503 catalog_unavailable, nothing written, the key released")
    func catalogDown() async throws {
        try await OrdersHarness.run { harness in
            let headers = try await harness.headers(subject: "hal", idempotencyKey: "k1")
            try await harness.test { client in
                _ = try await client.send(
                    .post, "/v1/cart/items", headers: headers, json: ["product_id": harness.products[0].id, "quantity": 1])
            }
            // Port 9 (discard) on loopback: nothing listens, the connection is refused.
            let down = CatalogHTTPPrices(baseURL: "http://127.0.0.1:9", httpClient: .shared)
            try await harness.test(prices: down) { client in
                var response = try await client.send(.post, "/v1/orders", headers: headers)
                #expect(response.status == .serviceUnavailable)
                #expect(response.problem?.code == "catalog_unavailable")
                response = try await client.send(
                    .post, "/v1/cart/items", headers: headers, json: ["product_id": harness.products[1].id, "quantity": 1])
                #expect(response.status == .serviceUnavailable)
            }
            #expect(try await outboxTypes(harness.store).isEmpty)
            try await harness.test { client in
                let response = try await client.send(.post, "/v1/orders", headers: headers)
                #expect(response.status == .created)
            }
        }
    }

    @Test("A customer sees their own orders (another's is 404); an admin sees all; pages are newest first")
    func visibility() async throws {
        try await OrdersHarness.run { harness in
            let product = harness.products[0]
            try await harness.test { client in
                var ids: [String] = []
                for index in 0..<3 {
                    let headers = try await harness.headers(subject: "ivy", idempotencyKey: "k\(index)")
                    _ = try await client.send(
                        .post, "/v1/cart/items", headers: headers, json: ["product_id": product.id, "quantity": 1])
                    ids.append(try await client.send(.post, "/v1/orders", headers: headers).decode(Order.self).id)
                }
                let ivy = try await harness.headers(subject: "ivy")
                let jon = try await harness.headers(subject: "jon")
                let admin = try await harness.headers(subject: "root", roles: [Role.admin])

                let first = try await client.send(.get, "/v1/orders?limit=2", headers: ivy).decode(OrderPage.self)
                #expect(first.items.map(\.id) == [ids[2], ids[1]])
                let cursor = try #require(first.nextCursor)
                let second = try await client.send(.get, "/v1/orders?limit=2&cursor=\(cursor)", headers: ivy).decode(
                    OrderPage.self)
                #expect(second.items.map(\.id) == [ids[0]])
                #expect(second.nextCursor == nil)

                #expect(try await client.send(.get, "/v1/orders", headers: jon).decode(OrderPage.self).items.isEmpty)
                #expect(try await client.send(.get, "/v1/orders/\(ids[0])", headers: ivy).status == .ok)
                var response = try await client.send(.get, "/v1/orders/\(ids[0])", headers: jon)
                #expect(response.status == .notFound)
                #expect(try await client.send(.post, "/v1/orders/\(ids[0])/cancel", headers: jon).status == .notFound)
                #expect(try await client.send(.get, "/v1/orders/\(ids[0])", headers: admin).status == .ok)
                #expect(try await client.send(.get, "/v1/orders/nope", headers: ivy).status == .notFound)
                #expect(
                    try await client.send(.get, "/v1/orders?customer_id=ivy", headers: admin).decode(OrderPage.self).items.count
                        == 3)
                #expect(try await client.send(.get, "/v1/orders/\(ids[0])/transitions", headers: ivy).status == .forbidden)

                response = try await client.send(.get, "/v1/orders?cursor=garbage", headers: ivy)
                #expect(response.status == .badRequest)
                #expect(response.problem?.code == "invalid_cursor")
                response = try await client.send(.get, "/v1/orders?limit=0", headers: ivy)
                #expect(response.status == .unprocessableContent)
            }
        }
    }

    @Test("Cancel before confirmation compensates (202, then 200); after confirmation → 409")
    func cancel() async throws {
        try await OrdersHarness.run { harness in
            let product = harness.products[0]
            try await harness.test { client in
                var orders: [Order] = []
                for index in 0..<2 {
                    let headers = try await harness.headers(subject: "kim", idempotencyKey: "k\(index)")
                    _ = try await client.send(
                        .post, "/v1/cart/items", headers: headers, json: ["product_id": product.id, "quantity": 1])
                    orders.append(try await client.send(.post, "/v1/orders", headers: headers).decode(Order.self))
                }
                let kim = try await harness.headers(subject: "kim")
                var response = try await client.send(.post, "/v1/orders/\(orders[0].id)/cancel", headers: kim)
                #expect(response.status == .accepted)
                #expect(try response.decode(Order.self).status == .cancelling)
                response = try await client.send(.post, "/v1/orders/\(orders[0].id)/cancel", headers: kim)
                #expect(response.status == .ok)

                // Drive the second order to confirmed, as the participants' replies would.
                for (index, input) in [
                    SagaInput.stockReserved, .paymentAuthorized(paymentID: "p"), .paymentCaptured, .stockCommitted,
                ].enumerated() {
                    _ = try await harness.store.transaction { db in
                        try await OrderSagas.offer(
                            input, orderID: orders[1].id, messageID: "m\(index)", causedBy: nil, now: Date(),
                            stepTimeout: .seconds(30),
                            in: db)
                    }
                }
                response = try await client.send(.post, "/v1/orders/\(orders[1].id)/cancel", headers: kim)
                #expect(response.status == .conflict)
                #expect(response.problem?.code == "order_not_cancellable")
                #expect(
                    try await client.send(.get, "/v1/orders/\(orders[1].id)", headers: kim).decode(Order.self).status
                        == .confirmed)

                let admin = try await harness.headers(subject: "root", roles: [Role.admin])
                let transitions = try await client.send(.get, "/v1/orders/\(orders[1].id)/transitions", headers: admin)
                #expect(transitions.status == .ok)
                struct Transitions: Decodable { var items: [RecordedTransition] }
                let outcomes = try transitions.decode(Transitions.self).items.map(\.outcome)
                #expect(outcomes == ["applied", "applied", "applied", "applied", "rejected"])
            }
        }
    }
}
