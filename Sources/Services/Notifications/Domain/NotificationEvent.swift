import Contracts
public import MalhaMessaging

/// A business event the customer is told about, reduced to what the templates need: who, which
/// template, and the values a template may use (`{{total}}`, `{{reason_text}}`, …). Pure: built
/// from the contracts, no I/O.
public struct NotificationEvent: Sendable, Hashable {
    /// The template family; its raw value is the first part of a template's file name.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case orderPlaced = "order-placed"
        case orderConfirmed = "order-confirmed"
        case orderCancelled = "order-cancelled"
        case paymentRefunded = "payment-refunded"
        /// About the account rather than an order (`order_id` is empty).
        case rolesChanged = "roles-changed"
    }

    /// The longest customer or order id accepted (longer ones are invalid messages).
    public static let maxIDLength = 200

    public var kind: Kind
    /// The envelope id: one event makes at most one notification per channel.
    public var eventID: String
    /// The wire type, e.g. `orders.order-cancelled.v1`.
    public var eventType: String
    /// The user id, which is also the access token's subject.
    public var customerID: String
    /// Empty for an account event (`roles-changed`).
    public var orderID: String
    /// Template variables. Every event has `brand` and `order_id`; see `init(envelope:)` for the rest.
    public var values: [String: String]

    /// The message types this service turns into notifications.
    public static let handledTypes: Set<String> = [
        OrderPlaced.type, OrderConfirmed.type, OrderCancelled.type, PaymentRefunded.type, RolesChanged.type,
    ]

    public init(kind: Kind, eventID: String, eventType: String, customerID: String, orderID: String, values: [String: String]) {
        self.kind = kind
        self.eventID = eventID
        self.eventType = eventType
        self.customerID = customerID
        self.orderID = orderID
        self.values = values.merging(["brand": "TechStore", "order_id": orderID]) { _, fixed in fixed }
    }

    /// Reads an envelope. Template values per event:
    /// - order-placed: `total`, `item_count`, `items_text` ("1 item", "3 itens");
    /// - order-confirmed: `total`;
    /// - order-cancelled: `reason` (the code) and `reason_text` (a sentence, `CancellationReason`);
    /// - payment-refunded: `amount`, `refund_id`, `payment_id`;
    /// - roles-changed: `roles` (comma-separated), `changed_by`.
    ///
    /// Throws a permanent error (the message goes to the dead letters) when the payload does not
    /// decode, the type is not one of `handledTypes`, or an id is empty or too long.
    public init(envelope: Envelope) throws {
        let (id, type) = (envelope.id, envelope.type)
        switch type {
        case OrderPlaced.type:
            let event = try envelope.decode(OrderPlaced.self)
            let items = event.lines.reduce(0) { $0 + max(0, $1.quantity) }
            self.init(
                kind: .orderPlaced, eventID: id, eventType: type, customerID: event.customerID, orderID: event.orderID,
                values: [
                    "total": MoneyFormat.format(minorUnits: event.totalCents, currency: event.currency),
                    "item_count": String(items), "items_text": items == 1 ? "1 item" : "\(items) itens",
                ])
        case OrderConfirmed.type:
            let event = try envelope.decode(OrderConfirmed.self)
            self.init(
                kind: .orderConfirmed, eventID: id, eventType: type, customerID: event.customerID, orderID: event.orderID,
                values: ["total": MoneyFormat.format(minorUnits: event.totalCents, currency: event.currency)])
        case OrderCancelled.type:
            let event = try envelope.decode(OrderCancelled.self)
            self.init(
                kind: .orderCancelled, eventID: id, eventType: type, customerID: event.customerID, orderID: event.orderID,
                values: ["reason": event.reason, "reason_text": CancellationReason.sentence(for: event.reason)])
        case PaymentRefunded.type:
            let event = try envelope.decode(PaymentRefunded.self)
            self.init(
                kind: .paymentRefunded, eventID: id, eventType: type, customerID: event.customerID, orderID: event.orderID,
                values: [
                    "amount": MoneyFormat.format(minorUnits: event.amountCents, currency: event.currency),
                    "refund_id": event.refundID, "payment_id": event.paymentID,
                ])
        case RolesChanged.type:
            let event = try envelope.decode(RolesChanged.self)
            self.init(
                kind: .rolesChanged, eventID: id, eventType: type, customerID: event.userID, orderID: "",
                values: ["roles": event.roles.joined(separator: ", "), "changed_by": event.changedBy])
        default:
            throw InvalidMessage("notifications do not handle \(type)")
        }
        let ids = kind == .rolesChanged ? [("user_id", customerID)] : [("customer_id", customerID), ("order_id", orderID)]
        for (field, value) in ids where value.isEmpty || value.count > Self.maxIDLength {
            throw InvalidMessage("\(type) \(id): \(field) must be 1 to \(Self.maxIDLength) characters")
        }
    }
}

/// Why an order was cancelled, told as a customer reads it.
public enum CancellationReason {
    /// One sentence (capitalised, with its full stop) per reason code of `OrderCancelled`; an
    /// unknown code gets a neutral sentence rather than the code itself.
    public static func sentence(for reason: String) -> String {
        switch reason {
        case "out_of_stock": "Um ou mais produtos do pedido ficaram sem estoque."
        case "payment_declined": "O pagamento não foi aprovado."
        case "timeout": "Não conseguimos concluir o pedido a tempo."
        case "customer_request": "O cancelamento foi solicitado por você."
        default: "Não foi possível concluir o pedido."
        }
    }
}
