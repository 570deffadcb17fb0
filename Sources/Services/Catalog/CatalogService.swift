import Contracts
import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
import MalhaMessaging
public import MalhaRegistry
public import MalhaService
import MalhaStore
public import ServiceLifecycle

/// How a catalog instance runs.
public struct CatalogConfiguration: Sendable {
    /// Seed the TechStore demo catalog when the products table is empty (`malha up` does).
    public var seedDemoData = false

    public init(seedDemoData: Bool = false) {
        self.seedDemoData = seedDemoData
    }
}

/// The TechStore catalog: categories, products, stock levels and their movements.
public enum CatalogService: ServiceDeclaration {
    public static let name = "catalog"
    public static let portOffset = 3
    public static let platformTables: PlatformTables = [.outbox, .inbox]
    public static let publishes = [StockReserved.type, StockReservationFailed.type, StockReleased.type, StockCommitted.type]

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
        let router = makeRouter(runtime: runtime, verifier: verifier)
        CatalogRoutes(repository: repository).register(on: router)
        return router
    }

    public static func configuration(from reader: ServiceConfigReader) throws -> CatalogConfiguration {
        // malha.catalog.seed-demo-data: seed the demo catalog into an empty database (default: in `up`).
        CatalogConfiguration(seedDemoData: try reader.bool("seed-demo-data", default: reader.mode == .embedded))
    }

    /// Its routes, over a product cache, and with a transport the saga's stock commands (through
    /// the inbox; replies leave through the outbox).
    public static func build(_ context: ServiceContext<CatalogConfiguration>) async throws -> ServiceParts {
        let cache = InMemoryCache()
        let repository = CatalogRepository(store: context.store, cache: cache, clock: context.clock)
        let handler = StockCommandHandler(cache: cache, clock: context.clock, wakeRelay: context.wakeRelay)
        let logger = context.logger
        let seed = context.configuration.seedDemoData
        return ServiceParts(
            router: buildRouter(runtime: context.runtime, repository: repository, verifier: context.verifier),
            consumers: [ServiceConsumer(StockCommandHandler.subscription, handler: handler.handle)],
            afterMigrations: {
                guard seed else { return }
                let inserted = try await seedDemoCatalog(repository: repository)
                if inserted > 0 { logger.info("demo catalog seeded", metadata: ["products": "\(inserted)"]) }
            })
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
