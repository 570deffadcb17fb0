import Contracts
import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaService
import MalhaStore
import SQLKit

/// The orders service's HTTP surface: the cart, checkout, and the customer's orders.
struct OrdersRoutes: Sendable {
    let store: any SQLStore
    let prices: any PriceSource
    let clock: any WallClock
    let stepTimeout: Duration
    /// Wakes the outbox relay once a new order (or a cancel) is committed.
    let wakeRelay: @Sendable () -> Void

    func register(on router: Router<ServiceRequestContext>) {
        let customer = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.authenticated))
        customer.get("/v1/cart") { _, context in try await self.cart(context) }
        customer.post("/v1/cart/items") { request, context in try await self.addItem(request, context: context) }
        customer.put("/v1/cart/items/{product_id}") { request, context in try await self.setItem(request, context: context) }
        customer.delete("/v1/cart/items/{product_id}") { _, context in try await self.removeItem(context: context) }
        customer.delete("/v1/cart") { _, context in try await self.clearCart(context: context) }

        customer.post("/v1/orders") { request, context in try await self.checkout(request, context: context) }
        customer.get("/v1/orders") { request, context in try await self.listOrders(request, context: context) }
        customer.get("/v1/orders/{id}") { _, context in try await self.order(context: context) }
        customer.post("/v1/orders/{id}/cancel") { _, context in try await self.cancel(context: context) }

        let admin = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.admin))
        admin.get("/v1/orders/{id}/transitions") { _, context in try await self.transitions(context: context) }
    }

    // MARK: Cart

    func cart(_ context: ServiceRequestContext) async throws -> CartView {
        let customer = try context.requirePrincipal().subject
        return CartView(try await store.read { try await Carts.items(customerID: customer, in: $0) })
    }

    func addItem(_ request: Request, context: ServiceRequestContext) async throws -> CartView {
        let customer = try context.requirePrincipal().subject
        let body = try await request.decode(as: AddCartItemRequest.self, context: context)
        let violations = [CartRules.validateProductID(body.productID), CartRules.validateQuantity(body.quantity)]
            .compactMap { $0 }
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let productID = body.productID.lowercased()
        let price = try await currentPrice(of: productID)
        let now = clock.now()
        return CartView(
            try await store.transaction { db in
                let items = try await Carts.items(customerID: customer, in: db)
                let existing = items.first { $0.productID == productID }
                let quantity = (existing?.quantity ?? 0) + body.quantity
                guard quantity <= CartRules.maxQuantity else {
                    throw Problem.validation(
                        field: "quantity", "the cart would hold \(quantity) units; at most \(CartRules.maxQuantity) per product")
                }
                try Self.checkLineCount(items, adding: existing == nil, currency: price.currency)
                try await Carts.put(
                    CartItem(
                        productID: productID, name: price.name, quantity: quantity, unitPriceCents: price.unitPriceCents,
                        currency: price.currency, addedAt: existing?.addedAt ?? now),
                    customerID: customer, in: db)
                return try await Carts.items(customerID: customer, in: db)
            })
    }

    func setItem(_ request: Request, context: ServiceRequestContext) async throws -> CartView {
        let customer = try context.requirePrincipal().subject
        let productID = (context.parameters.get("product_id") ?? "").lowercased()
        if let violation = CartRules.validateProductID(productID) { throw Problem.validation([violation]) }
        let body = try await request.decode(as: SetCartItemRequest.self, context: context)
        if let violation = CartRules.validateQuantity(body.quantity) { throw Problem.validation([violation]) }
        let price = try await currentPrice(of: productID)
        let now = clock.now()
        return CartView(
            try await store.transaction { db in
                let items = try await Carts.items(customerID: customer, in: db)
                let existing = items.first { $0.productID == productID }
                try Self.checkLineCount(items, adding: existing == nil, currency: price.currency)
                try await Carts.put(
                    CartItem(
                        productID: productID, name: price.name, quantity: body.quantity, unitPriceCents: price.unitPriceCents,
                        currency: price.currency, addedAt: existing?.addedAt ?? now),
                    customerID: customer, in: db)
                return try await Carts.items(customerID: customer, in: db)
            })
    }

    func removeItem(context: ServiceRequestContext) async throws -> HTTPResponse.Status {
        let customer = try context.requirePrincipal().subject
        let productID = (context.parameters.get("product_id") ?? "").lowercased()
        try await store.transaction { try await Carts.remove(customerID: customer, productIDs: [productID], in: $0) }
        return .noContent
    }

    func clearCart(context: ServiceRequestContext) async throws -> HTTPResponse.Status {
        let customer = try context.requirePrincipal().subject
        try await store.transaction { try await Carts.remove(customerID: customer, in: $0) }
        return .noContent
    }

    /// A cart holds at most `maxLines` products, all in one currency (an order is paid in one).
    static func checkLineCount(_ items: [CartItem], adding: Bool, currency: String) throws {
        if adding, items.count >= CartRules.maxLines {
            throw Problem(
                .unprocessableContent, code: "cart_full", detail: "a cart holds at most \(CartRules.maxLines) products")
        }
        if let other = items.first(where: { $0.currency != currency }) {
            throw Problem(
                .unprocessableContent, code: "mixed_currencies",
                detail: "the cart is in \(other.currency); this product is priced in \(currency)")
        }
    }

    func currentPrice(of productID: String) async throws -> CatalogPrice {
        let prices = try await self.prices.prices(for: [productID])
        guard let price = prices[productID] else {
            // A well-formed id that names nothing for sale now: a conflict with the catalog's state.
            throw Problem(
                .conflict, code: "product_unavailable", detail: "product \(productID) is not for sale",
                errors: [.init(field: "product_id", message: "no such product for sale")])
        }
        return price
    }

    // MARK: Checkout

    /// Checks out the caller's cart as an idempotent command (`IdempotentCommand`: the same key
    /// and body answer the first response again, another body is 422 `idempotency_key_reused`).
    /// A repeat is answered before the catalog is asked; then the prices are checked
    /// (`CheckoutRules`), and the key, the order, its first saga command and the emptied cart
    /// commit in one transaction. A refusal (empty cart, changed prices, catalog down) leaves the
    /// key unused: fix and retry with it.
    func checkout(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let customer = try context.requirePrincipal().subject
        let key = try IdempotentCommand.key(of: request, operation: "checkout")
        // The body is optional: none (or `{}`) checks out with the defaults.
        let body = try await request.decodeIfPresent(as: CheckoutRequest.self, context: context) ?? CheckoutRequest()
        let violations = CartRules.validate(body)
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let command = IdempotentCommand(scope: "checkout:\(customer)", key: key, fingerprint: try Self.fingerprint(body))
        let location = { (order: Order) -> HTTPFields in [.location: "/v1/orders/\(order.id)"] }
        if let earlier = try await command.earlierAnswer(in: store, now: clock.now(), headers: location) { return earlier }

        let items = try await store.read { try await Carts.items(customerID: customer, in: $0) }
        guard !items.isEmpty else { throw CheckoutRefusal.cartEmpty }
        let current = try await prices.prices(for: items.map(\.productID))
        let lines: [OrderLine]
        let currency: String
        switch CheckoutRules.review(items, at: current) {
        case .ready(let ready, let readyCurrency):
            (lines, currency) = (ready, readyCurrency)
        case .unavailable(let gone):
            throw CheckoutRefusal.productsUnavailable(gone)
        case .repriced(let changes):
            // Show the customer the new prices (the cart now holds them) instead of charging them silently.
            try await store.transaction { db in
                for change in changes { try await Carts.put(change.after, customerID: customer, in: db) }
            }
            throw CheckoutRefusal.pricesChanged(changes)
        case .mixedCurrencies:
            throw CheckoutRefusal.mixedCurrencies
        }
        let now = clock.now()
        return try await command.run(
            in: store, now: now, headers: location, onCommit: wakeRelay
        ) { db in
            let order = try await OrderSagas.place(
                orderID: UUID.v7().lowercased, customerID: customer, lines: lines, currency: currency,
                paymentMethod: body.paymentMethod, now: now, stepTimeout: stepTimeout, in: db)
            try await Carts.remove(customerID: customer, productIDs: items.map(\.productID), in: db)
            return order
        }
    }

    /// The request's canonical form (sorted keys), hashed: what "the same request" means for a key.
    static func fingerprint(_ body: CheckoutRequest) throws -> String {
        try IdempotentCommand.fingerprint(of: body)
    }

    // MARK: Orders

    /// The caller's orders, newest first; an admin sees everyone's (or one customer's with `customer_id`).
    func listOrders(_ request: Request, context: ServiceRequestContext) async throws -> Page<Order> {
        let principal = try context.requirePrincipal()
        let query = request.uri.queryParameters
        var limit = 20
        if let raw = query["limit"] {
            guard let parsed = Int(String(raw)), (1...100).contains(parsed) else {
                throw Problem.validation(field: "limit", "must be an integer from 1 to 100")
            }
            limit = parsed
        }
        var before: String?
        if let cursor = query["cursor"] {
            guard let uuid = UUID(uuidString: String(cursor)) else {
                throw Problem.badRequest("invalid_cursor", "the cursor is not one this endpoint issued")
            }
            before = uuid.uuidString.lowercased()
        }
        var customer: String? = principal.subject
        if principal.isAdmin { customer = query["customer_id"].map(String.init) }
        let orders = try await store.read { db in
            try await OrderSagas.orders(customerID: customer, before: before, limit: limit + 1, in: db)
        }
        let page = Array(orders.prefix(limit))
        return Page(items: page, nextCursor: orders.count > limit ? page.last?.id : nil)
    }

    func order(context: ServiceRequestContext) async throws -> Order {
        try await visibleOrder(context)
    }

    /// Cancels an order before confirmation: 202 while its compensations run, 200 when it was
    /// already cancelling or cancelled, 409 once it is confirmed (or confirming: payment and
    /// stock are then only moved forward).
    func cancel(context: ServiceRequestContext) async throws -> EditedResponse<Order> {
        let order = try await visibleOrder(context)
        let now = clock.now()
        let (transition, updated) = try await store.transaction { db -> (SagaTransition, Order?) in
            let transition = try await OrderSagas.offer(
                .cancelRequested, orderID: order.id, messageID: "cancel:\(UUID.v7().lowercased)", causedBy: nil, now: now,
                stepTimeout: stepTimeout, in: db)
            return (transition, try await OrderSagas.order(id: order.id, in: db))
        }
        switch transition {
        case .applied:
            wakeRelay()
            return EditedResponse(status: .accepted, response: updated ?? order)
        case .duplicate:
            return EditedResponse(status: .ok, response: updated ?? order)
        case .rejected(let reason):
            throw Problem.conflict("order_not_cancellable", "order \(order.id) can no longer be cancelled: \(reason)")
        }
    }

    func transitions(context: ServiceRequestContext) async throws -> TransitionList {
        let order = try await visibleOrder(context)
        return TransitionList(items: try await store.read { try await OrderSagas.transitions(orderID: order.id, in: $0) })
    }

    /// The `{id}` order if the caller may see it; another customer's order is 404, not 403, so ids
    /// cannot be probed.
    func visibleOrder(_ context: ServiceRequestContext) async throws -> Order {
        let principal = try context.requirePrincipal()
        guard let raw = context.parameters.get("id"), let uuid = UUID(uuidString: raw),
            let order = try await store.read({ try await OrderSagas.order(id: uuid.uuidString.lowercased(), in: $0) }),
            order.customerID == principal.subject || principal.isAdmin
        else { throw Problem.notFound("Order") }
        return order
    }
}
