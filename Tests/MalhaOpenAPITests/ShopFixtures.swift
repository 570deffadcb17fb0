import Foundation
import MalhaOpenAPI

// Copies of Malha's orders and catalog wire types (Sources/Services/Orders/HTTP,
// Sources/Services/Catalog/HTTP), decoders unchanged.

/// `POST /v1/cart/items`.
struct AddCartItemRequest: Codable, Sendable {
    var productID: String
    var quantity: Int

    enum CodingKeys: String, CodingKey {
        case quantity
        case productID = "product_id"
    }
}

/// `POST /v1/orders`: check out the cart. Every field is optional, and so is the body.
struct CheckoutRequest: Codable, Sendable, Hashable {
    var paymentMethod: String?

    enum CodingKeys: String, CodingKey {
        case paymentMethod = "payment_method"
    }
}

/// The cart as the customer sees it. (In Malha it is encode-only; a synthesized `Decodable` is
/// what lets the schema be derived from it.)
struct CartView: Codable, Sendable {
    struct Line: Codable, Sendable {
        var productID: String
        var name: String
        var quantity: Int
        var unitPriceCents: Int64
        var currency: String
        var lineTotalCents: Int64

        enum CodingKeys: String, CodingKey {
            case name, quantity, currency
            case productID = "product_id"
            case unitPriceCents = "unit_price_cents"
            case lineTotalCents = "line_total_cents"
        }
    }

    var items: [Line]
    var itemCount: Int
    var totalCents: Int64
    var currency: String?

    enum CodingKeys: String, CodingKey {
        case items, currency
        case itemCount = "item_count"
        case totalCents = "total_cents"
    }
}

/// `POST /v1/products` body, with Malha's custom decoder (`contains` for `initial_stock`).
struct ProductRequest: Decodable, Sendable {
    var sku: String
    var name: String
    var description: String?
    var categoryID: String?
    var priceCents: Int
    var currency: String?
    var attributes: [String: String]?
    var images: [String]?
    var active: Bool?
    var initialStock: Int?

    enum CodingKeys: String, CodingKey {
        case sku, name, description
        case categoryID = "category_id"
        case priceCents = "price_cents"
        case currency, attributes, images, active
        case initialStock = "initial_stock"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sku = try container.decode(String.self, forKey: .sku)
        name = try container.decode(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        categoryID = try container.decodeIfPresent(String.self, forKey: .categoryID)
        priceCents = try container.decodeInteger(forKey: .priceCents)
        currency = try container.decodeIfPresent(String.self, forKey: .currency)
        attributes = try container.decodeIfPresent([String: String].self, forKey: .attributes)
        images = try container.decodeIfPresent([String].self, forKey: .images)
        active = try container.decodeIfPresent(Bool.self, forKey: .active)
        initialStock = try container.contains(.initialStock) ? container.decodeInteger(forKey: .initialStock) : nil
    }
}

extension KeyedDecodingContainer {
    /// Malha's integer read that names the field when a number is not an `Int`.
    func decodeInteger(forKey key: Key) throws -> Int {
        do {
            return try decode(Int.self, forKey: key)
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError.typeMismatch(
                Int.self, .init(codingPath: codingPath + [key], debugDescription: "must be an integer"))
        }
    }
}

/// A product as the catalog returns it.
struct Product: Codable, Sendable {
    enum Status: String, Codable, Sendable, CaseIterable {
        case active, archived
    }

    var id: UUID
    var sku: String
    var name: String
    var priceCents: Int
    var status: Status
    var tags: Set<String>
    var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, sku, name, status, tags
        case priceCents = "price_cents"
        case createdAt = "created_at"
    }
}

/// An OAuth 2.0 client-credentials token request (form-encoded).
struct TokenRequest: Decodable, Sendable {
    enum GrantType: String, Decodable, Sendable, CaseIterable {
        case clientCredentials = "client_credentials"
    }

    var grantType: GrantType
    var clientID: String?
    var clientSecret: String?
    var scope: String?

    enum CodingKeys: String, CodingKey {
        case scope
        case grantType = "grant_type"
        case clientID = "client_id"
        case clientSecret = "client_secret"
    }
}

struct TokenResponse: Codable, Sendable {
    var accessToken: String
    var tokenType: String
    var expiresIn: Int

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
    }
}

extension AddCartItemRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("product_id", .format(.uuid)),
        .property("quantity", .range(1...1_000)),
    ]
}

extension CheckoutRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "payment_method", .nonNull, .length(1...64), .pattern("^[A-Za-z0-9_]+$"),
            .description("A payment provider token (pm_card_ok in the simulated provider)"))
    ]
}
