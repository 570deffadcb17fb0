import MalhaStore

/// The orders service's schema: carts, orders, their saga (the state machine's state as JSON, with its
/// step and deadline as columns to query on), and every transition offered to it.
enum OrdersMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "orders and sagas") { _ in
            [
                """
                CREATE TABLE orders (
                    id TEXT PRIMARY KEY,
                    customer_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
                    currency TEXT NOT NULL,
                    lines TEXT NOT NULL,
                    cancel_reason TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX orders_by_customer ON orders (customer_id, created_at, id)",
                """
                CREATE TABLE order_sagas (
                    order_id TEXT PRIMARY KEY REFERENCES orders(id),
                    step TEXT NOT NULL,
                    state TEXT NOT NULL,
                    deadline BIGINT NOT NULL,
                    version BIGINT NOT NULL)
                """,
                "CREATE INDEX order_sagas_by_deadline ON order_sagas (deadline)",
                """
                CREATE TABLE saga_transitions (
                    order_id TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    input TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    step_after TEXT NOT NULL,
                    detail TEXT,
                    at BIGINT NOT NULL)
                """,
                "CREATE INDEX saga_transitions_by_order ON saga_transitions (order_id, at)",
            ]
        },
        Migration(version: 2, name: "carts") { _ in
            [
                // The price seen when the line was last set, so checkout can tell the customer
                // that a price changed instead of charging the new one silently.
                """
                CREATE TABLE cart_items (
                    customer_id TEXT NOT NULL,
                    product_id TEXT NOT NULL,
                    quantity INTEGER NOT NULL CHECK (quantity > 0),
                    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
                    currency TEXT NOT NULL,
                    name TEXT NOT NULL,
                    added_at BIGINT NOT NULL,
                    PRIMARY KEY (customer_id, product_id))
                """,
                // Newest first per customer and overall: order ids are UUIDv7, so id order is time order.
                "CREATE INDEX orders_by_customer_id ON orders (customer_id, id)",
            ]
        },
    ]
}
