public import Contracts
import Foundation
public import Logging
public import MalhaCore
public import MalhaMessaging
public import MalhaStore
public import ServiceLifecycle

/// Feeds the order saga: participants' replies from the bus, and timeouts from the clock.
public struct SagaDriver: Sendable {
    public static let subscription = Subscription(
        name: "orders.saga-replies",
        types: [
            StockReserved.type, StockReservationFailed.type, StockReleased.type, StockCommitted.type, PaymentAuthorized.type,
            PaymentDeclined.type, PaymentCaptured.type, PaymentVoided.type,
        ],
        retry: RetryPolicy(base: .milliseconds(100), cap: .seconds(30), maxAttempts: 10), concurrency: 8)

    let stepTimeout: Duration
    let clock: any WallClock
    let logger: Logger
    let wakeRelay: @Sendable () -> Void

    public init(
        stepTimeout: Duration = .seconds(30), clock: any WallClock = SystemWallClock(), logger: Logger,
        wakeRelay: @escaping @Sendable () -> Void
    ) {
        self.stepTimeout = stepTimeout
        self.clock = clock
        self.logger = logger
        self.wakeRelay = wakeRelay
    }

    /// The saga input a reply carries, and its order.
    public static func input(from envelope: Envelope) throws -> (orderID: String, input: SagaInput) {
        switch envelope.type {
        case StockReserved.type: return (try envelope.decode(StockReserved.self).orderID, .stockReserved)
        case StockReservationFailed.type:
            let reply = try envelope.decode(StockReservationFailed.self)
            return (reply.orderID, .stockReservationFailed(unavailable: reply.unavailableProductIDs))
        case StockReleased.type: return (try envelope.decode(StockReleased.self).orderID, .stockReleased)
        case StockCommitted.type: return (try envelope.decode(StockCommitted.self).orderID, .stockCommitted)
        case PaymentAuthorized.type:
            let reply = try envelope.decode(PaymentAuthorized.self)
            return (reply.orderID, .paymentAuthorized(paymentID: reply.paymentID))
        case PaymentDeclined.type:
            let reply = try envelope.decode(PaymentDeclined.self)
            return (reply.orderID, .paymentDeclined(reason: reply.reason))
        case PaymentCaptured.type: return (try envelope.decode(PaymentCaptured.self).orderID, .paymentCaptured)
        case PaymentVoided.type: return (try envelope.decode(PaymentVoided.self).orderID, .paymentVoided)
        default: throw InvalidMessage("the order saga does not take \(envelope.type)")
        }
    }

    /// The consumer handler for `subscription`.
    public func handle(_ envelope: Envelope, _ context: HandlerContext) async throws {
        let (orderID, input) = try Self.input(from: envelope)
        let transition = try await OrderSagas.offer(
            input, orderID: orderID, messageID: envelope.id, causedBy: envelope, now: clock.now(), stepTimeout: stepTimeout,
            in: context.database)
        if case .rejected(let reason) = transition {
            logger.warning(
                "saga input rejected", metadata: ["order_id": "\(orderID)", "type": "\(envelope.type)", "reason": "\(reason)"])
        }
        let wakeRelay = wakeRelay
        context.afterCommit { wakeRelay() }
    }

    /// Offers a timeout to every saga whose deadline passed; returns how many.
    @discardableResult
    public func fireTimeouts(store: any SQLStore, limit: Int = 100) async throws -> Int {
        let now = clock.now()
        let fired = try await store.transaction { db -> Int in
            let due = try await OrderSagas.due(now: now, limit: limit, in: db)
            for (orderID, step) in due {
                _ = try await OrderSagas.offer(
                    .timedOut(step: step), orderID: orderID, messageID: "timeout:\(step.rawValue):\(now.epochMilliseconds)",
                    causedBy: nil, now: now, stepTimeout: stepTimeout, in: db)
            }
            return due.count
        }
        if fired > 0 { wakeRelay() }
        return fired
    }
}

/// Fires saga timeouts every `interval`.
public struct SagaTimeouts: Service {
    let driver: SagaDriver
    let store: any SQLStore
    let interval: Duration

    public init(driver: SagaDriver, store: any SQLStore, interval: Duration = .seconds(1)) {
        self.driver = driver
        self.store = store
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await driver.fireTimeouts(store: store)
            } catch {
                driver.logger.warning("saga timeouts failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
