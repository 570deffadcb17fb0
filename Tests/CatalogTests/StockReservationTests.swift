import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import SQLKit
import Synchronization
import Testing

@testable import Catalog

/// Stock reservations from the order saga's commands, on both engines.
enum StockReservationConformance {
    static func setUp(_ store: any SQLStore, stock: [Int]) async throws -> (CatalogRepository, [Product]) {
        let repository = try await CatalogRepositoryConformance.migratedRepository(store)
        try await Outbox.migrate(store, logger: testLogger)
        try await Inbox.migrate(store, logger: testLogger)
        var products: [Product] = []
        for (index, units) in stock.enumerated() {
            products.append(
                try await repository.createProduct(
                    ProductDraft(sku: "RSV-\(index)", name: "Reservable \(index)", priceCents: 1_000), initialStock: units,
                    actor: "test"))
        }
        return (repository, products)
    }

    static func level(_ repository: CatalogRepository, _ id: String) async throws -> StockLevel {
        try #require(try await repository.product(id: id)).stock
    }

    static func reserveReleaseCommitAreIdempotent(_ store: any SQLStore) async throws {
        let (repository, products) = try await setUp(store, stock: [10])
        let id = products[0].id
        let now = Date()
        func reserve(_ order: String, _ quantity: Int) async throws -> StockReservations.ReserveOutcome {
            try await store.transaction { db in
                try await StockReservations.reserve(orderID: order, lines: [(id, quantity)], now: now, in: db)
            }
        }
        #expect(try await reserve("o1", 3) == .reserved)
        #expect(try await reserve("o1", 3) == .reserved, "a redelivered reserve holds nothing more")
        #expect(try await level(repository, id) == StockLevel(onHand: 10, reserved: 3))
        let commit = { try await store.transaction { db in try await StockReservations.commit(orderID: "o1", now: now, in: db) } }
        #expect(try await commit() == .applied)
        #expect(try await commit() == .duplicate)
        #expect(try await level(repository, id) == StockLevel(onHand: 7, reserved: 0))
        #expect(try await repository.stockMovements(productID: id).last?.reason == "order o1")
        await #expect(throws: StockReservations.Conflict.self) {
            try await store.transaction { db in try await StockReservations.release(orderID: "o1", now: now, in: db) }
        }
        // Released orders give their units back once; a release that came first refuses the reservation.
        #expect(try await reserve("o2", 4) == .reserved)
        let release = { (order: String) in
            try await store.transaction { db in try await StockReservations.release(orderID: order, now: now, in: db) }
        }
        #expect(try await release("o2") == .applied)
        #expect(try await release("o2") == .duplicate)
        #expect(try await level(repository, id) == StockLevel(onHand: 7, reserved: 0))
        #expect(try await release("o3") == .applied)
        #expect(try await reserve("o3", 1) == .unavailable([]))
        #expect(try await level(repository, id).reserved == 0)
        await #expect(throws: StockReservations.Conflict.self) {
            try await store.transaction { db in try await StockReservations.commit(orderID: "o3", now: now, in: db) }
        }
    }

    static func allOrNothing(_ store: any SQLStore) async throws {
        let (repository, products) = try await setUp(store, stock: [5, 1])
        let (plenty, scarce) = (products[0].id, products[1].id)
        let missing = UUID().uuidString.lowercased()
        let outcome = try await store.transaction { db in
            try await StockReservations.reserve(
                orderID: "o1", lines: [(plenty, 2), (scarce, 2), (missing, 1)], now: Date(), in: db)
        }
        #expect(outcome == .unavailable([missing, scarce].sorted()))
        #expect(try await level(repository, plenty).reserved == 0, "what was taken is given back")
        #expect(try await level(repository, scarce).reserved == 0)
        try await repository.deactivateProduct(id: plenty)
        let inactive = try await store.transaction { db in
            try await StockReservations.reserve(orderID: "o2", lines: [(plenty, 1)], now: Date(), in: db)
        }
        #expect(inactive == .unavailable([plenty]), "inactive products are not sold")
    }

    /// 100 concurrent buyers of one unit each for 10 units: exactly 10 reserved, never negative.
    static func concurrentReservationsNeverOversell(_ store: any SQLStore) async throws {
        let (repository, products) = try await setUp(store, stock: [10])
        let id = products[0].id
        let reserved = Atomic<Int>(0)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for buyer in 0..<100 {
                group.addTask {
                    let outcome = try await store.transaction { db in
                        try await StockReservations.reserve(orderID: "buyer-\(buyer)", lines: [(id, 1)], now: Date(), in: db)
                    }
                    return outcome == .reserved
                }
            }
            for try await won in group where won { reserved.wrappingAdd(1, ordering: .relaxed) }
        }
        #expect(reserved.load(ordering: .relaxed) == 10)
        #expect(try await level(repository, id) == StockLevel(onHand: 10, reserved: 10))
    }

    /// The handler in its transaction: the reply leaves through the outbox, caused by the command and
    /// keyed by the order; the cached product is invalidated and the relay woken after commit; an
    /// invalid command is a permanent error (straight to the dead letters).
    static func handlerRepliesThroughTheOutbox(_ store: any SQLStore) async throws {
        let (repository, products) = try await setUp(store, stock: [3])
        let id = products[0].id
        _ = try await repository.cachedProduct(id: id)
        let woken = Atomic<Int>(0)
        let handler = StockCommandHandler(cache: repository.cache) { woken.wrappingAdd(1, ordering: .relaxed) }
        let command = try Envelope(
            ReserveStock(orderID: "o1", lines: [OrderLine(productID: id, quantity: 2, unitPriceCents: 1_000)]), source: "orders",
            at: Date(), key: "o1")
        try await store.transaction { db in
            _ = try await Inbox.record(command.id, subscription: "test", at: Date(), in: db)
        }
        let context = try await store.transaction { db -> HandlerContext in
            let context = HandlerContext(database: db)
            try await handler.handle(command, context)
            return context
        }
        await context.runAfterCommit()
        let rows = try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq").all()
        }
        let replies = try rows.map(Envelope.init(sqlRow:))
        #expect(replies.map(\.type) == [StockReserved.type])
        #expect(replies.first?.causationID == command.id && replies.first?.correlationID == command.correlationID)
        #expect(replies.first?.key == "o1")
        #expect(try await level(repository, id).reserved == 2)
        #expect(await repository.cache.get(CatalogRepository.cacheKey(id)) == nil, "the cached product was invalidated")
        #expect(woken.load(ordering: .relaxed) == 1)

        let invalid = try Envelope(ReserveStock(orderID: "o2", lines: []), source: "orders", at: Date())
        await #expect(throws: InvalidMessage.self) {
            try await store.transaction { db in try await handler.handle(invalid, HandlerContext(database: db)) }
        }
    }
}

