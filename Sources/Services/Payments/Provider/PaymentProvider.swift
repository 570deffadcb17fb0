/// What the provider needs to authorize a payment.
public struct AuthorizationRequest: Codable, Sendable, Hashable {
    public var paymentID: String
    public var orderID: String
    public var customerID: String
    public var amountCents: Int64
    public var currency: String
    public var paymentMethod: String?

    public init(
        paymentID: String, orderID: String, customerID: String, amountCents: Int64, currency: String, paymentMethod: String?
    ) {
        self.paymentID = paymentID
        self.orderID = orderID
        self.customerID = customerID
        self.amountCents = amountCents
        self.currency = currency
        self.paymentMethod = paymentMethod
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case paymentID = "payment_id"
        case orderID = "order_id"
        case customerID = "customer_id"
        case amountCents = "amount_cents"
        case paymentMethod = "payment_method"
    }
}

/// A capture, void or refund of an authorization. `refundID` only for refunds.
public struct SettlementRequest: Codable, Sendable, Hashable {
    public var paymentID: String
    /// The provider's reference for the authorization (nil when it never answered one).
    public var authorizationReference: String?
    public var amountCents: Int64
    public var currency: String
    public var refundID: String?

    public init(
        paymentID: String, authorizationReference: String?, amountCents: Int64, currency: String, refundID: String? = nil
    ) {
        self.paymentID = paymentID
        self.authorizationReference = authorizationReference
        self.amountCents = amountCents
        self.currency = currency
        self.refundID = refundID
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case paymentID = "payment_id"
        case authorizationReference = "authorization_reference"
        case amountCents = "amount_cents"
        case refundID = "refund_id"
    }
}

/// The provider's answer.
public enum ProviderOutcome: Sendable, Hashable {
    case approved(reference: String)
    case declined(reason: String)
    /// Accepted, decided later: the provider's webhook (or asking again with the same idempotency
    /// key) tells how it ended.
    case pending(reference: String)
}

/// The provider could not answer now (timeout, connection refused, 5xx, breaker open). The call may
/// or may not have reached it: retry with the same idempotency key.
public struct ProviderUnavailable: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A payment provider. Every call carries an idempotency key: the same key always means the same
/// operation, so a provider that saw it before answers as it did then and moves no money again.
/// Transient failures are thrown (`ProviderUnavailable`, or any other error); answers — approvals
/// and declines alike — are returned.
public protocol PaymentProvider: Sendable {
    func authorize(_ request: AuthorizationRequest, idempotencyKey: String) async throws -> ProviderOutcome
    func capture(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome
    func void(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome
    func refund(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome
}
