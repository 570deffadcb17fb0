import Foundation
import MalhaCore
import MalhaHTTP
import MalhaStore
import SQLKit

/// The catalog's one repository: the same SQL on SQLite and PostgreSQL (see `SQLStore`).
///
/// Product reads by id go through `cache` (key `product:<id>`, the product's JSON); every write
/// that changes a product deletes that key after its transaction commits. A read racing a write
/// can still put the old row back, so entries also expire (`cacheTTL`): staleness is bounded.
public struct CatalogRepository: Sendable {
    public let store: any SQLStore
    public let cache: any KeyValueCache
    public let clock: any WallClock
    public var cacheTTL: Duration = .seconds(60)

    public init(store: any SQLStore, cache: any KeyValueCache, clock: any WallClock = SystemWallClock()) {
        self.store = store
        self.cache = cache
        self.clock = clock
    }

    static func cacheKey(_ id: String) -> String { "product:\(id)" }

    static let productColumns =
        "id, sku, name, description, category_id, price_cents, currency, attributes, images, active, on_hand, reserved, created_at, updated_at"

    // MARK: Categories

    public func categories() async throws -> [Category] {
        try await store.read { database in
            try await database.raw("SELECT id, slug, name, created_at FROM categories ORDER BY name, id").all()
                .map(Self.category(from:))
        }
    }

    public func createCategory(slug: String, name: String) async throws -> Category {
        let category = Category(id: UUID.v7(at: clock.now()).lowercased, slug: slug, name: name, createdAt: clock.now())
        do {
            try await store.write { database in try await Self.insert(category, into: database) }
        } catch StoreError.uniqueViolation {
            throw CatalogError.slugTaken(slug)
        }
        return category
    }

    static func insert(_ category: Category, into database: any SQLDatabase) async throws {
        try await database.raw(
            """
            INSERT INTO categories (id, slug, name, created_at)
            VALUES (\(bind: category.id), \(bind: category.slug), \(bind: category.name), \(bind: category.createdAt.epochMilliseconds))
            """
        ).run()
    }

    // MARK: Product reads

    /// The product with `id`, active or not, and its cached JSON: from the cache when present.
    public func cachedProduct(id: String) async throws -> (product: Product, json: [UInt8])? {
        let key = Self.cacheKey(id)
        if let bytes = await cache.get(key), let product = try? JSONCoding.decoder.decode(Product.self, from: Data(bytes)) {
            return (product, bytes)
        }
        guard let product = try await product(id: id) else { return nil }
        let bytes = [UInt8](try JSONCoding.encoder.encode(product))
        await cache.set(key, bytes, ttl: cacheTTL)
        return (product, bytes)
    }

    /// The product with `id` straight from the database, active or not.
    public func product(id: String) async throws -> Product? {
        try await store.read { database in try await Self.product(id: id, in: database) }
    }

    static func product(id: String, in database: any SQLDatabase) async throws -> Product? {
        try await database.raw("SELECT \(unsafeRaw: productColumns) FROM products WHERE id = \(bind: id)").first()
            .map(product(from:))
    }

    /// One page of active products matching `query`, in `query.sort` order, after `query.cursor`.
    public func products(matching query: ProductQuery) async throws -> ProductPage {
        var sql: SQLQueryString = "SELECT \(unsafeRaw: Self.productColumns) FROM products WHERE active = \(bind: true)"
        if let text = query.text {
            sql += " AND search_text LIKE \(bind: likePattern(containing: text)) ESCAPE '\\'"
        }
        if let category = query.category {
            sql +=
                " AND category_id IN (SELECT id FROM categories WHERE id = \(bind: category.lowercased()) OR slug = \(bind: category))"
        }
        if let min = query.minPriceCents { sql += " AND price_cents >= \(bind: min)" }
        if let max = query.maxPriceCents { sql += " AND price_cents <= \(bind: max)" }
        switch query.inStock {
        case true?: sql += " AND on_hand > reserved"
        case false?: sql += " AND on_hand <= reserved"
        case nil: break
        }
        if let cursor = query.cursor { sql += Self.after(cursor) }
        sql += " ORDER BY \(unsafeRaw: Self.orderBy(query.sort)) LIMIT \(literal: query.limit + 1)"
        let rows = try await store.read { database in try await database.raw(sql).all() }
        var items = try rows.map(Self.product(from:))
        var next: String?
        if items.count > query.limit {
            items.removeLast(items.count - query.limit)
            next = items.last.map { ProductCursor(after: $0, sort: query.sort).encoded }
        }
        return ProductPage(items: items, nextCursor: next)
    }

