import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
import MalhaMessaging
public import MalhaRegistry
import MalhaStore
public import ServiceLifecycle

/// How a catalog instance runs.
public struct CatalogConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    /// The token issuer and audience the catalog accepts (identity's).
    public var issuer = "malha-identity"
    public var audience = "malha"
    /// Seed the TechStore demo catalog when the products table is empty (`malha up` does).
    public var seedDemoData = false

    public init(
        host: String = "127.0.0.1", port: Int = 0, issuer: String = "malha-identity", audience: String = "malha",
        seedDemoData: Bool = false
    ) {
        self.host = host
        self.port = port
        self.issuer = issuer
        self.audience = audience
        self.seedDemoData = seedDemoData
    }
}

/// The TechStore catalog: categories, products, stock levels and their movements.
public enum CatalogService {
    public static let name = "catalog"

    public static let routeRules: [RouteRule] = [
        .public("/v1/categories", methods: ["GET"]),
        .roles([Role.admin], "/v1/categories", methods: ["POST"]),
        .public("/v1/products", methods: ["GET"]),
        .roles([Role.admin], "/v1/products", methods: ["POST", "PUT", "DELETE"]),
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Catalog (TechStore)",
        version: MalhaVersion.current,
        operations: [
            .init("GET", "/v1/categories", "List categories", responses: [200: "Every category"]),
            .init(
                "POST", "/v1/categories", "Create a category", access: .admin, request: "CategoryRequest",
                responses: [201: "The category", 401: "No token", 403: "Not an admin", 409: "Slug taken", 422: "Invalid"]),
            .init(
                "GET", "/v1/products",
                "Search products (q, category, min_price, max_price, in_stock, sort, limit, cursor)",
                responses: [200: "{items, next_cursor}", 400: "Invalid cursor", 422: "Invalid parameter"]),
            .init(
                "GET", "/v1/products/{id}", "A product (ETag; If-None-Match answers 304)",
                responses: [200: "The product", 304: "Not modified", 404: "No such product"]),
            .init(
                "POST", "/v1/products", "Create a product", access: .admin, request: "ProductRequest",
                responses: [201: "The product", 401: "No token", 403: "Not an admin", 409: "SKU taken", 422: "Invalid"]),
            .init(
                "PUT", "/v1/products/{id}", "Replace a product's descriptive fields", access: .admin,
                request: "ProductRequest",
                responses: [200: "The product", 404: "No such product", 409: "SKU taken", 422: "Invalid"]),
            .init(
                "DELETE", "/v1/products/{id}", "Deactivate a product (soft delete)", access: .admin,
                responses: [204: "Deactivated", 404: "No such product"]),
            .init(
                "POST", "/v1/products/{id}/stock-adjustments", "Adjust on-hand stock, recorded as a movement",
                access: .admin, request: "StockAdjustmentRequest",
                responses: [201: "The movement and new stock", 404: "No such product", 409: "Insufficient stock", 422: "Invalid"]),
        ])

    public static var migrations: [Migration] { CatalogMigrations.all }

    /// Router with every route (used by in-process tests and by `buildApplication`).
    public static func buildRouter(
        runtime: ServiceRuntime, repository: CatalogRepository, verifier: AccessTokenVerifier
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        CatalogRoutes(repository: repository).register(on: router)
        return router
    }

    /// The application: `services` run before the server in order (the store first); migrations
    /// and, when configured, the demo seed run in `beforeServerStarts`. With a `transport`, the
    /// catalog also takes the order saga's stock commands (a consumer that starts once migrated)
    /// and relays its replies from its outbox.
    public static func buildApplication(
        configuration: CatalogConfiguration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        cache: any KeyValueCache = InMemoryCache(),
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)? = nil,
        clock: any WallClock = SystemWallClock(),
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        let repository = CatalogRepository(store: store, cache: cache, clock: clock)
        let router = buildRouter(runtime: runtime, repository: repository, verifier: verifier)
        runtime.readiness.require(.migrations)
        let logger = runtime.logger
        var services = services
        if let transport {
            let relay = OutboxRelay(
                store: store, transport: transport, service: name, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory)
            let handler = StockCommandHandler(cache: cache, clock: clock) { relay.wake() }
            let consumer = ConsumerRunner(
                subscription: StockCommandHandler.subscription, transport: transport, store: store, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory, handler: handler.handle)
            services += [
                StartsWhenReady(relay, readiness: runtime.readiness), SubscribesWhenReady(consumer, readiness: runtime.readiness),
            ]
        }
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await Migrator.migrate(store, migrations, logger: logger)
            // The saga's stock commands arrive through the inbox; replies leave through the outbox.
            try await Outbox.migrate(store, logger: logger)
            try await Inbox.migrate(store, logger: logger)
            if configuration.seedDemoData {
                let inserted = try await seedDemoCatalog(repository: repository)
                if inserted > 0 { logger.info("demo catalog seeded", metadata: ["products": "\(inserted)"]) }
            }
            runtime.readiness.set(.migrations, true)
        }
    }

    /// Inserts the TechStore demo catalog (8 categories, 200 products) when there are no products
    /// yet; returns the number of products inserted (0 on every later call).
    @discardableResult
    public static func seedDemoCatalog(store: any SQLStore, clock: any WallClock = SystemWallClock()) async throws -> Int {
        try await seedDemoCatalog(repository: CatalogRepository(store: store, cache: InMemoryCache(capacity: 1), clock: clock))
    }

    @discardableResult
    public static func seedDemoCatalog(repository: CatalogRepository) async throws -> Int {
        try await repository.seed(categories: DemoCatalog.categories, products: DemoCatalog.products())
    }
}
