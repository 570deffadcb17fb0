import Contracts
import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
import MalhaMessaging
public import MalhaOpenAPI
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

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Catalog (TechStore)", version: MalhaVersion.current,
            operations: [
                .get(
                    "/v1/categories", "List categories", security: optionalBearer,
                    responses: [.ok(CategoryListResponse.self, "Every category"), invalidToken]),
                .post(
                    "/v1/categories", "Create a category", access: .admin, body: .json(CategoryRequest.self),
                    responses: [
                        .created(Category.self, "The category"), .problem(409, "slug_taken"),
                        .problem(422, "Invalid slug or name"),
                    ]),
                .get(
                    "/v1/products", "Search active products", security: optionalBearer,
                    parameters: [
                        .query("q", .string(maxLength: 200), description: "Text in the name or description"),
                        .query("category", .string(), description: "A category id or slug"),
                        .query("min_price", .integer(0...Int64(ProductRules.maxPriceCents)), description: "Cents, inclusive"),
                        .query(
                            "max_price", .integer(0...Int64(ProductRules.maxPriceCents)),
                            description: "Cents, inclusive (below min_price: an empty page)"),
                        .query("in_stock", CatalogSchemas.queryBoolean, description: "Only products with units available"),
                        .query("sort", ProductSort.self, description: "Default: name"),
                        .query("limit", .integer(1...Int64(ProductQuery.maxLimit)).defaulting(20)),
                        .query(
                            "cursor", .string(length: 1...2048, pattern: "^[A-Za-z0-9_-]+$"),
                            description:
                                "The previous page's next_cursor, with the same sort (any other value names no page: 404)"),
                    ],
                    responses: [
                        .page(of: Product.self), invalidToken,
                        .problem(404, "cursor_not_found: the cursor is not a next_cursor of this sort order"),
                        .problem(422, "Invalid parameter (errors names each)"),
                    ]),
                .get(
                    "/v1/products/{id}", "A product (inactive ones only for administrators)", security: optionalBearer,
                    parameters: [.path("id", UUID.self, description: "The product's id (anything else is 404)")],
                    ifNoneMatch: true,
                    responses: [
                        .ok(Product.self, headers: [.etag]), invalidToken, .problem(404, "No such product (or inactive)"),
                    ]),
                .post(
                    "/v1/products", "Create a product", access: .admin, body: .json(ProductRequest.self),
                    responses: [
                        .created(Product.self, "The product"),
                        .problem(409, "sku_taken, or validation_failed for a category_id that names no category"),
                        .problem(422, "Invalid field"),
                    ]),
                .put(
                    "/v1/products/{id}", "Replace a product's descriptive fields", access: .admin,
                    parameters: [.path("id", UUID.self)], body: .json(ProductRequest.self),
                    responses: [
                        .ok(Product.self, "The product"), .problem(404, "No such product"),
                        .problem(409, "sku_taken, or validation_failed for a category_id that names no category"),
                        .problem(422, "Invalid field"),
                    ]),
                .delete(
                    "/v1/products/{id}", "Deactivate a product (soft delete)", access: .admin,
                    parameters: [.path("id", UUID.self)],
                    responses: [.noContent("Deactivated"), .problem(404, "No such product")]),
                .post(
                    "/v1/products/{id}/stock-adjustments", "Adjust on-hand stock, recorded as a movement", access: .admin,
                    parameters: [.path("id", UUID.self)], body: .json(StockAdjustmentRequest.self),
                    responses: [
                        .created(StockAdjustmentResponse.self, "The movement and the new stock", headers: []),
                        .problem(404, "No such product"),
                        .problem(409, "insufficient_stock: on hand would fall below zero or below what is reserved"),
                        .problem(422, "Invalid delta or reason"),
                    ]),
            ])
    }

    /// Public reads take a token too (administrators see inactive products); a bad one is refused.
    private static let optionalBearer: [OpenAPIDocument.Security] = [.anonymous, .bearer]
    private static let invalidToken = OpenAPIDocument.ResponseSpec.problem(
        401, "An Authorization header that is not a valid bearer token (none is needed)")

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
