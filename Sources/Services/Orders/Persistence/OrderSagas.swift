public import Contracts
public import Foundation
import MalhaCore
public import MalhaMessaging
import MalhaStore
public import SQLKit

/// An order as its customer sees it.
public struct Order: Codable, Sendable, Hashable {
    public var id: String
    public var customerID: String
    public var status: OrderStatus
    public var totalCents: Int64
    public var currency: String
    public var lines: [OrderLine]
    public var cancelReason: CancelReason?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, status, currency, lines
        case customerID = "customer_id"
        case totalCents = "total_cents"
        case cancelReason = "cancel_reason"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// The orders database's side of the saga: creating an order with its saga, offering inputs to
/// it, and finding the ones whose step timed out. Every function runs in the caller's transaction,
/// so the new state, the transition record and the commands it sends (through the outbox) commit
/// together.
public enum OrderSagas {
    public static let source = "orders"

    /// Creates the order and its saga and sends the first command (and `OrderPlaced`).
    public static func place(
        orderID: String, customerID: String, lines: [OrderLine], currency: String, paymentMethod: String? = nil, now: Date,
        stepTimeout: Duration, in db: any SQLDatabase
    ) async throws -> Order {
        let total = lines.reduce(Int64(0)) { $0 + Int64($1.quantity) * $1.unitPriceCents }
        let order = Order(
            id: orderID, customerID: customerID, status: SagaStep.reservingStock.orderStatus, totalCents: total,
            currency: currency, lines: lines, cancelReason: nil, createdAt: now, updatedAt: now)
        try await db.raw(
            """
            INSERT INTO orders (id, customer_id, status, total_cents, currency, lines, cancel_reason, created_at, updated_at)
            VALUES (\(bind: order.id), \(bind: customerID), \(bind: order.status), \(bind: total), \(bind: currency),
                \(bind: try json(lines)), NULL, \(bind: now.epochMilliseconds), \(bind: now.epochMilliseconds))
            """
        ).run()
        let (saga, commands) = OrderSaga.start(
            orderID: orderID, customerID: customerID, lines: lines, totalCents: total, currency: currency,
            paymentMethod: paymentMethod, now: now, stepTimeout: stepTimeout)
        try await db.raw(
            """
            INSERT INTO order_sagas (order_id, step, state, deadline, version)
            VALUES (\(bind: orderID), \(bind: saga.step.rawValue), \(bind: try json(saga)),
                \(bind: saga.deadline.epochMilliseconds), 1)
            """
        ).run()
        let placed = try Envelope(
            OrderPlaced(orderID: orderID, customerID: customerID, lines: lines, totalCents: total, currency: currency),
            source: source, at: now, key: orderID, correlationID: orderID)
        try await Outbox.enqueue([placed] + envelopes(for: commands, of: saga, causedBy: placed, now: now), in: db)
        return order
    }

    /// Offers `input` (carried by message `messageID`, or a timeout) to the order's saga. Applied
    /// transitions are persisted and their commands sent; every outcome is recorded.
    public static func offer(
        _ input: SagaInput, orderID: String, messageID: String, causedBy cause: Envelope?, now: Date, stepTimeout: Duration,
        in db: any SQLDatabase
    ) async throws -> SagaTransition {
        let lock = RowLock.forUpdate.clause(in: db)
        guard
            let row = try await db.raw(
                "SELECT state, version FROM order_sagas WHERE order_id = \(bind: orderID)\(unsafeRaw: lock)"
            ).first()
        else {
            throw InvalidMessage("no saga for order \(orderID)")
        }
        let saga = try MessageCoding.decoder.decode(
            OrderSaga.self, from: Data(try row.decode(column: "state", as: String.self).utf8))
        let version = try row.decode(column: "version", as: Int64.self)
        let transition = saga.apply(input, now: now, stepTimeout: stepTimeout)
        let outcome: String
        var detail: String?
        var stepAfter = saga.step
        switch transition {
        case .applied(let next, let commands):
            outcome = "applied"
            stepAfter = next.step
            let updated = try await db.raw(
                """
                UPDATE order_sagas SET step = \(bind: next.step.rawValue), state = \(bind: try json(next)),
                    deadline = \(bind: next.deadline.epochMilliseconds), version = \(bind: version + 1)
                WHERE order_id = \(bind: orderID) AND version = \(bind: version) RETURNING order_id
                """
            ).all()
            guard !updated.isEmpty else { throw ConcurrentSagaUpdate(orderID: orderID) }
            try await db.raw(
                """
                UPDATE orders SET status = \(bind: next.step.orderStatus), cancel_reason = \(bind: next.cancelReason),
                    updated_at = \(bind: now.epochMilliseconds)
                WHERE id = \(bind: orderID)
                """
            ).run()
            try await Outbox.enqueue(try envelopes(for: commands, of: next, causedBy: cause, now: now), in: db)
        case .duplicate:
            outcome = "duplicate"
        case .rejected(let reason):
            outcome = "rejected"
            detail = reason
        }
        try await db.raw(
            """
            INSERT INTO saga_transitions (order_id, message_id, input, outcome, step_after, detail, at)
            VALUES (\(bind: orderID), \(bind: messageID), \(bind: "\(input)"), \(bind: outcome), \(bind: stepAfter.rawValue),
                \(bind: detail), \(bind: now.epochMilliseconds))
            """
        ).run()
        return transition
    }

