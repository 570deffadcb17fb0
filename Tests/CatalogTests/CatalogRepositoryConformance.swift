import Foundation
import MalhaCore
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Catalog

/// The repository's behaviour, independent of the engine: every check runs on SQLite and, when
/// `MALHA_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database.
enum CatalogRepositoryConformance {
    static func migratedRepository(_ store: any SQLStore) async throws -> CatalogRepository {
        try await Migrator.migrate(store, CatalogService.migrations, logger: testLogger)
        return CatalogRepository(store: store, cache: InMemoryCache(), clock: testClock())
    }

    static func seedRunsOnce(_ store: any SQLStore) async throws {
        let repository = try await migratedRepository(store)
        #expect(try await CatalogService.seedDemoCatalog(repository: repository) == 200)
        #expect(try await repository.productCount() == 200)
        #expect(try await repository.categories().count == 8)
        #expect(try await CatalogService.seedDemoCatalog(store: store) == 0)
        #expect(try await repository.productCount() == 200)
        #expect(try await repository.categories().count == 8)
    }

    /// Walks every sort order in pages of 7 and checks: every active product exactly once,
    /// the order is the sort's, and it matches pages of 100.
    static func paginationHasNoGapsOrDuplicates(_ store: any SQLStore) async throws {
        let repository = try await migratedRepository(store)
        try await CatalogService.seedDemoCatalog(repository: repository)
        // Ties on price must still paginate exactly: five products at one price.
        for index in 0..<5 {
            _ = try await repository.createProduct(
                ProductDraft(sku: "TIE-\(index)", name: "Cabo USB-C Tie \(index)", priceCents: 4_242), actor: "test")
        }
        let all = 205
        for sort in ProductSort.allCases {
            let small = try await walk(repository, ProductQuery(sort: sort, limit: 7))
            let large = try await walk(repository, ProductQuery(sort: sort, limit: 100))
            #expect(small.count == all, "sort \(sort.rawValue)")
            #expect(Set(small.map(\.id)).count == all, "sort \(sort.rawValue): duplicates")
            #expect(small.map(\.id) == large.map(\.id), "sort \(sort.rawValue): page size changed the order")
            let prices = small.map(\.priceCents)
            switch sort {
            case .priceAscending: #expect(prices == prices.sorted())
            case .priceDescending: #expect(prices == prices.sorted(by: >))
            case .newest:
                let created = small.map(\.createdAt)
                #expect(created == created.sorted(by: >))
            case .name: break
            }
        }
        let ties = try await walk(
            repository, ProductQuery(minPriceCents: 4_242, maxPriceCents: 4_242, sort: .priceAscending, limit: 2))
        #expect(Set(ties.map(\.sku)) == Set((0..<5).map { "TIE-\($0)" }))
        #expect(ties.count == 5)
    }

    static func walk(_ repository: CatalogRepository, _ query: ProductQuery) async throws -> [Product] {
        var query = query
        var items: [Product] = []
        for _ in 0..<1000 {
            let page = try await repository.products(matching: query)
            #expect(page.items.count <= query.limit)
            items += page.items
            guard let next = page.nextCursor else { return items }
            query.cursor = try #require(ProductCursor(encoded: next))
        }
        Issue.record("pagination did not end")
        return items
    }

