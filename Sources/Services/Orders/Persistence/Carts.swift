public import Foundation
import MalhaCore
public import SQLKit

/// One line of a customer's cart, with the price the customer saw when they set it.
public struct CartItem: Codable, Sendable, Hashable {
    public var productID: String
    public var name: String
    public var quantity: Int
    public var unitPriceCents: Int64
    public var currency: String
    public var addedAt: Date

    public init(productID: String, name: String, quantity: Int, unitPriceCents: Int64, currency: String, addedAt: Date) {
        self.productID = productID
        self.name = name
        self.quantity = quantity
        self.unitPriceCents = unitPriceCents
        self.currency = currency
        self.addedAt = addedAt
    }
}

/// Carts live in the orders database, one row per (customer, product).
public enum Carts {
    public static func items(customerID: String, in db: any SQLDatabase) async throws -> [CartItem] {
        try await db.raw(
            """
            SELECT product_id, name, quantity, unit_price_cents, currency, added_at FROM cart_items
            WHERE customer_id = \(bind: customerID) ORDER BY added_at, product_id
            """
        ).all().map { row in
            CartItem(
                productID: try row.decode(column: "product_id", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                quantity: try row.decode(column: "quantity", as: Int.self),
                unitPriceCents: try row.decode(column: "unit_price_cents", as: Int64.self),
                currency: try row.decode(column: "currency", as: String.self),
                addedAt: Date(epochMilliseconds: try row.decode(column: "added_at", as: Int64.self)))
        }
    }

    /// Sets the line for `item.productID` (inserting it or replacing quantity and price seen).
    public static func put(_ item: CartItem, customerID: String, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO cart_items (customer_id, product_id, quantity, unit_price_cents, currency, name, added_at)
            VALUES (\(bind: customerID), \(bind: item.productID), \(bind: item.quantity), \(bind: item.unitPriceCents),
                \(bind: item.currency), \(bind: item.name), \(bind: item.addedAt.epochMilliseconds))
            ON CONFLICT (customer_id, product_id) DO UPDATE SET quantity = excluded.quantity,
                unit_price_cents = excluded.unit_price_cents, currency = excluded.currency, name = excluded.name
            """
        ).run()
    }

    /// Removes the given products' lines (all lines when `productIDs` is nil); returns how many.
    @discardableResult
    public static func remove(customerID: String, productIDs: [String]? = nil, in db: any SQLDatabase) async throws -> Int {
        if let productIDs {
            guard !productIDs.isEmpty else { return 0 }
            return try await db.raw(
                """
                DELETE FROM cart_items WHERE customer_id = \(bind: customerID)
                AND product_id IN (\(binds: productIDs)) RETURNING product_id
                """
            ).all().count
        }
        return try await db.raw("DELETE FROM cart_items WHERE customer_id = \(bind: customerID) RETURNING product_id")
            .all().count
    }
}