    static func orderBy(_ sort: ProductSort) -> String {
        switch sort {
        case .name: "name ASC, id ASC"
        case .priceAscending: "price_cents ASC, id ASC"
        case .priceDescending: "price_cents DESC, id DESC"
        case .newest: "created_at DESC, id DESC"
        }
    }

    /// The keyset condition "strictly after the cursor row" for the cursor's order (expanded
    /// rather than a row-value comparison so it reads the same on both engines).
    static func after(_ cursor: ProductCursor) -> SQLQueryString {
        let id = cursor.id.lowercased()
        switch cursor.sort {
        case .name:
            let name = cursor.text ?? ""
            return " AND (name > \(bind: name) OR (name = \(bind: name) AND id > \(bind: id)))"
        case .priceAscending:
            let price = cursor.number ?? 0
            return " AND (price_cents > \(bind: price) OR (price_cents = \(bind: price) AND id > \(bind: id)))"
        case .priceDescending:
            let price = cursor.number ?? 0
            return " AND (price_cents < \(bind: price) OR (price_cents = \(bind: price) AND id < \(bind: id)))"
        case .newest:
            let created = cursor.number ?? 0
            return " AND (created_at < \(bind: created) OR (created_at = \(bind: created) AND id < \(bind: id)))"
        }
    }