    /// Sagas whose step deadline has passed (oldest first), with the step the deadline was set for.
    public static func due(now: Date, limit: Int, in db: any SQLDatabase) async throws -> [(orderID: String, step: SagaStep)] {
        try await db.raw(
            """
            SELECT order_id, step FROM order_sagas
            WHERE deadline <= \(bind: now.epochMilliseconds) AND step NOT IN ('confirmed', 'cancelled')
            ORDER BY deadline LIMIT \(bind: limit)
            """
        ).all().compactMap { row in
            guard let step = SagaStep(rawValue: try row.decode(column: "step", as: String.self)) else { return nil }
            return (try row.decode(column: "order_id", as: String.self), step)
        }
    }

    static let orderColumns = "id, customer_id, status, total_cents, currency, lines, cancel_reason, created_at, updated_at"

    public static func order(id: String, in db: any SQLDatabase) async throws -> Order? {
        try await db.raw("SELECT \(unsafeRaw: orderColumns) FROM orders WHERE id = \(bind: id)").first().map(order(from:))
    }

    /// Orders newest first: one customer's, or everyone's when `customerID` is nil; `before` is the
    /// last id of the previous page (ids are UUIDv7, so id order is creation order).
    public static func orders(
        customerID: String?, before: String?, limit: Int, in db: any SQLDatabase
    ) async throws -> [Order] {
        var conditions: [SQLQueryString] = []
        if let customerID { conditions.append("customer_id = \(bind: customerID)") }
        if let before { conditions.append("id < \(bind: before)") }
        let filter: SQLQueryString =
            conditions.isEmpty ? "" : " WHERE " + conditions.dropFirst().reduce(conditions[0]) { $0 + " AND " + $1 }
        return try await db.raw(
            "SELECT \(unsafeRaw: orderColumns) FROM orders\(filter) ORDER BY id DESC LIMIT \(bind: limit)"
        ).all().map(order(from:))
    }

    /// Every input offered to the order's saga, oldest first.
    public static func transitions(orderID: String, in db: any SQLDatabase) async throws -> [RecordedTransition] {
        try await db.raw(
            """
            SELECT message_id, input, outcome, step_after, detail, at FROM saga_transitions
            WHERE order_id = \(bind: orderID) ORDER BY at, message_id
            """
        ).all().map { row in
            RecordedTransition(
                messageID: try row.decode(column: "message_id", as: String.self),
                input: try row.decode(column: "input", as: String.self),
                outcome: try row.decode(column: "outcome", as: String.self),
                stepAfter: try row.decode(column: "step_after", as: String.self),
                detail: try row.decode(column: "detail", as: String?.self),
                at: Date(epochMilliseconds: try row.decode(column: "at", as: Int64.self)))
        }
    }

    static func order(from row: any SQLRow) throws -> Order {
        Order(
            id: try row.decode(column: "id", as: String.self),
            customerID: try row.decode(column: "customer_id", as: String.self),
            status: try row.decode(column: "status", as: OrderStatus.self),
            totalCents: try row.decode(column: "total_cents", as: Int64.self),
            currency: try row.decode(column: "currency", as: String.self),
            lines: try MessageCoding.decoder.decode(
                [OrderLine].self, from: Data(try row.decode(column: "lines", as: String.self).utf8)),
            cancelReason: try row.decode(column: "cancel_reason", as: CancelReason?.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Date(epochMilliseconds: try row.decode(column: "updated_at", as: Int64.self)))
    }

    /// The messages that carry `commands`: keyed and correlated by the order, caused by `cause`.
    static func envelopes(
        for commands: [SagaCommand], of saga: OrderSaga, causedBy cause: Envelope?, now: Date
    ) throws -> [Envelope] {
        try commands.map { command in
            func envelope(_ message: some MessageContract) throws -> Envelope {
                try Envelope(
                    message, source: source, at: now, key: saga.orderID, correlationID: saga.orderID, causationID: cause?.id,
                    traceparent: cause?.traceparent)
            }
            switch command {
            case .reserveStock: return try envelope(ReserveStock(orderID: saga.orderID, lines: saga.lines))
            case .releaseStock: return try envelope(ReleaseStock(orderID: saga.orderID))
            case .commitStock: return try envelope(CommitStock(orderID: saga.orderID))
            case .authorizePayment:
                return try envelope(
                    AuthorizePayment(
                        orderID: saga.orderID, customerID: saga.customerID, amountCents: saga.totalCents, currency: saga.currency,
                        paymentMethod: saga.paymentMethod))
            case .capturePayment: return try envelope(CapturePayment(orderID: saga.orderID))
            case .voidPayment: return try envelope(VoidPayment(orderID: saga.orderID))
            case .publishConfirmed:
                return try envelope(
                    OrderConfirmed(
                        orderID: saga.orderID, customerID: saga.customerID, totalCents: saga.totalCents, currency: saga.currency))
            case .publishCancelled(let reason):
                return try envelope(OrderCancelled(orderID: saga.orderID, customerID: saga.customerID, reason: reason.rawValue))
            }
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try MessageCoding.encoder.encode(value), as: UTF8.self)
    }
}

/// One input offered to a saga and what became of it (`applied`, `duplicate`, `rejected`).
public struct RecordedTransition: Codable, Sendable, Hashable {
    public var messageID: String
    public var input: String
    public var outcome: String
    public var stepAfter: String
    public var detail: String?
    public var at: Date

    enum CodingKeys: String, CodingKey {
        case input, outcome, detail, at
        case messageID = "message_id"
        case stepAfter = "step_after"
    }
}

/// Two writers raced on one saga (the version moved under us): transient, the message is retried.
public struct ConcurrentSagaUpdate: Error, CustomStringConvertible {
    public var orderID: String
    public var description: String { "the saga of order \(orderID) changed concurrently" }
}