    static func searchAndFilters(_ store: any SQLStore) async throws {
        let repository = try await migratedRepository(store)
        try await CatalogService.seedDemoCatalog(repository: repository)
        let aurora = try await repository.products(matching: ProductQuery(text: "AURORA", limit: 100)).items
        #expect(aurora.count == 5)
        #expect(aurora.allSatisfy { $0.name.contains("Aurora") })
        // Description is searched too.
        let garantia = try await repository.products(matching: ProductQuery(text: "garantia de 12", limit: 100)).items
        #expect(garantia.count == 100)
        // Wildcards are literal.
        _ = try await repository.createProduct(
            ProductDraft(sku: "WILD-1", name: "Capa 100% Algodão_Premium", priceCents: 5_000), actor: "test")
        #expect(try await repository.products(matching: ProductQuery(text: "100%")).items.map(\.sku) == ["WILD-1"])
        #expect(try await repository.products(matching: ProductQuery(text: "o_p")).items.map(\.sku) == ["WILD-1"])
        #expect(try await repository.products(matching: ProductQuery(text: "%")).items.map(\.sku) == ["WILD-1"])

        let categories = try await repository.categories()
        let notebooks = try #require(categories.first { $0.slug == "notebooks" })
        let bySlug = try await repository.products(matching: ProductQuery(category: "notebooks", limit: 100)).items
        let byID = try await repository.products(matching: ProductQuery(category: notebooks.id, limit: 100)).items
        #expect(bySlug.count == 25)
        #expect(bySlug.allSatisfy { $0.categoryID == notebooks.id })
        #expect(byID.map(\.id) == bySlug.map(\.id))
        #expect(try await repository.products(matching: ProductQuery(category: "nope")).items.isEmpty)

        let ranged = try await walk(repository, ProductQuery(minPriceCents: 50_000, maxPriceCents: 200_000, limit: 100))
        #expect(!ranged.isEmpty)
        #expect(ranged.allSatisfy { (50_000...200_000).contains($0.priceCents) })

        let inStock = try await walk(repository, ProductQuery(inStock: true, limit: 100))
        let outOfStock = try await walk(repository, ProductQuery(inStock: false, limit: 100))
        #expect(inStock.allSatisfy { $0.stock.available > 0 })
        #expect(outOfStock.allSatisfy { $0.stock.available == 0 })
        #expect(!outOfStock.isEmpty)
        #expect(inStock.count + outOfStock.count == 201)
    }

    static func stockMovementsNeverGoNegative(_ store: any SQLStore) async throws {
        try await Migrator.migrate(store, CatalogService.migrations, logger: testLogger)
        let clock = testClock()
        let repository = CatalogRepository(store: store, cache: InMemoryCache(), clock: clock)
        let product = try await repository.createProduct(
            ProductDraft(sku: "STK-1", name: "SSD 1TB", priceCents: 39_900), initialStock: 10, actor: "admin-1")
        clock.advance(by: .seconds(1))
        let (movement, level) = try await repository.adjustStock(
            productID: product.id, delta: 5, reason: "compra", actor: "admin-1")
        #expect(level == StockLevel(onHand: 15, reserved: 0))
        #expect(movement.onHandAfter == 15)
        await #expect(throws: CatalogError.insufficientStock(onHand: 15, reserved: 0, delta: -16)) {
            try await repository.adjustStock(productID: product.id, delta: -16, reason: "perda", actor: "admin-1")
        }
        // Units reserved for orders cannot be adjusted away.
        try await store.transaction { database in
            try await database.raw("UPDATE products SET reserved = 4 WHERE id = \(bind: product.id)").run()
        }
        await #expect(throws: CatalogError.insufficientStock(onHand: 15, reserved: 4, delta: -12)) {
            try await repository.adjustStock(productID: product.id, delta: -12, reason: "perda", actor: "admin-1")
        }
        clock.advance(by: .seconds(1))
        let (_, after) = try await repository.adjustStock(
            productID: product.id, delta: -11, reason: "inventário", actor: "admin-2")
        #expect(after == StockLevel(onHand: 4, reserved: 4))
        #expect(after.available == 0)
        await #expect(throws: CatalogError.productNotFound) {
            try await repository.adjustStock(productID: UUID().uuidString.lowercased(), delta: 1, reason: "x", actor: "a")
        }
        let movements = try await repository.stockMovements(productID: product.id)
        #expect(movements.map(\.delta) == [10, 5, -11])
        #expect(movements.map(\.onHandAfter) == [10, 15, 4])
        #expect(movements.map(\.actor) == ["admin-1", "admin-1", "admin-2"])
        #expect(try await repository.product(id: product.id)?.stock == StockLevel(onHand: 4, reserved: 4))
    }

    static func uniquenessAndSoftDelete(_ store: any SQLStore) async throws {
        let repository = try await migratedRepository(store)
        let category = try await repository.createCategory(slug: "audio", name: "Áudio")
        await #expect(throws: CatalogError.slugTaken("audio")) {
            try await repository.createCategory(slug: "audio", name: "Outro")
        }
        let first = try await repository.createProduct(
            ProductDraft(sku: "DUP-1", name: "Fone", categoryID: category.id, priceCents: 100, attributes: ["cor": "azul"]),
            actor: "a")
        await #expect(throws: CatalogError.skuTaken("DUP-1")) {
            try await repository.createProduct(ProductDraft(sku: "DUP-1", name: "Outro", priceCents: 1), actor: "a")
        }
        await #expect(throws: CatalogError.unknownCategory("00000000-0000-0000-0000-000000000000")) {
            try await repository.createProduct(
                ProductDraft(sku: "X-1", name: "x", categoryID: "00000000-0000-0000-0000-000000000000", priceCents: 1),
                actor: "a")
        }
        let second = try await repository.createProduct(ProductDraft(sku: "DUP-2", name: "Fone 2", priceCents: 1), actor: "a")
        await #expect(throws: CatalogError.skuTaken("DUP-1")) {
            try await repository.replaceProduct(id: second.id, with: ProductDraft(sku: "DUP-1", name: "Fone 2", priceCents: 1))
        }
        let stored = try #require(try await repository.product(id: first.id))
        #expect(stored.attributes == ["cor": "azul"])
        #expect(stored.categoryID == category.id)
        try await repository.deactivateProduct(id: first.id)
        #expect(try await repository.product(id: first.id)?.active == false)
        #expect(try await repository.products(matching: ProductQuery()).items.map(\.id) == [second.id])
        await #expect(throws: CatalogError.productNotFound) {
            try await repository.deactivateProduct(id: UUID().uuidString.lowercased())
        }
    }
}

