public import Contracts
public import Foundation
import MalhaCore

/// Where an order's checkout stands. The saga orchestrates: reserve stock → authorize payment →
/// confirm (capture payment and commit stock); on a failure, a timeout or the customer's cancel
/// before confirmation it compensates (release stock, void payment) and ends cancelled.
public enum SagaStep: String, Codable, Sendable, Hashable, CaseIterable {
    case reservingStock = "reserving_stock"
    case authorizingPayment = "authorizing_payment"
    /// Payment authorized and stock reserved: only forward from here (capture and commit).
    case confirming
    case confirmed
    case compensating
    case cancelled

    /// The order status customers see.
    public var orderStatus: OrderStatus {
        switch self {
        case .reservingStock, .authorizingPayment, .confirming: .pending
        case .confirmed: .confirmed
        case .compensating: .cancelling
        case .cancelled: .cancelled
        }
    }

    public var isFinal: Bool { self == .confirmed || self == .cancelled }
}

/// Where an order stands, as its customer sees it (the saga's steps, coarser).
public enum OrderStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// Stock being reserved, payment being authorized, or the order being confirmed.
    case pending
    case confirmed
    /// Compensating: stock being released and the payment voided.
    case cancelling
    case cancelled
}

/// Why an order was cancelled.
public enum CancelReason: String, Codable, Sendable, Hashable, CaseIterable {
    case outOfStock = "out_of_stock"
    case paymentDeclined = "payment_declined"
    case timeout
    case customerRequest = "customer_request"
}

/// What the saga reacts to: participants' replies, its own timeouts, the customer.
public enum SagaInput: Sendable, Hashable {
    case stockReserved
    case stockReservationFailed(unavailable: [String])
    case stockReleased
    case stockCommitted
    case paymentAuthorized(paymentID: String)
    case paymentDeclined(reason: String)
    case paymentCaptured
    case paymentVoided
    /// The deadline set when `step` began has passed (a timeout is a message too; a stale one,
    /// for a step already left, is a duplicate).
    case timedOut(step: SagaStep)
    case cancelRequested
}

/// What the saga asks for after a transition; the orders service turns each into an outbox message.
public enum SagaCommand: Sendable, Hashable {
    case reserveStock
    case releaseStock
    case commitStock
    case authorizePayment
    case capturePayment
    case voidPayment
    case publishConfirmed
    case publishCancelled(reason: CancelReason)
}

/// The outcome of offering an input to the saga — never a silent no-op.
public enum SagaTransition: Sendable, Hashable {
    /// The state changed (or compensating work was ordered); persist it and send the commands.
    case applied(OrderSaga, [SagaCommand])
    /// Already reflected in the state (a redelivered reply, a stale timeout): nothing to do.
    case duplicate
    /// Not valid in this state; the reason says why (a cancel after confirmation, an impossible reply).
    case rejected(String)
}

/// The persisted state machine of one order's checkout.
public struct OrderSaga: Codable, Sendable, Hashable {
    public var orderID: String
    public var customerID: String
    public var lines: [OrderLine]
    public var totalCents: Int64
    public var currency: String
    /// The payment method chosen at checkout (absent in sagas started before it existed).
    public var paymentMethod: String?
    public var step: SagaStep
    public var paymentID: String?
    /// Set once the saga turns to compensation.
    public var cancelReason: CancelReason?
    /// Replies awaited while confirming.
    public var paymentCaptured = false
    public var stockCommitted = false
    /// Compensations awaited while compensating.
    public var awaitingStockRelease = false
    public var awaitingPaymentVoid = false
    /// When the current step times out.
    public var deadline: Date

    /// A new saga for a placed order, and its first command.
    public static func start(
        orderID: String, customerID: String, lines: [OrderLine], totalCents: Int64, currency: String,
        paymentMethod: String? = nil, now: Date, stepTimeout: Duration
    ) -> (OrderSaga, [SagaCommand]) {
        let saga = OrderSaga(
            orderID: orderID, customerID: customerID, lines: lines, totalCents: totalCents, currency: currency,
            paymentMethod: paymentMethod, step: .reservingStock, deadline: now.adding(stepTimeout))
        return (saga, [.reserveStock])
    }

