public import AsyncHTTPClient
import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaOpenAPI
public import MalhaRegistry
public import MalhaService
public import MalhaStore
public import ServiceLifecycle

/// How an orders instance runs.
public struct OrdersConfiguration: Sendable {
    /// Where current prices come from: the catalog's base URL (in production, the gateway or a
    /// load balancer in front of the catalog instances).
    public var catalogURL = "http://127.0.0.1:8083"
    /// How long each saga step may wait for its answer before the saga compensates.
    public var stepTimeout: Duration = .seconds(30)
    /// How often overdue saga steps are looked for.
    public var timeoutScanInterval: Duration = .seconds(1)

    public init(
        catalogURL: String = "http://127.0.0.1:8083", stepTimeout: Duration = .seconds(30),
        timeoutScanInterval: Duration = .seconds(1)
    ) {
        self.catalogURL = catalogURL
        self.stepTimeout = stepTimeout
        self.timeoutScanInterval = timeoutScanInterval
    }
}

/// The orders service: carts, checkout and the order saga (reserve stock → authorize payment →
/// confirm, with compensations), driven by replies on the bus and by its own timeouts.
public enum OrdersService: ServiceDeclaration {
    public static let name = "orders"
    public static let portOffset = 5
    public static let platformTables: PlatformTables = [.outbox, .inbox, .idempotencyKeys]
    // Pricing a cart reads the catalog as orders (see `CatalogHTTPPrices`).
    public static let clientScopes = [ServiceScope.catalogRead]
    public static let publishes = [
        OrderPlaced.type, OrderConfirmed.type, OrderCancelled.type, ReserveStock.type, ReleaseStock.type, CommitStock.type,
        AuthorizePayment.type, CapturePayment.type, VoidPayment.type,
    ]

