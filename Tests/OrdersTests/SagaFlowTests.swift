import Catalog
import Contracts
import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import SQLKit
import ServiceLifecycle
import Testing

@testable import Orders

let testLogger: Logger = {
    var logger = Logger(label: "test.orders")
    logger.logLevel = .critical
    return logger
}()

/// Three databases, as in production: the orders service's, the catalog's, and the bus's own.
func withThreeStores(_ body: (any SQLStore, any SQLStore, any SQLStore) async throws -> Void) async throws {
    try await TestDatabases.withEachBackend(stores: 3) { try await body($0[0], $0[1], $0[2]) }
}

func prepareOrders(_ store: any SQLStore) async throws {
    try await Migrator.migrate(store, OrdersService.migrations, logger: testLogger)
    try await Outbox.migrate(store, logger: testLogger)
    try await Inbox.migrate(store, logger: testLogger)
}

/// Stands in for the payments service on the real bus: authorizes amounts up to `limit`, declines
/// the rest, captures and voids whatever it is asked to, signing its answers as payments does.
func runPayments(transport: SQLTransport, limit: Int64, keys: TestEventKeys) async throws {
    try await transport.bind(
        subscription: "test.payments", to: [AuthorizePayment.type, CapturePayment.type, VoidPayment.type])
    while !Task.isCancelled {
        let batch = try await transport.receive(from: "test.payments", limit: 10, lease: .seconds(30))
        if batch.isEmpty {
            await transport.waitForMessages(on: "test.payments", timeout: .milliseconds(200))
            continue
        }
        for delivery in batch {
            let command = delivery.envelope
            let reply: Envelope
            switch command.type {
            case AuthorizePayment.type:
                let authorize = try command.decode(AuthorizePayment.self)
                reply =
                    authorize.amountCents <= limit
                    ? try command.caused(
                        PaymentAuthorized(orderID: authorize.orderID, paymentID: "pay-\(authorize.orderID)"), source: "payments",
                        at: Date(), key: authorize.orderID)
                    : try command.caused(
                        PaymentDeclined(orderID: authorize.orderID, reason: "insufficient_funds"), source: "payments", at: Date(),
                        key: authorize.orderID)
            case CapturePayment.type:
                let capture = try command.decode(CapturePayment.self)
                reply = try command.caused(
                    PaymentCaptured(orderID: capture.orderID, paymentID: "pay-\(capture.orderID)"), source: "payments",
                    at: Date(),
                    key: capture.orderID)
            default:
                let void = try command.decode(VoidPayment.self)
                reply = try command.caused(
                    PaymentVoided(orderID: void.orderID), source: "payments", at: Date(), key: void.orderID)
            }
            try await transport.publish([try keys.sign(reply)])
            try await transport.acknowledge(delivery)
        }
    }
}

