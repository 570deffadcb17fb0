import Foundation
import Hummingbird
import MalhaHTTP

/// `POST /v1/products` and `PUT /v1/products/{id}` body. PUT replaces every descriptive field:
/// omitted optional fields take their defaults, as on create. Stock is not part of it.
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
    /// Units on hand at creation (create only; ignored by PUT).
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

    var draft: ProductDraft {
        ProductDraft(
            sku: sku, name: name, description: description ?? "", categoryID: categoryID, priceCents: priceCents,
            currency: currency ?? ProductRules.defaultCurrency, attributes: attributes ?? [:], images: images ?? [],
            active: active ?? true)
    }
}

struct CategoryRequest: Decodable, Sendable {
    var slug: String
    var name: String
}

struct StockAdjustmentRequest: Decodable, Sendable {
    var delta: Int
    var reason: String

    enum CodingKeys: String, CodingKey { case delta, reason }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        delta = try container.decodeInteger(forKey: .delta)
        reason = try container.decode(String.self, forKey: .reason)
    }
}

extension KeyedDecodingContainer {
    /// An integer field. Foundation throws an internal error for a number that is not an `Int`
    /// (10.5, 1e30), which its decoder turns into "not valid JSON" without the field's path, a 400;
    /// this names the field so the client gets 422 like any other wrong type.
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

/// `Decodable` only so that its schema is derived (synthesized: the JSON is the same).
struct CategoryListResponse: ResponseEncodable, Decodable {
    var items: [Category]
}

struct StockAdjustmentResponse: ResponseEncodable, Decodable {
    var movement: StockMovement
    var stock: StockLevel
}

extension Product: ResponseEncodable {}
extension Category: ResponseEncodable {}

extension CatalogError: ProblemConvertible {
    public var problem: Problem {
        switch self {
        case .productNotFound:
            .notFound("Product")
        case .skuTaken(let sku):
            .conflict("sku_taken", "a product with SKU '\(sku)' already exists")
        case .slugTaken(let slug):
            .conflict("slug_taken", "a category with slug '\(slug)' already exists")
        case .unknownCategory:
            // The request is well formed; the category it names does not exist now (409, not 422).
            Problem(
                .conflict, code: "validation_failed", detail: "category_id: no such category",
                errors: [.init(field: "category_id", message: "no such category")])
        case .insufficientStock(let onHand, let reserved, let delta):
            .conflict(
                "insufficient_stock",
                "adjusting by \(delta) would leave \(onHand + delta) on hand with \(reserved) reserved")
        }
    }
}

extension Problem {
    static func validation(_ violations: [FieldViolation]) -> Problem {
        .validation(violations.map { FieldError(field: $0.field, message: $0.message) })
    }
}
