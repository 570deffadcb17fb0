public import AsyncHTTPClient
import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
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
    public static let publishes = [
        OrderPlaced.type, OrderConfirmed.type, OrderCancelled.type, ReserveStock.type, ReleaseStock.type, CommitStock.type,
        AuthorizePayment.type, CapturePayment.type, VoidPayment.type,
    ]

    public static let routeRules: [RouteRule] = [
        .authenticated("/v1/cart"),
        .authenticated("/v1/orders"),
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Orders (TechStore)",
        version: MalhaVersion.current,
        operations: [
            .init("GET", "/v1/cart", "The caller's cart", access: .authenticated, responses: [200: "The cart", 401: "No token"]),
            .init(
                "POST", "/v1/cart/items", "Add units of a product to the cart (priced from the catalog)",
                access: .authenticated, request: "AddCartItemRequest",
                responses: [
                    200: "The cart", 401: "No token", 422: "Invalid, unknown product, cart full or mixed currencies",
                    503: "Catalog unavailable",
                ]),
            .init(
                "PUT", "/v1/cart/items/{product_id}", "Set a cart line's quantity", access: .authenticated,
                request: "SetCartItemRequest", responses: [200: "The cart", 422: "Invalid", 503: "Catalog unavailable"]),
            .init(
                "DELETE", "/v1/cart/items/{product_id}", "Remove a product from the cart", access: .authenticated,
                responses: [204: "Removed"]),
            .init("DELETE", "/v1/cart", "Empty the cart", access: .authenticated, responses: [204: "Emptied"]),
            .init(
                "POST", "/v1/orders", "Check out the cart (Idempotency-Key required; optional payment_method)",
                access: .authenticated, request: "CheckoutRequest",
                responses: [
                    201: "The order, pending while its saga runs", 400: "No or invalid Idempotency-Key",
                    409: "Key in use by a running checkout, or cart prices changed",
                    422: "Empty cart, products unavailable, key reused with another body", 503: "Catalog unavailable",
                ]),
            .init(
                "GET", "/v1/orders", "The caller's orders, newest first (limit, cursor; admin: customer_id)",
                access: .authenticated, responses: [200: "{items, next_cursor}", 400: "Invalid cursor", 422: "Invalid limit"]),
            .init(
                "GET", "/v1/orders/{id}", "An order (the caller's own; admin: any)", access: .authenticated,
                responses: [200: "The order", 404: "No such order of the caller's"]),
            .init(
                "POST", "/v1/orders/{id}/cancel", "Cancel an order before confirmation", access: .authenticated,
                responses: [
                    200: "Already cancelling or cancelled", 202: "Cancelling (compensations running)",
                    404: "No such order of the caller's", 409: "Confirmed or confirming",
                ]),
            .init(
                "GET", "/v1/orders/{id}/transitions", "Every input offered to the order's saga and its outcome",
                access: .admin, responses: [200: "{items}", 404: "No such order"]),
        ])

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
                prices: CatalogHTTPPrices(baseURL: configuration.catalogURL, httpClient: context.httpClient),
                verifier: context.verifier, clock: context.clock, stepTimeout: configuration.stepTimeout,
                wakeRelay: context.wakeRelay),
            consumers: [ServiceConsumer(SagaDriver.subscription, handler: driver.handle)],
            background: context.transport == nil
                ? [] : [SagaTimeouts(driver: driver, store: context.store, interval: configuration.timeoutScanInterval)])
    }
}