    public func productCount() async throws -> Int {
        try await store.read { database in
            try await database.raw("SELECT COUNT(*) AS n FROM products").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    // MARK: Product writes

    /// Creates a product with `initialStock` units on hand (recorded as a movement when positive).
    public func createProduct(_ draft: ProductDraft, initialStock: Int = 0, actor: String) async throws -> Product {
        let now = clock.now()
        let product = Product(
            id: UUID.v7(at: now).lowercased, sku: draft.sku, name: draft.name, description: draft.description,
            categoryID: draft.categoryID?.lowercased(), priceCents: draft.priceCents, currency: draft.currency,
            attributes: draft.attributes, images: draft.images, active: draft.active,
            stock: StockLevel(onHand: initialStock, reserved: 0), createdAt: now, updatedAt: now)
        do {
            try await store.write { database in
                try await Self.requireCategory(product.categoryID, in: database)
                try await Self.insert(product, into: database)
                if initialStock > 0 {
                    try await Self.insertMovement(
                        StockMovement(
                            id: UUID.v7(at: now).lowercased, productID: product.id, delta: initialStock,
                            reason: "initial stock", onHandAfter: initialStock, actor: actor, createdAt: now),
                        into: database)
                }
            }
        } catch StoreError.uniqueViolation {
            throw CatalogError.skuTaken(draft.sku)
        }
        await cache.delete(Self.cacheKey(product.id))
        return product
    }

    /// Replaces the descriptive fields of product `id` (stock is untouched).
    public func replaceProduct(id: String, with draft: ProductDraft) async throws -> Product {
        let now = clock.now()
        let updated: Product
        do {
            updated = try await store.write { database in
                try await Self.requireCategory(draft.categoryID?.lowercased(), in: database)
                let row = try await database.raw(
                    """
                    UPDATE products SET sku = \(bind: draft.sku), name = \(bind: draft.name),
                        description = \(bind: draft.description), search_text = \(bind: Self.searchText(draft)),
                        category_id = \(bind: draft.categoryID?.lowercased()), price_cents = \(bind: draft.priceCents),
                        currency = \(bind: draft.currency), attributes = \(bind: Self.json(draft.attributes)),
                        images = \(bind: Self.json(draft.images)), active = \(bind: draft.active),
                        updated_at = \(bind: now.epochMilliseconds)
                    WHERE id = \(bind: id)
                    RETURNING \(unsafeRaw: Self.productColumns)
                    """
                ).first()
                guard let row else { throw CatalogError.productNotFound }
                return try Self.product(from: row)
            }
        } catch StoreError.uniqueViolation {
            throw CatalogError.skuTaken(draft.sku)
        }
        await cache.delete(Self.cacheKey(id))
        return updated
    }

    /// Soft-deletes product `id`: it disappears from public reads; its row and history stay.
    public func deactivateProduct(id: String) async throws {
        let now = clock.now()
        let found = try await store.write { database in
            try await database.raw(
                "UPDATE products SET active = \(bind: false), updated_at = \(bind: now.epochMilliseconds) WHERE id = \(bind: id) RETURNING id"
            ).first() != nil
        }
        await cache.delete(Self.cacheKey(id))
        guard found else { throw CatalogError.productNotFound }
    }

    /// Adds `delta` units on hand (negative removes) and records the movement, in one transaction.
    /// The conditional update refuses to go below zero or below what is reserved, atomically on
    /// both engines (no read-then-write window).
    public func adjustStock(
        productID id: String, delta: Int, reason: String, actor: String
    ) async throws -> (StockMovement, StockLevel) {
        let now = clock.now()
        let result = try await store.write { database -> (StockMovement, StockLevel) in
            let row = try await database.raw(
                """
                UPDATE products SET on_hand = on_hand + \(bind: delta), updated_at = \(bind: now.epochMilliseconds)
                WHERE id = \(bind: id) AND on_hand + \(bind: delta) >= reserved AND on_hand + \(bind: delta) >= 0
                RETURNING on_hand, reserved
                """
            ).first()
            guard let row else {
                guard let current = try await Self.product(id: id, in: database) else { throw CatalogError.productNotFound }
                throw CatalogError.insufficientStock(onHand: current.stock.onHand, reserved: current.stock.reserved, delta: delta)
            }
            let level = StockLevel(
                onHand: try row.decode(column: "on_hand", as: Int.self),
                reserved: try row.decode(column: "reserved", as: Int.self))
            let movement = StockMovement(
                id: UUID.v7(at: now).lowercased, productID: id, delta: delta, reason: reason, onHandAfter: level.onHand,
                actor: actor, createdAt: now)
            try await Self.insertMovement(movement, into: database)
            return (movement, level)
        }
        await cache.delete(Self.cacheKey(id))
        return result
    }

    /// Every stock movement of product `id`, oldest first.
    public func stockMovements(productID id: String) async throws -> [StockMovement] {
        try await store.read { database in
            try await database.raw(
                """
                SELECT id, product_id, delta, reason, on_hand_after, actor, created_at FROM stock_movements
                WHERE product_id = \(bind: id) ORDER BY created_at, id
                """
            ).all().map { row in
                StockMovement(
                    id: try row.decode(column: "id", as: String.self),
                    productID: try row.decode(column: "product_id", as: String.self),
                    delta: try row.decode(column: "delta", as: Int.self),
                    reason: try row.decode(column: "reason", as: String.self),
                    onHandAfter: try row.decode(column: "on_hand_after", as: Int.self),
                    actor: try row.decode(column: "actor", as: String.self),
                    createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)))
            }
        }
    }

    // MARK: Seeding