@Suite("Catalog repository on SQLite")
struct CatalogRepositorySQLiteTests {
    @Test func seedRunsOnce() async throws {
        try await withSQLiteStore { try await CatalogRepositoryConformance.seedRunsOnce($0) }
    }
    @Test func pagination() async throws {
        try await withSQLiteStore { try await CatalogRepositoryConformance.paginationHasNoGapsOrDuplicates($0) }
    }
    @Test func searchAndFilters() async throws {
        try await withSQLiteStore { try await CatalogRepositoryConformance.searchAndFilters($0) }
    }
    @Test func stock() async throws {
        try await withSQLiteStore { try await CatalogRepositoryConformance.stockMovementsNeverGoNegative($0) }
    }
    @Test func uniquenessAndSoftDelete() async throws {
        try await withSQLiteStore { try await CatalogRepositoryConformance.uniquenessAndSoftDelete($0) }
    }
}

@Suite("Catalog repository on PostgreSQL", .enabled(if: postgresURL != nil, "MALHA_TEST_POSTGRES_URL is not set"))
struct CatalogRepositoryPostgresTests {
    @Test func seedRunsOnce() async throws {
        try await withPostgresStore { try await CatalogRepositoryConformance.seedRunsOnce($0) }
    }
    @Test func pagination() async throws {
        try await withPostgresStore { try await CatalogRepositoryConformance.paginationHasNoGapsOrDuplicates($0) }
    }
    @Test func searchAndFilters() async throws {
        try await withPostgresStore { try await CatalogRepositoryConformance.searchAndFilters($0) }
    }
    @Test func stock() async throws {
        try await withPostgresStore { try await CatalogRepositoryConformance.stockMovementsNeverGoNegative($0) }
    }
    @Test func uniquenessAndSoftDelete() async throws {
        try await withPostgresStore { try await CatalogRepositoryConformance.uniquenessAndSoftDelete($0) }
    }
}
