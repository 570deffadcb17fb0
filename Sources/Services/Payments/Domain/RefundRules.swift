/// Why a refund, or an admin's review decision, is refused. Pure rules over a payment's state and
/// its refunds so far; the workflow reads the rows, asks, and writes.
enum RefundRefusal: Error, Sendable, Hashable {
    case notFound
    case notCaptured(PaymentState)
    case exceedsCaptured(availableCents: Int64)
}

enum RefundRules {
    /// Nil when `amountCents` may be refunded: the payment was captured, and the refunds that did
    /// not fail plus this one stay within the captured amount.
    static func refusal(
        state: PaymentState, capturedCents: Int64, refunds: [Refund], amountCents: Int64
    ) -> RefundRefusal? {
        guard state.isCaptured else { return .notCaptured(state) }
        let committed = refunds.filter { $0.state != .failed }.reduce(Int64(0)) { $0 + $1.amountCents }
        guard committed + amountCents <= capturedCents else {
            return .exceedsCaptured(availableCents: capturedCents - committed)
        }
        return nil
    }
}

enum ReviewRules {
    /// Nil when an admin may decide the payment: only a payment antifraud held for review.
    static func refusal(state: PaymentState) -> PaymentConflict? {
        state == .inReview
            ? nil : PaymentConflict(code: "not_in_review", description: "the payment is \(state.rawValue), not in review")
    }
}

/// A request the payment's state refuses (an admin reviewing a payment not in review, a refund
/// of money never captured). The HTTP layer answers 409; a command handler dead-letters it.
struct PaymentConflict: Error, CustomStringConvertible {
    var code: String
    var description: String
}