@Suite("Stock reservations on SQLite")
struct StockReservationSQLiteTests {
    @Test func idempotent() async throws {
        try await withSQLiteStore { try await StockReservationConformance.reserveReleaseCommitAreIdempotent($0) }
    }
    @Test func allOrNothing() async throws {
        try await withSQLiteStore { try await StockReservationConformance.allOrNothing($0) }
    }
    @Test func neverOversell() async throws {
        try await withSQLiteStore { try await StockReservationConformance.concurrentReservationsNeverOversell($0) }
    }
    @Test func handler() async throws {
        try await withSQLiteStore { try await StockReservationConformance.handlerRepliesThroughTheOutbox($0) }
    }
}

@Suite("Stock reservations on PostgreSQL", .enabled(if: postgresURL != nil, "MALHA_TEST_POSTGRES_URL is not set"))
struct StockReservationPostgresTests {
    @Test func idempotent() async throws {
        try await withPostgresStore { try await StockReservationConformance.reserveReleaseCommitAreIdempotent($0) }
    }
    @Test func allOrNothing() async throws {
        try await withPostgresStore { try await StockReservationConformance.allOrNothing($0) }
    }
    @Test func neverOversell() async throws {
        try await withPostgresStore { try await StockReservationConformance.concurrentReservationsNeverOversell($0) }
    }
    @Test func handler() async throws {
        try await withPostgresStore { try await StockReservationConformance.handlerRepliesThroughTheOutbox($0) }
    }
}