    /// The transition `input` causes. Pure: persisting the new state and sending its commands in one
    /// transaction is the caller's job.
    public func apply(_ input: SagaInput, now: Date, stepTimeout: Duration) -> SagaTransition {
        var next = self
        switch (step, input) {
        // Reserving stock.
        case (.reservingStock, .stockReserved):
            next.step = .authorizingPayment
            next.deadline = now.adding(stepTimeout)
            return .applied(next, [.authorizePayment])
        case (.reservingStock, .stockReservationFailed):
            next.step = .cancelled
            next.cancelReason = .outOfStock
            return .applied(next, [.publishCancelled(reason: .outOfStock)])
        case (.reservingStock, .timedOut(.reservingStock)), (.reservingStock, .cancelRequested):
            // A reservation may still land: release whatever there is.
            return next.compensate(
                reason: input == .cancelRequested ? .customerRequest : .timeout, releaseStock: true, voidPayment: false,
                now: now, stepTimeout: stepTimeout)

        // Authorizing payment.
        case (.authorizingPayment, .stockReserved):
            return .duplicate
        case (.authorizingPayment, .paymentAuthorized(let paymentID)):
            next.step = .confirming
            next.paymentID = paymentID
            next.deadline = now.adding(stepTimeout)
            return .applied(next, [.capturePayment, .commitStock])
        case (.authorizingPayment, .paymentDeclined):
            return next.compensate(
                reason: .paymentDeclined, releaseStock: true, voidPayment: false, now: now, stepTimeout: stepTimeout)
        case (.authorizingPayment, .timedOut(.authorizingPayment)), (.authorizingPayment, .cancelRequested):
            // The authorization may still land: void whatever there is, and release the stock.
            return next.compensate(
                reason: input == .cancelRequested ? .customerRequest : .timeout, releaseStock: true, voidPayment: true,
                now: now, stepTimeout: stepTimeout)

        // Confirming: forward only.
        case (.confirming, .stockReserved), (.confirming, .paymentAuthorized):
            return .duplicate
        case (.confirming, .paymentCaptured):
            if paymentCaptured { return .duplicate }
            next.paymentCaptured = true
            return next.confirmIfComplete()
        case (.confirming, .stockCommitted):
            if stockCommitted { return .duplicate }
            next.stockCommitted = true
            return next.confirmIfComplete()
        case (.confirming, .timedOut(.confirming)):
            // Capture and commit are idempotent: ask again for what has not answered.
            next.deadline = now.adding(stepTimeout)
            return .applied(next, (paymentCaptured ? [] : [.capturePayment]) + (stockCommitted ? [] : [.commitStock]))
        case (.confirming, .cancelRequested):
            return .rejected("the order is being confirmed; it can no longer be cancelled")

        // Compensating.
        case (.compensating, .stockReleased):
            if !awaitingStockRelease { return .duplicate }
            next.awaitingStockRelease = false
            return next.cancelIfCompensated()
        case (.compensating, .paymentVoided):
            if !awaitingPaymentVoid { return .duplicate }
            next.awaitingPaymentVoid = false
            return next.cancelIfCompensated()
        case (.compensating, .stockReserved), (.cancelled, .stockReserved):
            // A reservation landed after the saga gave up on it: release it (idempotent).
            next.awaitingStockRelease = step == .compensating
            return .applied(next, [.releaseStock])
        case (.compensating, .paymentAuthorized(let paymentID)), (.cancelled, .paymentAuthorized(let paymentID)):
            // An authorization landed after the saga gave up on it: void it (idempotent).
            next.paymentID = paymentID
            next.awaitingPaymentVoid = step == .compensating
            return .applied(next, [.voidPayment])
        case (.compensating, .timedOut(.compensating)):
            next.deadline = now.adding(stepTimeout)
            return .applied(
                next, (awaitingStockRelease ? [.releaseStock] : []) + (awaitingPaymentVoid ? [.voidPayment] : []))
        case (.compensating, .paymentDeclined), (.compensating, .stockReservationFailed), (.compensating, .cancelRequested):
            return .duplicate

        // Final states.
        case (.confirmed, .stockReserved), (.confirmed, .paymentAuthorized), (.confirmed, .paymentCaptured),
            (.confirmed, .stockCommitted):
            return .duplicate
        case (.confirmed, .cancelRequested):
            return .rejected("the order is confirmed; it can no longer be cancelled")
        case (.cancelled, .stockReleased), (.cancelled, .paymentVoided), (.cancelled, .paymentDeclined),
            (.cancelled, .stockReservationFailed), (.cancelled, .cancelRequested):
            return .duplicate

        case (_, .timedOut(let timedOutStep)):
            // A timeout set for a step the saga has left.
            return timedOutStep == step ? .rejected("no timeout handling for \(step.rawValue)") : .duplicate
        default:
            return .rejected("\(input) is not expected while \(step.rawValue)")
        }
    }

    private func compensate(
        reason: CancelReason, releaseStock: Bool, voidPayment: Bool, now: Date, stepTimeout: Duration
    ) -> SagaTransition {
        var next = self
        next.step = .compensating
        next.cancelReason = reason
        next.awaitingStockRelease = releaseStock
        next.awaitingPaymentVoid = voidPayment
        next.deadline = now.adding(stepTimeout)
        return .applied(next, (releaseStock ? [.releaseStock] : []) + (voidPayment ? [.voidPayment] : []))
    }

    private func confirmIfComplete() -> SagaTransition {
        var next = self
        guard paymentCaptured && stockCommitted else { return .applied(next, []) }
        next.step = .confirmed
        return .applied(next, [.publishConfirmed])
    }

    private func cancelIfCompensated() -> SagaTransition {
        var next = self
        guard !awaitingStockRelease && !awaitingPaymentVoid else { return .applied(next, []) }
        next.step = .cancelled
        return .applied(next, [.publishCancelled(reason: cancelReason ?? .timeout)])
    }

    enum CodingKeys: String, CodingKey {
        case lines, currency, step, deadline
        case orderID = "order_id"
        case customerID = "customer_id"
        case totalCents = "total_cents"
        case paymentID = "payment_id"
        case cancelReason = "cancel_reason"
        case paymentMethod = "payment_method"
        case paymentCaptured = "payment_captured"
        case stockCommitted = "stock_committed"
        case awaitingStockRelease = "awaiting_stock_release"
        case awaitingPaymentVoid = "awaiting_payment_void"
    }
}