    /// Inserts the demo catalog in one transaction when there are no products yet; returns how
    /// many products it inserted (0 when the catalog already had some). Existing categories with
    /// a demo slug are reused.
    public func seed(categories: [DemoCatalog.CategorySeed], products: [DemoCatalog.ProductSeed]) async throws -> Int {
        let now = clock.now()
        let inserted = try await store.write { database -> Int in
            let count =
                try await database.raw("SELECT COUNT(*) AS n FROM products").first()?.decode(column: "n", as: Int.self) ?? 0
            guard count == 0 else { return 0 }
            var categoryIDs: [String: String] = [:]
            for seed in categories {
                if let row = try await database.raw("SELECT id FROM categories WHERE slug = \(bind: seed.slug)").first() {
                    categoryIDs[seed.slug] = try row.decode(column: "id", as: String.self)
                } else {
                    let category = Category(id: UUID.v7(at: now).lowercased, slug: seed.slug, name: seed.name, createdAt: now)
                    try await Self.insert(category, into: database)
                    categoryIDs[seed.slug] = category.id
                }
            }
            for (index, seed) in products.enumerated() {
                // Spread creation times one minute apart so "newest" has a meaningful order.
                let created = now.addingTimeInterval(-Double(products.count - index) * 60)
                let product = Product(
                    id: UUID.v7(at: created).lowercased, sku: seed.draft.sku, name: seed.draft.name,
                    description: seed.draft.description, categoryID: categoryIDs[seed.categorySlug],
                    priceCents: seed.draft.priceCents, currency: seed.draft.currency, attributes: seed.draft.attributes,
                    images: seed.draft.images, active: true, stock: StockLevel(onHand: seed.onHand, reserved: 0),
                    createdAt: created, updatedAt: created)
                try await Self.insert(product, into: database)
                if seed.onHand > 0 {
                    try await Self.insertMovement(
                        StockMovement(
                            id: UUID.v7(at: created).lowercased, productID: product.id, delta: seed.onHand,
                            reason: "demo seed", onHandAfter: seed.onHand, actor: "system", createdAt: created),
                        into: database)
                }
            }
            return products.count
        }
        if inserted > 0 { await cache.delete(prefix: "product:") }
        return inserted
    }

    // MARK: Rows

    static func insert(_ product: Product, into database: any SQLDatabase) async throws {
        try await database.raw(
            """
            INSERT INTO products (\(unsafeRaw: productColumns), search_text)
            VALUES (\(bind: product.id), \(bind: product.sku), \(bind: product.name), \(bind: product.description),
                \(bind: product.categoryID), \(bind: product.priceCents), \(bind: product.currency),
                \(bind: json(product.attributes)), \(bind: json(product.images)), \(bind: product.active),
                \(bind: product.stock.onHand), \(bind: product.stock.reserved),
                \(bind: product.createdAt.epochMilliseconds), \(bind: product.updatedAt.epochMilliseconds),
                \(bind: product.searchText))
            """
        ).run()
    }

    static func insertMovement(_ movement: StockMovement, into database: any SQLDatabase) async throws {
        try await database.raw(
            """
            INSERT INTO stock_movements (id, product_id, delta, reason, on_hand_after, actor, created_at)
            VALUES (\(bind: movement.id), \(bind: movement.productID), \(bind: movement.delta), \(bind: movement.reason),
                \(bind: movement.onHandAfter), \(bind: movement.actor), \(bind: movement.createdAt.epochMilliseconds))
            """
        ).run()
    }

    static func requireCategory(_ id: String?, in database: any SQLDatabase) async throws {
        guard let id else { return }
        guard try await database.raw("SELECT id FROM categories WHERE id = \(bind: id)").first() != nil else {
            throw CatalogError.unknownCategory(id)
        }
    }

    static func searchText(_ draft: ProductDraft) -> String { (draft.name + "\n" + draft.description).lowercased() }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self)
    }

    static func product(from row: any SQLRow) throws -> Product {
        let attributes = try row.decode(column: "attributes", as: String.self)
        let images = try row.decode(column: "images", as: String.self)
        return Product(
            id: try row.decode(column: "id", as: String.self),
            sku: try row.decode(column: "sku", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            categoryID: try row.decode(column: "category_id", as: String?.self),
            priceCents: try row.decode(column: "price_cents", as: Int.self),
            currency: try row.decode(column: "currency", as: String.self),
            attributes: try JSONCoding.decoder.decode([String: String].self, from: Data(attributes.utf8)),
            images: try JSONCoding.decoder.decode([String].self, from: Data(images.utf8)),
            active: try row.decode(column: "active", as: Bool.self),
            stock: StockLevel(
                onHand: try row.decode(column: "on_hand", as: Int.self),
                reserved: try row.decode(column: "reserved", as: Int.self)),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Date(epochMilliseconds: try row.decode(column: "updated_at", as: Int64.self)))
    }

    static func category(from row: any SQLRow) throws -> Category {
        Category(
            id: try row.decode(column: "id", as: String.self),
            slug: try row.decode(column: "slug", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)))
    }
}
