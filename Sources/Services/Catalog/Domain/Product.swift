import Foundation

/// Units a product has in the warehouse: `on_hand` counts everything, `reserved` is held for
/// orders not yet shipped, `available` is what can still be sold.
public struct StockLevel: Codable, Sendable, Hashable {
    public var onHand: Int
    public var reserved: Int
    public var available: Int { max(0, onHand - reserved) }

    public init(onHand: Int, reserved: Int) {
        self.onHand = onHand
        self.reserved = reserved
    }

    enum CodingKeys: String, CodingKey {
        case onHand = "on_hand", reserved, available
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        onHand = try container.decode(Int.self, forKey: .onHand)
        reserved = try container.decode(Int.self, forKey: .reserved)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(onHand, forKey: .onHand)
        try container.encode(reserved, forKey: .reserved)
        try container.encode(available, forKey: .available)
    }
}

/// A TechStore product as the catalog stores and serves it.
public struct Product: Codable, Sendable, Hashable {
    public var id: String
    public var sku: String
    public var name: String
    public var description: String
    public var categoryID: String?
    public var priceCents: Int
    public var currency: String
    public var attributes: [String: String]
    public var images: [String]
    public var active: Bool
    public var stock: StockLevel
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, sku: String, name: String, description: String, categoryID: String?, priceCents: Int,
        currency: String, attributes: [String: String], images: [String], active: Bool, stock: StockLevel,
        createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.sku = sku
        self.name = name
        self.description = description
        self.categoryID = categoryID
        self.priceCents = priceCents
        self.currency = currency
        self.attributes = attributes
        self.images = images
        self.active = active
        self.stock = stock
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, sku, name, description
        case categoryID = "category_id"
        case priceCents = "price_cents"
        case currency, attributes, images, active, stock
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// The text searched by `q`: name and description, lowercased once at write time so that
    /// both SQLite and PostgreSQL can match with a plain `LIKE` (PostgreSQL's is case-sensitive).
    public var searchText: String { (name + "\n" + description).lowercased() }
}

/// The fields an administrator writes when creating or replacing a product (stock excluded:
/// it changes only through stock adjustments, which leave a movement behind).
public struct ProductDraft: Sendable, Hashable {
    public var sku: String
    public var name: String
    public var description: String
    public var categoryID: String?
    public var priceCents: Int
    public var currency: String
    public var attributes: [String: String]
    public var images: [String]
    public var active: Bool

    public init(
        sku: String, name: String, description: String = "", categoryID: String? = nil, priceCents: Int,
        currency: String = ProductRules.defaultCurrency, attributes: [String: String] = [:], images: [String] = [],
        active: Bool = true
    ) {
        self.sku = sku
        self.name = name
        self.description = description
        self.categoryID = categoryID
        self.priceCents = priceCents
        self.currency = currency
        self.attributes = attributes
        self.images = images
        self.active = active
    }
}

/// A product category.
public struct Category: Codable, Sendable, Hashable {
    public var id: String
    public var slug: String
    public var name: String
    public var createdAt: Date

    public init(id: String, slug: String, name: String, createdAt: Date) {
        self.id = id
        self.slug = slug
        self.name = name
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, slug, name
        case createdAt = "created_at"
    }
}

/// One change of a product's on-hand stock, kept forever as the audit trail of the warehouse.
public struct StockMovement: Codable, Sendable, Hashable {
    public var id: String
    public var productID: String
    public var delta: Int
    public var reason: String
    public var onHandAfter: Int
    public var actor: String
    public var createdAt: Date

    public init(
        id: String, productID: String, delta: Int, reason: String, onHandAfter: Int, actor: String, createdAt: Date
    ) {
        self.id = id
        self.productID = productID
        self.delta = delta
        self.reason = reason
        self.onHandAfter = onHandAfter
        self.actor = actor
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case productID = "product_id"
        case delta, reason
        case onHandAfter = "on_hand_after"
        case actor
        case createdAt = "created_at"
    }
}

/// Domain failures the HTTP layer turns into problems.
public enum CatalogError: Error, Sendable, Equatable {
    case productNotFound
    case skuTaken(String)
    case slugTaken(String)
    case unknownCategory(String)
    case insufficientStock(onHand: Int, reserved: Int, delta: Int)
}