@Suite("Order saga flow", .serialized)
struct SagaFlowTests {
    @Test func checkoutConfirmsDeclinesCompensateAndOutOfStockCancels() async throws {
        try await withThreeStores { ordersStore, catalogStore, busStore in
            try await prepareOrders(ordersStore)
            try await Migrator.migrate(catalogStore, CatalogService.migrations, logger: testLogger)
            try await Outbox.migrate(catalogStore, logger: testLogger)
            try await Inbox.migrate(catalogStore, logger: testLogger)
            let catalog = CatalogRepository(store: catalogStore, cache: InMemoryCache())
            let product = try await catalog.createProduct(
                ProductDraft(sku: "SAGA-1", name: "Saga drone", priceCents: 10_000), initialStock: 5, actor: "test")
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)

            let ordersRelay = OutboxRelay(
                store: ordersStore, transport: transport, service: "orders", pollInterval: .milliseconds(20), logger: testLogger)
            let catalogRelay = OutboxRelay(
                store: catalogStore, transport: transport, service: "catalog", pollInterval: .milliseconds(20), logger: testLogger
            )
            let stock = StockCommandHandler(cache: catalog.cache) { catalogRelay.wake() }
            let catalogConsumer = ConsumerRunner(
                subscription: StockCommandHandler.subscription, transport: transport, store: catalogStore, logger: testLogger,
                idleWait: .milliseconds(200), handler: stock.handle)
            let driver = SagaDriver(logger: testLogger) { ordersRelay.wake() }
            // Orders acts on payments' answers only once their signatures verify (captured is critical).
            let keys = TestEventKeys()
            let sagaConsumer = ConsumerRunner(
                subscription: SagaDriver.subscription, transport: transport, store: ordersStore, verifier: keys.verifier(),
                logger: testLogger, idleWait: .milliseconds(200), handler: driver.handle)
            // Bind before anything is published, as a deployed consumer would have.
            try await transport.bind(
                subscription: StockCommandHandler.subscription.name, to: StockCommandHandler.subscription.types)
            try await transport.bind(subscription: SagaDriver.subscription.name, to: SagaDriver.subscription.types)
            try await transport.bind(
                subscription: "test.payments", to: [AuthorizePayment.type, CapturePayment.type, VoidPayment.type])

            func place(_ id: String, quantity: Int) async throws {
                _ = try await ordersStore.transaction { db in
                    try await OrderSagas.place(
                        orderID: id, customerID: "c1",
                        lines: [OrderLine(productID: product.id, quantity: quantity, unitPriceCents: Int64(product.priceCents))],
                        currency: "BRL", now: Date(), stepTimeout: .seconds(30), in: db)
                }
                ordersRelay.wake()
            }
            func status(_ id: String) async throws -> OrderStatus? {
                try await ordersStore.read { db in try await OrderSagas.order(id: id, in: db)?.status }
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in [ordersRelay, catalogRelay, catalogConsumer, sagaConsumer] as [any Service] {
                    group.addTask { try await service.run() }
                }
                group.addTask { try await runPayments(transport: transport, limit: 25_000, keys: keys) }

                try await place("ok", quantity: 2)  // 20,000: authorized
                try await place("declined", quantity: 3)  // 30,000: declined
                try await place("greedy", quantity: 9)  // more than the 5 on hand
                let settled = await eventually(timeout: .seconds(120)) {
                    let statuses = [try? await status("ok"), try? await status("declined"), try? await status("greedy")]
                    return statuses.allSatisfy { $0 == .confirmed || $0 == .cancelled }
                }
                #expect(settled, "every order ends confirmed or cancelled")
                group.cancelAll()
            }
            #expect(try await status("ok") == .confirmed)
            let declined = try await ordersStore.read { db in try await OrderSagas.order(id: "declined", in: db) }
            #expect(declined?.status == .cancelled && declined?.cancelReason == .paymentDeclined)
            let greedy = try await ordersStore.read { db in try await OrderSagas.order(id: "greedy", in: db) }
            #expect(greedy?.status == .cancelled && greedy?.cancelReason == .outOfStock)
            // Stock: the confirmed order's 2 units sold, the declined order's 3 given back.
            let level = try #require(try await catalog.product(id: product.id)).stock
            #expect(level.onHand == 3 && level.reserved == 0, "\(level)")
            // Every transition recorded; none rejected.
            let outcomes = try await ordersStore.read { db in
                try await db.raw("SELECT outcome, COUNT(*) AS n FROM saga_transitions GROUP BY outcome").all()
                    .map { (try $0.decode(column: "outcome", as: String.self), try $0.decode(column: "n", as: Int.self)) }
            }
            #expect(!outcomes.contains { $0.0 == "rejected" }, "\(outcomes)")
            #expect(try await transport.deadLetterCounts().isEmpty)
        }
    }

    @Test func aStepThatGetsNoAnswerTimesOutAndCompensates() async throws {
        try await TestDatabases.withSQLite { store in try await Self.timesOutAndCompensates(store) }
    }

    static func timesOutAndCompensates(_ store: SQLiteStore) async throws {
        try await prepareOrders(store)
        let clock = ManualClock(Date())
        let driver = SagaDriver(stepTimeout: .seconds(30), clock: clock, logger: testLogger) {}
        _ = try await store.transaction { db in
            try await OrderSagas.place(
                orderID: "o1", customerID: "c1", lines: [OrderLine(productID: "p", quantity: 1, unitPriceCents: 5)],
                currency: "BRL", now: clock.now(), stepTimeout: .seconds(30), in: db)
        }
        clock.advance(by: .seconds(29))
        #expect(try await driver.fireTimeouts(store: store) == 0, "not before the deadline")
        clock.advance(by: .seconds(1))
        #expect(try await driver.fireTimeouts(store: store) == 1)
        #expect(try await driver.fireTimeouts(store: store) == 0, "fired once: the step moved on")
        let order = try await store.read { db in try await OrderSagas.order(id: "o1", in: db) }
        #expect(order?.status == .cancelling && order?.cancelReason == .timeout)
        let types = try await store.read { db in
            try await db.raw("SELECT message_type FROM outbox ORDER BY seq").all()
                .map { try $0.decode(column: "message_type", as: String.self) }
        }
        #expect(types == [OrderPlaced.type, ReserveStock.type, ReleaseStock.type])
    }
}
