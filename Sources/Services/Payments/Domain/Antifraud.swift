/// The antifraud rules' limits (`malha.payments.antifraud.*`).
public struct AntifraudPolicy: Sendable, Hashable {
    /// Above this amount a payment is refused outright.
    public var maxAmountCents: Int64
    /// Above this amount (up to the maximum) a person looks at it first.
    public var reviewAboveCents: Int64
    /// ISO 4217 codes the shop charges in; anything else cannot be a real checkout of ours.
    public var supportedCurrencies: Set<String>
    /// The window velocity is counted over.
    public var velocityWindow: Duration
    /// More authorizations than this by one customer within the window → review…
    public var velocityReviewAbove: Int
    /// …and more than this → deny.
    public var velocityDenyAbove: Int
    /// More distinct payment methods than this by one customer within the window → review (a card
    /// tester cycles through cards; a shopper rarely uses more than two).
    public var distinctMethodsReviewAbove: Int

    /// The defaults are deliberately loose on velocity so that a load test by one customer is not
    /// mistaken for fraud; production would tighten them.
    public init(
        maxAmountCents: Int64 = 10_000_000, reviewAboveCents: Int64 = 2_000_000,
        supportedCurrencies: Set<String> = ["BRL", "USD", "EUR"], velocityWindow: Duration = .seconds(600),
        velocityReviewAbove: Int = 50, velocityDenyAbove: Int = 200, distinctMethodsReviewAbove: Int = 3
    ) {
        self.maxAmountCents = maxAmountCents
        self.reviewAboveCents = reviewAboveCents
        self.supportedCurrencies = supportedCurrencies
        self.velocityWindow = velocityWindow
        self.velocityReviewAbove = velocityReviewAbove
        self.velocityDenyAbove = velocityDenyAbove
        self.distinctMethodsReviewAbove = distinctMethodsReviewAbove
    }
}

/// What antifraud looks at: the payment, and what the payments table says about its customer
/// (counted by the caller; this type does no I/O).
public struct AntifraudInput: Sendable, Hashable {
    public var amountCents: Int64
    public var currency: String
    public var paymentMethod: String?
    /// Other payments the customer started within the velocity window.
    public var recentAuthorizations: Int
    /// Payment methods of those payments.
    public var recentPaymentMethods: Set<String>

    public init(
        amountCents: Int64, currency: String, paymentMethod: String?, recentAuthorizations: Int = 0,
        recentPaymentMethods: Set<String> = []
    ) {
        self.amountCents = amountCents
        self.currency = currency
        self.paymentMethod = paymentMethod
        self.recentAuthorizations = recentAuthorizations
        self.recentPaymentMethods = recentPaymentMethods
    }
}

/// Antifraud's verdict, with the rules that led to it (recorded in the audit trail).
public enum AntifraudVerdict: Sendable, Hashable {
    case approve
    case review(reasons: [String])
    case deny(reasons: [String])

    public var name: String {
        switch self {
        case .approve: "approve"
        case .review: "review"
        case .deny: "deny"
        }
    }

    public var reasons: [String] {
        switch self {
        case .approve: []
        case .review(let reasons), .deny(let reasons): reasons
        }
    }
}

/// The antifraud rules. Deny beats review beats approve; every rule that fired is reported.
///
/// Mismatch checks are the ones this service can know: a currency the shop does not charge in,
/// and a customer cycling through payment methods. Whether a card belongs to the customer is the
/// provider's knowledge (its own risk engine declines it), not ours.
public enum Antifraud {
    public static func evaluate(_ input: AntifraudInput, policy: AntifraudPolicy) -> AntifraudVerdict {
        var deny: [String] = []
        var review: [String] = []
        if !policy.supportedCurrencies.contains(input.currency) { deny.append("currency_not_supported") }
        if input.amountCents > policy.maxAmountCents {
            deny.append("amount_over_limit")
        } else if input.amountCents > policy.reviewAboveCents {
            review.append("amount_high")
        }
        if input.recentAuthorizations > policy.velocityDenyAbove {
            deny.append("velocity_exceeded")
        } else if input.recentAuthorizations > policy.velocityReviewAbove {
            review.append("velocity_high")
        }
        var methods = input.recentPaymentMethods
        if let method = input.paymentMethod { methods.insert(method) }
        if methods.count > policy.distinctMethodsReviewAbove { review.append("many_payment_methods") }
        if !deny.isEmpty { return .deny(reasons: deny + review) }
        if !review.isEmpty { return .review(reasons: review) }
        return .approve
    }
}
