/// Where a payment stands. One payment per order.
///
/// ```
/// pending ──▶ in_review ──▶ pending            (antifraud asked, an admin approved)
/// pending ──▶ authorized | declined            (the provider, or antifraud, decided)
/// authorized ──▶ capturing ──▶ captured ──▶ partially_refunded ──▶ refunded
///                capturing ──▶ capture_failed  (the provider refused: an operator's case)
/// authorized ──▶ voiding ──▶ voided
/// pending | in_review ──▶ voided               (voided before anything reached the provider)
/// ```
///
/// Money moves only on `capturing → captured`, and a payment reaches `capturing` once: that, with
/// the provider's idempotency key `capture:<payment id>`, is why no payment is captured twice.
public enum PaymentState: String, Codable, Sendable, Hashable, CaseIterable {
    case pending
    case inReview = "in_review"
    case authorized
    case declined
    case capturing
    case captured
    case captureFailed = "capture_failed"
    case voiding
    case voided
    case partiallyRefunded = "partially_refunded"
    case refunded

    /// The payment's money was taken (refunds may have given some back).
    public var isCaptured: Bool { self == .captured || self == .partiallyRefunded || self == .refunded }
}

/// What can happen to a payment.
public enum PaymentEvent: Sendable, Hashable {
    case flaggedForReview
    case reviewApproved
    /// Antifraud or an admin refused it, or the provider declined the authorization.
    case authorizationDeclined
    case authorizationApproved
    case captureRequested
    case captureApproved
    case captureDeclined
    case voidRequested
    /// Nothing ever reached the provider: the payment is voided on the spot.
    case voidedBeforeAuthorization
    /// The provider voided the authorization (or said there was nothing left to void).
    case voidSettled
    /// A refund succeeded; `refundedCents` is the total refunded so far, this one included.
    case refundSettled(refundedCents: Int64, capturedCents: Int64)
}

/// The outcome of an event — never a silent no-op.
public enum PaymentTransition: Sendable, Hashable {
    case applied(PaymentState)
    /// Already reflected in the state (a repeated command): answer again, change nothing.
    case duplicate
    /// Valid, but it has to wait for the provider call in flight (a void during the authorization).
    case deferred
    /// Contradicts the state (capture a voided payment).
    case rejected(String)
}

extension PaymentState {
    /// The transition `event` causes. Pure; persisting it is the caller's job.
    public func apply(_ event: PaymentEvent) -> PaymentTransition {
        switch (self, event) {
        case (.pending, .flaggedForReview): return .applied(.inReview)
        case (.inReview, .reviewApproved): return .applied(.pending)
        case (.pending, .authorizationDeclined), (.inReview, .authorizationDeclined): return .applied(.declined)
        case (.pending, .authorizationApproved): return .applied(.authorized)

        case (.authorized, .captureRequested): return .applied(.capturing)
        case (.capturing, .captureRequested), (.captured, .captureRequested), (.partiallyRefunded, .captureRequested),
            (.refunded, .captureRequested):
            return .duplicate
        case (.capturing, .captureApproved): return .applied(.captured)
        case (.capturing, .captureDeclined): return .applied(.captureFailed)

        case (.authorized, .voidRequested): return .applied(.voiding)
        case (.pending, .voidRequested): return .deferred
        case (.inReview, .voidRequested), (.pending, .voidedBeforeAuthorization), (.inReview, .voidedBeforeAuthorization):
            return .applied(.voided)
        case (.voiding, .voidRequested), (.voided, .voidRequested), (.declined, .voidRequested):
            return .duplicate
        case (.voiding, .voidSettled): return .applied(.voided)

        case (.captured, .refundSettled(let refunded, let captured)),
            (.partiallyRefunded, .refundSettled(let refunded, let captured)):
            guard refunded > 0, refunded <= captured else { return .rejected("refunds would exceed the captured amount") }
            return .applied(refunded == captured ? .refunded : .partiallyRefunded)

        default:
            return .rejected("\(event) is not possible while \(rawValue)")
        }
    }
}
