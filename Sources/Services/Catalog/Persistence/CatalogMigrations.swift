import MalhaStore

/// The catalog's schema. Portable SQL: TEXT ids, BIGINT epoch-ms timestamps and cents,
/// BOOLEAN, JSON in TEXT. `search_text` is the lowercased name and description (see `Product.searchText`).
enum CatalogMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "catalog") { _ in
            [
                """
                CREATE TABLE categories (
                    id TEXT PRIMARY KEY,
                    slug TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE products (
                    id TEXT PRIMARY KEY,
                    sku TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    search_text TEXT NOT NULL,
                    category_id TEXT REFERENCES categories(id),
                    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
                    currency TEXT NOT NULL,
                    attributes TEXT NOT NULL,
                    images TEXT NOT NULL,
                    active BOOLEAN NOT NULL,
                    on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
                    reserved BIGINT NOT NULL CHECK (reserved >= 0),
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    CHECK (on_hand >= reserved))
                """,
                "CREATE INDEX products_by_name ON products (active, name, id)",
                "CREATE INDEX products_by_price ON products (active, price_cents, id)",
                "CREATE INDEX products_by_created ON products (active, created_at, id)",
                "CREATE INDEX products_by_category ON products (category_id)",
                """
                CREATE TABLE stock_movements (
                    id TEXT PRIMARY KEY,
                    product_id TEXT NOT NULL REFERENCES products(id),
                    delta BIGINT NOT NULL,
                    reason TEXT NOT NULL,
                    on_hand_after BIGINT NOT NULL,
                    actor TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX stock_movements_by_product ON stock_movements (product_id, created_at)",
            ]
        },
        Migration(version: 2, name: "stock reservations") { _ in
            [
                // One row per order the saga asked about; `state` is reserved | failed | released |
                // committed. A release that arrives before its reservation leaves a `released` row, so
                // the late reservation is refused instead of holding stock for a cancelled order.
                """
                CREATE TABLE stock_reservations (
                    order_id TEXT PRIMARY KEY,
                    state TEXT NOT NULL,
                    unavailable TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE stock_reservation_lines (
                    order_id TEXT NOT NULL REFERENCES stock_reservations(order_id),
                    product_id TEXT NOT NULL REFERENCES products(id),
                    quantity BIGINT NOT NULL CHECK (quantity > 0),
                    PRIMARY KEY (order_id, product_id))
                """,
            ]
        },
    ]
}