    public static let routeRules: [RouteRule] = [
        .authenticated("/v1/cart"),
        .authenticated("/v1/orders"),
    ]

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Orders (TechStore)", version: MalhaVersion.current,
            operations: [
                .get("/v1/cart", "The caller's cart", access: .authenticated, responses: [.ok(CartView.self, "The cart")]),
                .post(
                    "/v1/cart/items", "Add units of a product to the cart (priced from the catalog)", access: .authenticated,
                    body: .json(AddCartItemRequest.self),
                    responses: [
                        .ok(CartView.self, "The cart"),
                        .problem(409, "product_unavailable: no such product for sale now"),
                        .problem(422, "Invalid, cart_full (100 products) or mixed_currencies"),
                        catalogUnavailable,
                    ]),
                .put(
                    "/v1/cart/items/{product_id}", "Set a cart line's quantity", access: .authenticated,
                    parameters: [.path("product_id", UUID.self, description: "A product id (anything else is 422)")],
                    body: .json(SetCartItemRequest.self),
                    responses: [
                        .ok(CartView.self, "The cart"),
                        .problem(409, "product_unavailable: no such product for sale now"),
                        .problem(422, "Invalid, cart_full or mixed_currencies"), catalogUnavailable,
                    ]),
                .delete(
                    "/v1/cart/items/{product_id}", "Remove a product from the cart (none there: nothing to do)",
                    access: .authenticated, parameters: [.path("product_id", .string(minLength: 1))],
                    responses: [.noContent("Removed")]),
                .delete("/v1/cart", "Empty the cart", access: .authenticated, responses: [.noContent("Emptied")]),
                .post(
                    "/v1/orders", "Check out the cart", access: .authenticated, idempotencyKey: .required,
                    body: .json(
                        CheckoutRequest.self, required: false, description: "Optional: none checks out with the defaults"),
                    responses: [
                        .created(
                            Order.self, "The order, pending while its saga runs (or the first answer to this key)",
                            headers: [replayLocation, .idempotentReplayed]),
                        .problem(400, "idempotency_key_required, invalid_idempotency_key or malformed JSON"),
                        .problem(
                            409,
                            "cart_empty, products_unavailable, cart_prices_changed (the cart now shows the new prices), "
                                + "or the key's first request is running"),
                        .problem(
                            422, "Invalid payment_method, mixed_currencies, or idempotency_key_reused with another body"),
                        catalogUnavailable,
                    ]),
                .get(
                    "/v1/orders", "The caller's orders, newest first", access: .authenticated,
                    parameters: [
                        .query("limit", .integer(1...100).defaulting(20)),
                        .query("cursor", .string(format: .uuid), description: "The previous page's next_cursor"),
                        .query(
                            "customer_id", .string(),
                            description: "Administrators: one customer's orders (default: everyone's); ignored for others"),
                    ],
                    responses: [.page(of: Order.self), .problem(400, "invalid_cursor"), .problem(422, "Invalid limit")]),
                .get(
                    "/v1/orders/{id}", "An order (the caller's own; admin: any)", access: .authenticated,
                    parameters: [.path("id", UUID.self, description: "The order's id (anything else is 404)")],
                    responses: [.ok(Order.self, "The order"), .problem(404, "No such order of the caller's")]),
                .post(
                    "/v1/orders/{id}/cancel", "Cancel an order before confirmation", access: .authenticated,
                    parameters: [.path("id", UUID.self)],
                    responses: [
                        .ok(Order.self, "Already cancelling or cancelled"),
                        .accepted(Order.self, "Cancelling: the compensations run"),
                        .problem(404, "No such order of the caller's"),
                        .problem(409, "order_not_cancellable: confirmed or confirming"),
                    ]),
                .get(
                    "/v1/orders/{id}/transitions", "Every input offered to the order's saga and its outcome", access: .admin,
                    parameters: [.path("id", UUID.self)],
                    responses: [.ok(TransitionList.self, "Oldest first"), .problem(404, "No such order")]),
            ])
    }

    /// A replayed answer carries no `Location` (only the stored body), so it is not required.
    private static let replayLocation = OpenAPIDocument.ResponseHeader(
        "Location", .string(format: .uriReference), description: "The order (absent on a replay)")
    private static let catalogUnavailable = OpenAPIDocument.ResponseSpec.problem(
        503, "catalog_unavailable: prices could not be read; retry after Retry-After")

    public static var migrations: [Migration] { OrdersMigrations.all }

    public static func configuration(from reader: ServiceConfigReader) throws -> OrdersConfiguration {
        OrdersConfiguration(
            // malha.orders.catalog-url: where current prices are read (default: the catalog in this topology).
            catalogURL: reader.string("catalog-url") ?? reader.url(of: "catalog") ?? "http://127.0.0.1:8083",
            // malha.orders.step-timeout-ms: how long a checkout step waits for its answer (≥ 100 ms).
            stepTimeout: try reader.milliseconds("step-timeout-ms", default: .seconds(30), atLeast: .milliseconds(100)))
    }

    /// Router with every route (in-process tests use it directly).
    public static func buildRouter(
        runtime: ServiceRuntime, store: any SQLStore, prices: any PriceSource, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock(), stepTimeout: Duration = .seconds(30),
        wakeRelay: @escaping @Sendable () -> Void = {}
    ) -> Router<ServiceRequestContext> {
        let router = makeRouter(runtime: runtime, verifier: verifier)
        OrdersRoutes(store: store, prices: prices, clock: clock, stepTimeout: stepTimeout, wakeRelay: wakeRelay)
            .register(on: router)
        return router
    }

    /// Its routes and, with a transport, the saga: the participants' replies feed it through a
    /// consumer, and a clock loop fires its timeouts. Without one, orders are accepted and wait.
    public static func build(_ context: ServiceContext<OrdersConfiguration>) async throws -> ServiceParts {
        let configuration = context.configuration
        let driver = SagaDriver(
            stepTimeout: configuration.stepTimeout, clock: context.clock, logger: context.logger,
            wakeRelay: context.wakeRelay)
        return ServiceParts(
            router: buildRouter(
                runtime: context.runtime, store: context.store,
                prices: CatalogHTTPPrices(
                    baseURL: configuration.catalogURL, httpClient: context.httpClient, credential: context.serviceCredential),
                verifier: context.verifier, clock: context.clock, stepTimeout: configuration.stepTimeout,
                wakeRelay: context.wakeRelay),
            consumers: [ServiceConsumer(SagaDriver.subscription, handler: driver.handle)],
            background: context.transport == nil
                ? [] : [SagaTimeouts(driver: driver, store: context.store, interval: configuration.timeoutScanInterval)])
    }
}
