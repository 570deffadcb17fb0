public import Foundation
public import MalhaCore

/// A payment intent: one per order, and everything that happened to its money.
public struct Payment: Codable, Sendable, Hashable {
    public var id: String
    public var orderID: String
    public var customerID: String
    public var amountCents: Int64
    public var currency: String
    public var paymentMethod: String?
    public var state: PaymentState
    /// Why it was declined (`card_declined`, `fraud_suspected`, `provider_unavailable`, `voided`…).
    public var declineReason: String?
    /// Antifraud's verdict (`approve`, `review`, `deny`), once screened.
    public var fraudVerdict: String?
    /// What antifraud saw (`amount_over_limit`, `new_customer`…); absent for a caller who may not
    /// see the verdict (`visible(to:)`).
    public var fraudReasons: [String]?
    /// The provider's reference for the authorization.
    public var providerReference: String?
    public var refundedCents: Int64
    public var createdAt: Date
    public var updatedAt: Date
    /// Refunds, oldest first (filled in by reads that ask for them).
    public var refunds: [Refund]

    public init(
        id: String, orderID: String, customerID: String, amountCents: Int64, currency: String, paymentMethod: String?,
        state: PaymentState, declineReason: String? = nil, fraudVerdict: String? = nil, fraudReasons: [String]? = [],
        providerReference: String? = nil, refundedCents: Int64 = 0, createdAt: Date, updatedAt: Date, refunds: [Refund] = []
    ) {
        self.id = id
        self.orderID = orderID
        self.customerID = customerID
        self.amountCents = amountCents
        self.currency = currency
        self.paymentMethod = paymentMethod
        self.state = state
        self.declineReason = declineReason
        self.fraudVerdict = fraudVerdict
        self.fraudReasons = fraudReasons
        self.providerReference = providerReference
        self.refundedCents = refundedCents
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.refunds = refunds
    }

    enum CodingKeys: String, CodingKey {
        case id, currency, state, refunds
        case orderID = "order_id"
        case customerID = "customer_id"
        case amountCents = "amount_cents"
        case paymentMethod = "payment_method"
        case declineReason = "decline_reason"
        case fraudVerdict = "fraud_verdict"
        case fraudReasons = "fraud_reasons"
        case providerReference = "provider_reference"
        case refundedCents = "refunded_cents"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// Money given back from a captured payment.
public struct Refund: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        case pending, succeeded, failed
    }

    public var id: String
    public var paymentID: String
    public var amountCents: Int64
    public var reason: String
    public var state: State
    public var failureReason: String?
    /// Who asked (`admin:<subject>`).
    public var requestedBy: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, paymentID: String, amountCents: Int64, reason: String, state: State, failureReason: String? = nil,
        requestedBy: String, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.paymentID = paymentID
        self.amountCents = amountCents
        self.reason = reason
        self.state = state
        self.failureReason = failureReason
        self.requestedBy = requestedBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, reason, state
        case paymentID = "payment_id"
        case amountCents = "amount_cents"
        case failureReason = "failure_reason"
        case requestedBy = "requested_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// One line of a payment's audit trail (append-only).
public struct PaymentAuditEvent: Codable, Sendable, Hashable {
    public var id: String
    public var paymentID: String
    public var refundID: String?
    /// What happened: `created`, `screened`, `state_changed`, `provider_call`, `review_decided`,
    /// `refund_requested`, `webhook_received`, `command_received`.
    public var type: String
    /// `system`, `provider`, `admin:<subject>`.
    public var actor: String
    public var fromState: String?
    public var toState: String?
    public var detail: String
    public var at: Date

    public init(
        id: String, paymentID: String, refundID: String? = nil, type: String, actor: String, fromState: String? = nil,
        toState: String? = nil, detail: String, at: Date
    ) {
        self.id = id
        self.paymentID = paymentID
        self.refundID = refundID
        self.type = type
        self.actor = actor
        self.fromState = fromState
        self.toState = toState
        self.detail = detail
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case id, type, actor, detail, at
        case paymentID = "payment_id"
        case refundID = "refund_id"
        case fromState = "from_state"
        case toState = "to_state"
    }
}

/// Where to send the answer to a command: the command's id (the reply's cause), its correlation
/// and trace. Kept on the operation the command started (or joined) until the operation settles.
public struct ReplyAddress: Codable, Sendable, Hashable {
    public var messageID: String
    public var correlationID: String
    public var traceparent: String?

    public init(messageID: String, correlationID: String, traceparent: String?) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.traceparent = traceparent
    }

    enum CodingKeys: String, CodingKey {
        case traceparent
        case messageID = "message_id"
        case correlationID = "correlation_id"
    }
}

extension Payment {
    /// What `principal` may see of this payment: antifraud's verdict and reasons are the admins'
    /// (they would teach a fraudster which rule caught them); the customer sees the state and the
    /// decline reason.
    public func visible(to principal: Principal) -> Payment {
        guard !principal.isAdmin else { return self }
        var payment = self
        payment.fraudVerdict = nil
        payment.fraudReasons = nil
        return payment
    }
}
