import AsyncHTTPClient
import Foundation
import Logging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

/// The TechStore checkout on a running `malha up`, through the gateway, as a customer would do it:
/// cart → checkout → the saga over catalog and payments → notifications. On SQLite (embedded
/// defaults) and with every service on its own PostgreSQL database.
@Suite(.serialized, .timeLimit(.minutes(15)))
struct CheckoutSystemTests {
    static let services = ["registry", "bus", "identity", "catalog", "orders", "payments", "notifications"]

    @Test func checkoutOnSQLite() async throws {
        try await checkoutFlow(databaseURLs: [:])
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func checkoutOnPostgreSQL() async throws {
        try await withPostgresDatabases(Self.services) { try await checkoutFlow(databaseURLs: $0) }
    }

    @Test func lastUnitsOnSQLite() async throws {
        try await lastUnits(databaseURLs: [:])
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func lastUnitsOnPostgreSQL() async throws {
        try await withPostgresDatabases(Self.services) { try await lastUnits(databaseURLs: $0) }
    }

    @Test func killedMidLoadOnSQLite() async throws {
        try await killedMidLoad(databaseURLs: [:])
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func killedMidLoadOnPostgreSQL() async throws {
        try await withPostgresDatabases(Self.services) { try await killedMidLoad(databaseURLs: $0) }
    }

    // MARK: Flows

    /// Add to cart, check out, watch the order reach `confirmed`; a declined payment ends
    /// `cancelled` with the stock back; the customer is told both.
    func checkoutFlow(databaseURLs: [String: String]) async throws {
        let shop = try await Shop.start("checkout", databaseURLs: databaseURLs)
        defer { shop.up.terminate() }
        let product = try await shop.productInStock()
        let customer = try await shop.customer("ana@example.com")

        let confirmed = try await shop.buy(product.id, quantity: 2, as: customer, key: "ana-1")
        #expect(confirmed.status == 201, "\(confirmed.text)")
        let orderID = try #require(confirmed.json["order_id"] as? String ?? confirmed.json["id"] as? String)
        let final = try await shop.finalOrder(orderID, token: customer)
        #expect(final["status"] as? String == "confirmed", "\(final) \(shop.up.log.suffix(3000))")
        var stock = try await shop.stock(product.id)
        #expect(stock.onHand == product.onHand - 2, "the sale leaves on hand")
        #expect(stock.reserved == product.reserved, "the reservation was committed")

        // The payment was captured once, and its owner can see it.
        let payments = try await shop.client.request(.GET, "/v1/payments?order_id=\(orderID)", token: customer)
        #expect(payments.status == 200, "\(payments.text)")
        let payment = try #require((payments.json["items"] as? [[String: Any]])?.first, "\(payments.text)")
        #expect(payment["state"] as? String == "captured", "\(payment)")

        // A declined card: cancelled, with the stock back where it was.
        let declined = try await shop.buy(
            product.id, quantity: 1, as: customer, key: "ana-2", paymentMethod: "pm_card_declined")
        #expect(declined.status == 201, "\(declined.text)")
        let declinedID = try #require(declined.json["id"] as? String)
        let cancelled = try await shop.finalOrder(declinedID, token: customer)
        #expect(cancelled["status"] as? String == "cancelled", "\(cancelled)")
        #expect(cancelled["cancel_reason"] as? String == "payment_declined", "\(cancelled)")
        stock = try await shop.stock(product.id)
        #expect(stock.onHand == product.onHand - 2 && stock.reserved == product.reserved, "the stock came back: \(stock)")

        // The customer was told: order placed (twice), confirmed, and cancelled — and only they see it.
        let told = try await shop.client.eventually("/v1/notifications?limit=100", token: customer, timeout: .seconds(30)) {
            let items = ($0.json["items"] as? [[String: Any]]) ?? []
            let events = Set(items.compactMap { $0["event_type"] as? String })
            return events.isSuperset(of: ["orders.order-confirmed.v1", "orders.order-cancelled.v1"])
        }
        let events = ((told?.json["items"] as? [[String: Any]]) ?? []).compactMap { $0["event_type"] as? String }
        #expect(events.contains("orders.order-confirmed.v1"), "\(told?.text ?? "")")
        #expect(events.contains("orders.order-cancelled.v1"), "\(told?.text ?? "")")
        let stranger = try await shop.customer("bia@example.com")
        let theirs = try await shop.client.request(.GET, "/v1/notifications", token: stranger)
        #expect((theirs.json["items"] as? [[String: Any]])?.isEmpty == true, "\(theirs.text)")
        #expect(try await shop.client.request(.GET, "/v1/orders/\(orderID)", token: stranger).status == 404)
    }

    /// 100 concurrent buyers for 10 units: exactly 10 confirmed, stock 0, never negative.
    func lastUnits(databaseURLs: [String: String]) async throws {
        let shop = try await Shop.start("last-units", databaseURLs: databaseURLs)
        defer { shop.up.terminate() }
        let productID = try await shop.createProduct(sku: "LAST-UNITS", stock: 10)
        let buyers = try await shop.customers(100, prefix: "buyer")
        let orders = try await withThrowingTaskGroup(of: (id: String, token: String)?.self) { group in
            for (index, token) in buyers.enumerated() {
                group.addTask {
                    let response = try await shop.buy(productID, quantity: 1, as: token, key: "last-\(index)")
                    guard response.status == 201, let id = response.json["id"] as? String else { return nil }
                    return (id, token)
                }
            }
            return try await group.reduce(into: [(id: String, token: String)]()) { if let order = $1 { $0.append(order) } }
        }
        #expect(orders.count == 100, "every checkout was accepted")
        var statuses: [String: Int] = [:]
        for (id, token) in orders {
            let order = try await shop.finalOrder(id, token: token)
            statuses[order["status"] as? String ?? "?", default: 0] += 1
        }
        #expect(statuses == ["confirmed": 10, "cancelled": 90], "\(statuses)")
        let stock = try await shop.stock(productID)
        #expect(stock.onHand == 0 && stock.reserved == 0, "\(stock)")
    }

    /// SIGKILL in the middle of a checkout load, then start again: every accepted order ends
    /// confirmed or cancelled, no payment captured twice, stock = seed − confirmed quantities.
    func killedMidLoad(databaseURLs: [String: String]) async throws {
        var shop = try await Shop.start("killed", databaseURLs: databaseURLs)
        defer { shop.up.terminate() }
        let seed = 60
        let productID = try await shop.createProduct(sku: "KILLED-MID-LOAD", stock: seed)
        let buyers = try await shop.customers(20, prefix: "load")
        let accepted = AcceptedOrders()
        let first = shop
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for (index, token) in buyers.enumerated() {
                    group.addTask {
                        for round in 0..<100 where !Task.isCancelled {
                            guard
                                let response = try? await first.buy(
                                    productID, quantity: 1, as: token, key: "kill-\(index)-\(round)",
                                    paymentMethod: round % 4 == 3 ? "pm_card_declined" : nil)
                            else { continue }
                            if response.status == 201, let id = response.json["id"] as? String { await accepted.add(id, token) }
                        }
                    }
                }
            }
        }
        // Let the load get going, then pull the plug.
        while await accepted.count < 15 { try await Task.sleep(for: .milliseconds(20)) }
        shop.up.kill9()
        load.cancel()
        _ = await load.result
        let acceptedOrders = await accepted.all

        shop = try await shop.restart()
        var confirmed = 0
        for (id, token) in acceptedOrders {
            let order = try await shop.finalOrder(id, token: token, timeout: .seconds(120))
            let status = order["status"] as? String
            #expect(status == "confirmed" || status == "cancelled", "order \(id): \(order)")
            if status == "confirmed" { confirmed += 1 }
        }
        // Orders whose 201 the kill swallowed are orders too: every one of them ends as well.
        var allConfirmed = 0
        for token in buyers {
            let list = try await shop.client.request(.GET, "/v1/orders?limit=100", token: token)
            for order in (list.json["items"] as? [[String: Any]]) ?? [] {
                let final = try await shop.finalOrder(try #require(order["id"] as? String), token: token, timeout: .seconds(120))
                if final["status"] as? String == "confirmed" { allConfirmed += 1 }
            }
        }
        #expect(allConfirmed >= confirmed)
        let stock = try await shop.stock(productID)
        #expect(stock.onHand == seed - allConfirmed, "stock \(stock) vs \(allConfirmed) confirmed of \(seed)")
        #expect(stock.reserved == 0, "\(stock)")

        // No payment captured twice: the provider saw at most one capture per payment, and exactly
        // the confirmed orders' payments are captured.
        let payments = try await shop.paymentsDatabase { db in
            let twice = try await db.raw(
                """
                SELECT payment_id FROM provider_simulated_operations WHERE operation = 'capture'
                GROUP BY payment_id HAVING count(*) > 1
                """
            ).all().count
            let captured =
                try await db.raw("SELECT count(*) AS n FROM payments WHERE state = 'captured'").first()?
                .decode(column: "n", as: Int.self) ?? -1
            return (twice, captured)
        }
        #expect(payments.0 == 0, "payments captured twice")
        #expect(payments.1 == allConfirmed, "captured payments \(payments.1) vs confirmed orders \(allConfirmed)")
    }

    func withPostgresDatabases(
        _ services: [String], _ urls: [String: String] = [:], _ body: ([String: String]) async throws -> Void
    ) async throws {
        guard let service = services.first else { return try await body(urls) }
        try await TestDatabases.withPostgresDatabase { url in
            var urls = urls
            urls[service] = url
            try await withPostgresDatabases(Array(services.dropFirst()), urls, body)
        }
    }
}

actor AcceptedOrders {
    var all: [(String, String)] = []
    var count: Int { all.count }
    func add(_ id: String, _ token: String) { all.append((id, token)) }
}

/// A running `malha up` and the calls a TechStore customer makes through its gateway.
struct Shop: Sendable {
    static let adminEmail = "root@example.com"
    static let adminPassword = "correct horse battery staple"

    let sandbox: UpSandbox
    let environment: [String: String]
    let up: MalhaProcess
    let client: TestClient

    static func start(_ name: String, databaseURLs: [String: String]) async throws -> Shop {
        // Ports are picked free, but a test running alongside may take one before `up` binds it:
        // `up` then stops at once ("Address already in use"), and a new sandbox with new ports is
        // tried.
        for attempt in 1... {
            do {
                return try await start(try UpSandbox(name), databaseURLs: databaseURLs)
            } catch let error as ShopError where attempt < 3 && error.description.contains("Address already in use") {
                continue
            }
        }
        fatalError("unreachable")
    }

    static func start(_ sandbox: UpSandbox, databaseURLs: [String: String]) async throws -> Shop {
        var environment = [
            "MALHA_ADMIN_EMAIL": adminEmail, "MALHA_ADMIN_PASSWORD": adminPassword,
            // Fast hashing for the many test customers (production keeps ≥ 12).
            "MALHA_TESTING_WEAK_BCRYPT_COST": "4",
            // Every load customer registers from 127.0.0.1.
            "MALHA_IDENTITY_REGISTRATIONS_PER_HOUR": "1000000",
            // Each load customer checks out far more often than antifraud's velocity rule allows a person.
            "MALHA_PAYMENTS_ANTIFRAUD_VELOCITY_REVIEW_ABOVE": "100000",
            "MALHA_PAYMENTS_ANTIFRAUD_VELOCITY_DENY_ABOVE": "100000",
        ]
        for (service, url) in databaseURLs { environment["MALHA_\(service.uppercased())_DATABASE_URL"] = url }
        return try await Shop(sandbox: sandbox, environment: environment, up: sandbox.start(environment: environment)).ready()
    }

    init(sandbox: UpSandbox, environment: [String: String], up: MalhaProcess) {
        self.sandbox = sandbox
        self.environment = environment
        self.up = up
        client = TestClient(base: sandbox.baseURL, http: HTTPClient.shared)
    }

    func restart() async throws -> Shop {
        try await Shop(
            sandbox: sandbox, environment: environment, up: sandbox.start(environment: environment, name: "up-again")
        ).ready()
    }

    func ready() async throws -> Shop {
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline, up.process.isRunning {
            if (try? await client.request(.GET, "/health/ready"))?.status == 200 { return self }
            try await Task.sleep(for: .milliseconds(50))
        }
        up.terminate()
        let log = up.log
        let errors = log.split(separator: "\n").filter { $0.contains(" error ") || $0.contains("Fatal") }.prefix(20)
        throw ShopError("malha up did not get ready: \(errors.joined(separator: "\n"))\n…\n\(log.suffix(1500))")
    }

    func customer(_ email: String) async throws -> String {
        let password = "a long passphrase 42"
        let registered = try await client.request(
            .POST, "/v1/auth/register", json: ["email": email, "password": password, "name": "Cliente"])
        guard registered.status == 201 else { throw ShopError("register \(email): \(registered.status) \(registered.text)") }
        return try await login(email, password)
    }

    func customers(_ count: Int, prefix: String) async throws -> [String] {
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<count {
                group.addTask { (index, try await customer("\(prefix)-\(index)@example.com")) }
            }
            return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func login(_ email: String, _ password: String) async throws -> String {
        let login = try await client.request(.POST, "/v1/auth/login", json: ["email": email, "password": password])
        guard let token = login.json["access_token"] as? String else { throw ShopError("login \(email): \(login.text)") }
        return token
    }

    func adminToken() async throws -> String { try await login(Self.adminEmail, Self.adminPassword) }

    /// Runs `body` on the payments service's own database (as an auditor would).
    func paymentsDatabase<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        var logger = Logger(label: "system-test")
        logger.logLevel = .warning
        if let url = environment["MALHA_PAYMENTS_DATABASE_URL"] {
            let store = try PostgresStore(url: url, logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try? await store.run()
                    return nil
                }
                let result = try await store.read(body)
                group.cancelAll()
                return result
            }
        }
        let store = try await SQLiteStore.open(path: sandbox.dataDir + "/payments.sqlite", logger: logger)
        do {
            let result = try await store.read(body)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    func createProduct(sku: String, stock: Int) async throws -> String {
        let admin = try await adminToken()
        let created = try await client.request(
            .POST, "/v1/products",
            json: [
                "sku": sku, "name": "Produto \(sku)", "description": "Últimas unidades", "price_cents": 19_900,
                "initial_stock": stock,
            ], token: admin)
        guard created.status == 201, let id = created.json["id"] as? String else {
            throw ShopError("create product: \(created.status) \(created.text)")
        }
        return id
    }

    struct Stock: CustomStringConvertible {
        var onHand: Int
        var reserved: Int
        var description: String { "on_hand \(onHand), reserved \(reserved)" }
    }

    func productInStock() async throws -> (id: String, onHand: Int, reserved: Int) {
        let listing = try await client.request(.GET, "/v1/products?limit=1&in_stock=true")
        guard let product = (listing.json["items"] as? [[String: Any]])?.first, let id = product["id"] as? String else {
            throw ShopError("no product in stock: \(listing.text)")
        }
        let stock = try await self.stock(id)
        return (id, stock.onHand, stock.reserved)
    }

    func stock(_ productID: String) async throws -> Stock {
        let product = try await client.request(.GET, "/v1/products/\(productID)")
        let stock = product.json["stock"] as? [String: Any]
        guard let onHand = stock?["on_hand"] as? Int, let reserved = stock?["reserved"] as? Int else {
            throw ShopError("product \(productID): \(product.text)")
        }
        return Stock(onHand: onHand, reserved: reserved)
    }

    /// Puts `quantity` of the product in the cart and checks out with `key`.
    func buy(
        _ productID: String, quantity: Int, as token: String, key: String, paymentMethod: String? = nil
    ) async throws -> HTTPResult {
        let added = try await client.request(
            .PUT, "/v1/cart/items/\(productID)", json: ["quantity": quantity], token: token)
        guard added.status == 200 else { return added }
        return try await client.request(
            .POST, "/v1/orders", json: paymentMethod.map { ["payment_method": $0] } ?? [:], token: token,
            headers: [("Idempotency-Key", key)])
    }

    /// The order once it is confirmed or cancelled (or as it stands when `timeout` passes).
    func finalOrder(_ id: String, token: String, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            if let response = try? await client.request(.GET, "/v1/orders/\(id)", token: token), response.status == 200 {
                last = response.json
                if ["confirmed", "cancelled"].contains(last["status"] as? String ?? "") { return last }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }
}

struct ShopError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
