public import AsyncHTTPClient
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaRegistry
public import MalhaStore
public import ServiceLifecycle

/// How an orders instance runs.
public struct OrdersConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    public var issuer = "malha-identity"
    public var audience = "malha"
    /// Where current prices come from: the catalog's base URL (in production, the gateway or a
    /// load balancer in front of the catalog instances).
    public var catalogURL = "http://127.0.0.1:8083"
    /// How long each saga step may wait for its answer before the saga compensates.
    public var stepTimeout: Duration = .seconds(30)
    /// How often overdue saga steps are looked for.
    public var timeoutScanInterval: Duration = .seconds(1)

    public init(
        host: String = "127.0.0.1", port: Int = 0, issuer: String = "malha-identity", audience: String = "malha",
        catalogURL: String = "http://127.0.0.1:8083", stepTimeout: Duration = .seconds(30),
        timeoutScanInterval: Duration = .seconds(1)
    ) {
        self.host = host
        self.port = port
        self.issuer = issuer
        self.audience = audience
        self.catalogURL = catalogURL
        self.stepTimeout = stepTimeout
        self.timeoutScanInterval = timeoutScanInterval
    }
}

/// The orders service: carts, checkout and the order saga (reserve stock → authorize payment →
/// confirm, with compensations), driven by replies on the bus and by its own timeouts.
public enum OrdersService {
    public static let name = "orders"

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

    /// Migrates everything the orders database holds: its own tables, outbox, inbox, idempotency keys.
    public static func migrate(_ store: any SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, logger: logger)
        try await Outbox.migrate(store, logger: logger)
        try await Inbox.migrate(store, logger: logger)
        try await IdempotencyKeys.migrate(store, logger: logger)
    }

    /// Router with every route (in-process tests use it directly).
    public static func buildRouter(
        runtime: ServiceRuntime, store: any SQLStore, prices: any PriceSource, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock(), stepTimeout: Duration = .seconds(30),
        wakeRelay: @escaping @Sendable () -> Void = {}
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        OrdersRoutes(store: store, prices: prices, clock: clock, stepTimeout: stepTimeout, wakeRelay: wakeRelay)
            .register(on: router)
        return router
    }

    /// The application. With a `transport`, the saga runs: the outbox relay sends its commands,
    /// a consumer feeds it the participants' replies, and a clock loop fires its timeouts — all
    /// three start once the database is migrated. Without one, orders are accepted and wait.
    public static func buildApplication(
        configuration: OrdersConfiguration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)?,
        httpClient: HTTPClient,
        prices: (any PriceSource)? = nil,
        clock: any WallClock = SystemWallClock(),
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        let logger = runtime.logger
        var services = services
        var wakeRelay: @Sendable () -> Void = {}
        if let transport {
            let relay = OutboxRelay(
                store: store, transport: transport, service: name, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory)
            wakeRelay = { relay.wake() }
            let driver = SagaDriver(stepTimeout: configuration.stepTimeout, clock: clock, logger: logger, wakeRelay: wakeRelay)
            let consumer = ConsumerRunner(
                subscription: SagaDriver.subscription, transport: transport, store: store, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory, handler: driver.handle)
            services += [
                StartsWhenReady(relay, readiness: runtime.readiness),
                SubscribesWhenReady(consumer, readiness: runtime.readiness),
                StartsWhenReady(
                    SagaTimeouts(driver: driver, store: store, interval: configuration.timeoutScanInterval),
                    readiness: runtime.readiness),
            ]
        }
        let router = buildRouter(
            runtime: runtime, store: store,
            prices: prices ?? CatalogHTTPPrices(baseURL: configuration.catalogURL, httpClient: httpClient),
            verifier: verifier, clock: clock, stepTimeout: configuration.stepTimeout, wakeRelay: wakeRelay)
        runtime.readiness.require(.migrations)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await migrate(store, logger: logger)
            runtime.readiness.set(.migrations, true)
        }
    }
}
