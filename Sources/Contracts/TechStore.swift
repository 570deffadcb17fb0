public import MalhaMessaging

// Every event and command of the TechStore checkout, with explicit wire names. The only domain
// code services share: a service imports Contracts, never another service. A breaking change is a
// new type (`.v2`) published alongside the old one until its consumers move.
//
// Amounts are integer minor units (`amount_cents`) with an ISO 4217 currency, end to end.

/// One line of an order as the saga's participants see it.
public struct OrderLine: Codable, Sendable, Hashable {
    public var productID: String
    public var quantity: Int
    public var unitPriceCents: Int64

    public init(productID: String, quantity: Int, unitPriceCents: Int64) {
        self.productID = productID
        self.quantity = quantity
        self.unitPriceCents = unitPriceCents
    }

    enum CodingKeys: String, CodingKey {
        case quantity
        case productID = "product_id"
        case unitPriceCents = "unit_price_cents"
    }
}

// MARK: Orders (events)

public struct OrderPlaced: MessageContract, Hashable {
    public static let type = "orders.order-placed.v1"
    public var orderID: String
    public var customerID: String
    public var lines: [OrderLine]
    public var totalCents: Int64
    public var currency: String

    public init(orderID: String, customerID: String, lines: [OrderLine], totalCents: Int64, currency: String) {
        self.orderID = orderID
        self.customerID = customerID
        self.lines = lines
        self.totalCents = totalCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case lines, currency
        case orderID = "order_id"
        case customerID = "customer_id"
        case totalCents = "total_cents"
    }
}

public struct OrderConfirmed: MessageContract, Hashable {
    public static let type = "orders.order-confirmed.v1"
    public var orderID: String
    public var customerID: String
    public var totalCents: Int64
    public var currency: String

    public init(orderID: String, customerID: String, totalCents: Int64, currency: String) {
        self.orderID = orderID
        self.customerID = customerID
        self.totalCents = totalCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case orderID = "order_id"
        case customerID = "customer_id"
        case totalCents = "total_cents"
    }
}

public struct OrderCancelled: MessageContract, Hashable {
    public static let type = "orders.order-cancelled.v1"
    public var orderID: String
    public var customerID: String
    /// `out_of_stock`, `payment_declined`, `timeout`, `customer_request`.
    public var reason: String

    public init(orderID: String, customerID: String, reason: String) {
        self.orderID = orderID
        self.customerID = customerID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case reason
        case orderID = "order_id"
        case customerID = "customer_id"
    }
}

// MARK: Catalog (commands and replies)

public struct ReserveStock: MessageContract, Hashable {
    public static let type = "catalog.reserve-stock.v1"
    public var orderID: String
    public var lines: [OrderLine]

    public init(orderID: String, lines: [OrderLine]) {
        self.orderID = orderID
        self.lines = lines
    }

    enum CodingKeys: String, CodingKey {
        case lines
        case orderID = "order_id"
    }
}

/// Releases an order's reservation (a compensation; releasing nothing is a success).
public struct ReleaseStock: MessageContract, Hashable {
    public static let type = "catalog.release-stock.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

/// Turns an order's reservation into a sale (stock leaves on hand).
public struct CommitStock: MessageContract, Hashable {
    public static let type = "catalog.commit-stock.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

public struct StockReserved: MessageContract, Hashable {
    public static let type = "catalog.stock-reserved.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

public struct StockReservationFailed: MessageContract, Hashable {
    public static let type = "catalog.stock-reservation-failed.v1"
    public var orderID: String
    /// Products short of stock (or unknown, or inactive).
    public var unavailableProductIDs: [String]

    public init(orderID: String, unavailableProductIDs: [String]) {
        self.orderID = orderID
        self.unavailableProductIDs = unavailableProductIDs
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id"
        case unavailableProductIDs = "unavailable_product_ids"
    }
}

public struct StockReleased: MessageContract, Hashable {
    public static let type = "catalog.stock-released.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

public struct StockCommitted: MessageContract, Hashable {
    public static let type = "catalog.stock-committed.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

// MARK: Payments (commands and replies)

public struct AuthorizePayment: MessageContract, Hashable {
    public static let type = "payments.authorize-payment.v1"
    public var orderID: String
    public var customerID: String
    public var amountCents: Int64
    public var currency: String
    /// The customer's payment method as the provider knows it (a token such as `pm_card_ok`);
    /// absent → the provider's default for the customer. Added after v1 shipped: optional, so
    /// older publishers and consumers keep working.
    public var paymentMethod: String?

    public init(orderID: String, customerID: String, amountCents: Int64, currency: String, paymentMethod: String? = nil) {
        self.orderID = orderID
        self.customerID = customerID
        self.amountCents = amountCents
        self.currency = currency
        self.paymentMethod = paymentMethod
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case orderID = "order_id"
        case customerID = "customer_id"
        case amountCents = "amount_cents"
        case paymentMethod = "payment_method"
    }
}

/// Captures the order's authorized payment.
public struct CapturePayment: MessageContract, Hashable {
    public static let type = "payments.capture-payment.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

/// Voids the order's payment if one was authorized (a compensation; voiding nothing is a success).
public struct VoidPayment: MessageContract, Hashable {
    public static let type = "payments.void-payment.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

public struct PaymentAuthorized: MessageContract, Hashable {
    public static let type = "payments.payment-authorized.v1"
    public var orderID: String
    public var paymentID: String

    public init(orderID: String, paymentID: String) {
        self.orderID = orderID
        self.paymentID = paymentID
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id"
        case paymentID = "payment_id"
    }
}

public struct PaymentDeclined: MessageContract, Hashable {
    public static let type = "payments.payment-declined.v1"
    public var orderID: String
    /// `insufficient_funds`, `fraud_suspected`, `provider_unavailable`, …
    public var reason: String

    public init(orderID: String, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case reason
        case orderID = "order_id"
    }
}

/// Money was taken: orders confirms the order on it. Critical, so signed by payments.
public struct PaymentCaptured: SignedMessageContract, Hashable {
    public static let type = "payments.payment-captured.v1"
    public var orderID: String
    public var paymentID: String

    public init(orderID: String, paymentID: String) {
        self.orderID = orderID
        self.paymentID = paymentID
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id"
        case paymentID = "payment_id"
    }
}

public struct PaymentVoided: MessageContract, Hashable {
    public static let type = "payments.payment-voided.v1"
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
    enum CodingKeys: String, CodingKey { case orderID = "order_id" }
}

/// Money went back to the customer (part or all of a captured payment). Critical, so signed by
/// payments.
public struct PaymentRefunded: SignedMessageContract, Hashable {
    public static let type = "payments.payment-refunded.v1"
    public var orderID: String
    public var paymentID: String
    public var customerID: String
    public var refundID: String
    public var amountCents: Int64
    public var currency: String

    public init(
        orderID: String, paymentID: String, customerID: String, refundID: String, amountCents: Int64, currency: String
    ) {
        self.orderID = orderID
        self.paymentID = paymentID
        self.customerID = customerID
        self.refundID = refundID
        self.amountCents = amountCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case orderID = "order_id"
        case paymentID = "payment_id"
        case customerID = "customer_id"
        case refundID = "refund_id"
        case amountCents = "amount_cents"
    }
}
