import Contracts
import Foundation
public import MalhaCore
public import MalhaMessaging

/// The payments side of the order saga: records what the saga asks (authorize, capture, void) in
/// the consumer's transaction — the payment, the operation owed to the provider, the audit event
/// and the inbox record together — and wakes the processor once that commits. It never calls the
/// provider itself: a slow provider must not hold a transaction (or a bus lease) open.
///
/// Every command gets exactly one reply: right away (through the outbox, same transaction) when
/// the answer is already known — a repeated capture of a captured payment, a void of nothing —
/// or from the processor when the provider has answered.
public struct PaymentCommandHandler: Sendable {
    public static let subscription = Subscription(
        name: "payments.commands", types: [AuthorizePayment.type, CapturePayment.type, VoidPayment.type],
        retry: RetryPolicy(base: .milliseconds(100), cap: .seconds(30), maxAttempts: 10), concurrency: 8)

    let clock: any WallClock
    let wake: @Sendable () -> Void

    /// `wake` runs after each commit: it wakes the processor (new work) and the outbox relay (replies).
    public init(clock: any WallClock = SystemWallClock(), wake: @escaping @Sendable () -> Void) {
        self.clock = clock
        self.wake = wake
    }

    public func handle(_ envelope: Envelope, _ context: HandlerContext) async throws {
        let workflow = PaymentWorkflow(db: context.database, now: clock.now())
        let address = ReplyAddress(
            messageID: envelope.id, correlationID: envelope.correlationID, traceparent: envelope.traceparent)
        do {
            switch envelope.type {
            case AuthorizePayment.type:
                let command = try envelope.decode(AuthorizePayment.self)
                try Self.validate(command)
                try await workflow.requestAuthorization(command, replyTo: address)
            case CapturePayment.type:
                let command = try envelope.decode(CapturePayment.self)
                try Self.validate(orderID: command.orderID)
                try await workflow.requestCapture(orderID: command.orderID, replyTo: address)
            case VoidPayment.type:
                let command = try envelope.decode(VoidPayment.self)
                try Self.validate(orderID: command.orderID)
                try await workflow.requestVoid(orderID: command.orderID, replyTo: address)
            default:
                throw InvalidMessage("payments does not handle \(envelope.type)")
            }
        } catch let conflict as PaymentConflict {
            throw InvalidMessage(conflict.description)
        }
        let wake = wake
        context.afterCommit { wake() }
    }

    static func validate(orderID: String) throws {
        guard !orderID.isEmpty, orderID.count <= 64 else { throw InvalidMessage("order_id must be 1 to 64 characters") }
    }

    /// Shape only; whether the amount and currency are acceptable is antifraud's call (so a
    /// suspicious payment is declined `fraud_suspected`, and the saga ends, instead of dead-lettered).
    static func validate(_ command: AuthorizePayment) throws {
        try validate(orderID: command.orderID)
        guard !command.customerID.isEmpty, command.customerID.count <= 128 else {
            throw InvalidMessage("customer_id must be 1 to 128 characters")
        }
        guard command.amountCents > 0 else { throw InvalidMessage("amount_cents must be positive") }
        guard command.currency.count == 3, command.currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw InvalidMessage("currency must be an ISO 4217 code")
        }
        if let method = command.paymentMethod, method.isEmpty || method.count > 128 {
            throw InvalidMessage("payment_method must be 1 to 128 characters")
        }
    }
}
