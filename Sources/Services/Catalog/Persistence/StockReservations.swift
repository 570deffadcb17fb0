public import Foundation
import MalhaCore
public import SQLKit

/// Stock held for orders, driven by the order saga's commands. Every function runs inside the
/// caller's transaction (the consumer's, with its inbox record) and is idempotent per order.
///
/// Overselling is impossible by construction: a reservation is a conditional
/// `UPDATE … SET reserved = reserved + q WHERE on_hand - reserved >= q`, atomic on both engines
/// (SQLite's single writer; PostgreSQL's row lock, taken in product-id order so two orders never
/// deadlock), and the table's `CHECK (on_hand >= reserved)` backs it up.
public enum StockReservations {
    public enum ReserveOutcome: Sendable, Hashable {
        case reserved
        /// Nothing was reserved; these products are short (unknown, inactive or not enough), or
        /// the order was released before its reservation arrived (empty list).
        case unavailable([String])
    }

    public enum SettleOutcome: Sendable, Hashable {
        /// The state changed now.
        case applied
        /// It already had (a redelivered command).
        case duplicate
    }

    /// A command that contradicts what the order already did (commit after release). Permanent.
    public struct Conflict: Error, CustomStringConvertible {
        public var description: String
    }

    /// The products touched by `orderID`'s reservation (for cache invalidation after commit).
    public static func productIDs(orderID: String, in db: any SQLDatabase) async throws -> [String] {
        try await db.raw(
            "SELECT product_id FROM stock_reservation_lines WHERE order_id = \(bind: orderID) ORDER BY product_id"
        ).all().map { try $0.decode(column: "product_id", as: String.self) }
    }

    static func state(orderID: String, in db: any SQLDatabase) async throws -> (state: String, unavailable: [String])? {
        guard
            let row = try await db.raw(
                "SELECT state, unavailable FROM stock_reservations WHERE order_id = \(bind: orderID)"
            ).first()
        else { return nil }
        let unavailable = try JSONDecoder().decode(
            [String].self, from: Data(try row.decode(column: "unavailable", as: String.self).utf8))
        return (try row.decode(column: "state", as: String.self), unavailable)
    }

    /// Reserves every line or none.
    public static func reserve(
        orderID: String, lines: [(productID: String, quantity: Int)], now: Date, in db: any SQLDatabase
    ) async throws -> ReserveOutcome {
        if let existing = try await state(orderID: orderID, in: db) {
            switch existing.state {
            case "reserved", "committed": return .reserved
            default: return .unavailable(existing.unavailable)
            }
        }
        // One line per product, in id order (the lock order on PostgreSQL).
        var quantities: [String: Int] = [:]
        for line in lines { quantities[line.productID, default: 0] += line.quantity }
        let ordered = quantities.sorted { $0.key < $1.key }
        var unavailable: [String] = []
        var taken: [(String, Int)] = []
        for (productID, quantity) in ordered {
            guard quantity > 0 else {
                unavailable.append(productID)
                continue
            }
            let row = try await db.raw(
                """
                UPDATE products SET reserved = reserved + \(bind: quantity), updated_at = \(bind: now.epochMilliseconds)
                WHERE id = \(bind: productID) AND active AND on_hand - reserved >= \(bind: quantity)
                RETURNING id
                """
            ).first()
            if row == nil { unavailable.append(productID) } else { taken.append((productID, quantity)) }
        }
        if !unavailable.isEmpty {
            // All or nothing: give back what this order took a moment ago.
            for (productID, quantity) in taken {
                try await db.raw(
                    "UPDATE products SET reserved = reserved - \(bind: quantity) WHERE id = \(bind: productID)"
                ).run()
            }
        }
        let state = unavailable.isEmpty ? "reserved" : "failed"
        try await db.raw(
            """
            INSERT INTO stock_reservations (order_id, state, unavailable, created_at, updated_at)
            VALUES (\(bind: orderID), \(bind: state), \(bind: json(unavailable)), \(bind: now.epochMilliseconds),
                \(bind: now.epochMilliseconds))
            """
        ).run()
        if unavailable.isEmpty {
            for (productID, quantity) in taken {
                try await db.raw(
                    """
                    INSERT INTO stock_reservation_lines (order_id, product_id, quantity)
                    VALUES (\(bind: orderID), \(bind: productID), \(bind: quantity))
                    """
                ).run()
            }
            return .reserved
        }
        return .unavailable(unavailable)
    }

    /// Gives back what `orderID` holds. Releasing an order that holds nothing succeeds (and refuses
    /// a reservation that arrives later).
    public static func release(orderID: String, now: Date, in db: any SQLDatabase) async throws -> SettleOutcome {
        guard let existing = try await state(orderID: orderID, in: db) else {
            try await db.raw(
                """
                INSERT INTO stock_reservations (order_id, state, unavailable, created_at, updated_at)
                VALUES (\(bind: orderID), 'released', '[]', \(bind: now.epochMilliseconds), \(bind: now.epochMilliseconds))
                """
            ).run()
            return .applied
        }
        switch existing.state {
        case "reserved":
            for (productID, quantity) in try await lines(orderID: orderID, in: db) {
                try await db.raw(
                    """
                    UPDATE products SET reserved = reserved - \(bind: quantity), updated_at = \(bind: now.epochMilliseconds)
                    WHERE id = \(bind: productID)
                    """
                ).run()
            }
            try await setState("released", orderID: orderID, now: now, in: db)
            return .applied
        case "committed":
            throw Conflict(description: "order \(orderID) was committed; its stock cannot be released")
        default:
            return .duplicate
        }
    }

    /// Turns the reservation into a sale: the units leave on hand, with a stock movement each.
    public static func commit(orderID: String, now: Date, in db: any SQLDatabase) async throws -> SettleOutcome {
        guard let existing = try await state(orderID: orderID, in: db) else {
            throw Conflict(description: "order \(orderID) has no reservation to commit")
        }
        switch existing.state {
        case "committed":
            return .duplicate
        case "reserved":
            for (productID, quantity) in try await lines(orderID: orderID, in: db) {
                let row = try await db.raw(
                    """
                    UPDATE products SET on_hand = on_hand - \(bind: quantity), reserved = reserved - \(bind: quantity),
                        updated_at = \(bind: now.epochMilliseconds)
                    WHERE id = \(bind: productID) RETURNING on_hand
                    """
                ).first()
                let onHand = try row?.decode(column: "on_hand", as: Int.self) ?? 0
                try await CatalogRepository.insertMovement(
                    StockMovement(
                        id: UUID.v7(at: now).lowercased, productID: productID, delta: -quantity, reason: "order \(orderID)",
                        onHandAfter: onHand, actor: "orders-saga", createdAt: now),
                    into: db)
            }
            try await setState("committed", orderID: orderID, now: now, in: db)
            return .applied
        default:
            throw Conflict(description: "order \(orderID) was \(existing.state); it cannot be committed")
        }
    }

    static func lines(orderID: String, in db: any SQLDatabase) async throws -> [(String, Int)] {
        try await db.raw(
            "SELECT product_id, quantity FROM stock_reservation_lines WHERE order_id = \(bind: orderID) ORDER BY product_id"
        ).all().map { (try $0.decode(column: "product_id", as: String.self), try $0.decode(column: "quantity", as: Int.self)) }
    }

    static func setState(_ state: String, orderID: String, now: Date, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE stock_reservations SET state = \(bind: state), updated_at = \(bind: now.epochMilliseconds)
            WHERE order_id = \(bind: orderID)
            """
        ).run()
    }

    static func json(_ ids: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(ids)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
