import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

@testable import Payments

let testLogger: Logger = {
    var logger = Logger(label: "test.payments")
    logger.logLevel = .critical
    return logger
}()

/// The payments service over one store, driven by hand: commands are delivered as the consumer
/// runner would (inbox record and handler in one transaction), the processor runs when a test
/// says so, and time moves only when the test moves it.
struct PaymentsHarness: Sendable {
    let store: any SQLStore
    let clock: ManualClock
    let simulated: SimulatedProvider
    let guarded: GuardedProvider
    let processor: PaymentProcessor
    let handler: PaymentCommandHandler
    let configuration: PaymentsConfiguration

    /// `provider` replaces the simulated provider behind the guard (the simulated one still exists
    /// for inspection).
    static func make(
        store: any SQLStore, clock: ManualClock = ManualClock(), provider: (any PaymentProvider)? = nil,
        configuration: PaymentsConfiguration = PaymentsConfiguration(), batchSize: Int = 16
    ) async throws -> PaymentsHarness {
        try await PaymentsService.migrate(store, logger: testLogger)
        let simulated = SimulatedProvider(store: store, clock: clock)
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: PaymentsService.name), logger: testLogger)
        var configuration = configuration
        if let provider { configuration.provider = .custom(provider) }
        if case .simulated = configuration.provider { configuration.provider = .custom(simulated) }
        let guarded = PaymentsService.makeProvider(
            configuration: configuration, store: store, httpClient: .shared, clock: clock, runtime: runtime)
        var settings = configuration.processorSettings
        settings.batchSize = batchSize
        let processor = PaymentProcessor(
            store: store, provider: guarded, antifraud: configuration.antifraud, settings: settings,
            clock: clock, logger: testLogger, metricsFactory: runtime.metricsFactory
        ) {}
        return PaymentsHarness(
            store: store, clock: clock, simulated: simulated, guarded: guarded, processor: processor,
            handler: PaymentCommandHandler(clock: clock) {}, configuration: configuration)
    }

    /// A command as the orders saga sends it.
    func command<Message: MessageContract>(_ message: Message, order: String) throws -> Envelope {
        try Envelope(message, source: "orders", at: clock.now(), key: order, correlationID: order)
    }

    /// Delivers `envelope` as the consumer runner does. False when the inbox had it already.
    @discardableResult
    func deliver(_ envelope: Envelope) async throws -> Bool {
        try await store.transaction { db in
            guard
                try await Inbox.record(
                    envelope.id, subscription: PaymentCommandHandler.subscription.name, at: clock.now(), in: db)
            else { return false }
            try await handler.handle(envelope, HandlerContext(database: db))
            return true
        }
    }

    func authorize(
        _ order: String, amount: Int64 = 10_000, method: String? = "pm_card_ok", customer: String = "customer-1",
        currency: String = "BRL"
    ) async throws {
        try await deliver(
            command(
                AuthorizePayment(
                    orderID: order, customerID: customer, amountCents: amount, currency: currency, paymentMethod: method),
                order: order))
    }

    /// Everything in the outbox, oldest first.
    func outbox() async throws -> [Envelope] {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq").all()
                .map(Envelope.init(sqlRow:))
        }
    }

    /// The outbox messages of one type, decoded. The payload is read as written: the relay signs
    /// as it publishes, so what waits here is not signed yet (and `decode` refuses a critical one).
    func replies<Message: MessageContract>(_ type: Message.Type) async throws -> [Message] {
        try await outbox().filter { $0.type == Message.type }.map {
            try MessageCoding.decoder.decode(Message.self, from: $0.payload)
        }
    }

    func payment(order: String) async throws -> Payment? {
        try await store.read { db in try await PaymentRecords.payment(orderID: order, in: db) }
    }

    func operations(order: String) async throws -> [PaymentOperation] {
        guard let payment = try await payment(order: order) else { return [] }
        return try await store.read { db in try await PaymentRecords.operations(paymentID: payment.id, in: db) }
    }

    func events(order: String) async throws -> [PaymentAuditEvent] {
        guard let payment = try await payment(order: order) else { return [] }
        return try await store.read { db in try await PaymentRecords.events(paymentID: payment.id, in: db) }
    }
}

/// A provider whose every call fails transiently, counting the calls it gets.
final class UnavailableProvider: PaymentProvider {
    let calls = Mutex<[String]>([])

    var callCount: Int { calls.withLock { $0.count } }

    private func fail(_ key: String) throws -> ProviderOutcome {
        calls.withLock { $0.append(key) }
        throw ProviderUnavailable("test provider is down")
    }

    func authorize(_ request: AuthorizationRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try fail(idempotencyKey)
    }
    func capture(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try fail(idempotencyKey)
    }
    func void(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try fail(idempotencyKey)
    }
    func refund(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try fail(idempotencyKey)
    }
}

// MARK: HTTP

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], json: [String: Any]? = nil
    ) async throws -> TestResponse {
        let body = try json.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)) }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { $0 }
    }
}

struct PageOf<Item: Decodable>: Decodable {
    var items: [Item]
}
