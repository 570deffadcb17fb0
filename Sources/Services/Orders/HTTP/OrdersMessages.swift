import Foundation
import Hummingbird
import MalhaHTTP

/// `POST /v1/cart/items`: add `quantity` units of a product (to what the cart already holds).
struct AddCartItemRequest: Codable, Sendable {
    var productID: String
    var quantity: Int

    enum CodingKeys: String, CodingKey {
        case quantity
        case productID = "product_id"
    }
}

/// `PUT /v1/cart/items/{product_id}`: set the line's quantity.
struct SetCartItemRequest: Codable, Sendable {
    var quantity: Int
}

/// `POST /v1/orders`: check out the cart. Every field is optional, and so is the body.
struct CheckoutRequest: Codable, Sendable, Hashable {
    /// The payment method token the payments provider knows (`pm_card_ok` by default in the
    /// simulated provider; `pm_card_declined` is declined).
    var paymentMethod: String?

    enum CodingKeys: String, CodingKey {
        case paymentMethod = "payment_method"
    }
}

/// The cart as the customer sees it: the prices seen when each line was set (checkout re-prices
/// every line from the catalog and refuses with 409 when one changed).
/// (`Decodable` only so that its schema is derived; synthesized, so the JSON is the same.)
struct CartView: ResponseEncodable, Decodable, Sendable {
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

    init(_ items: [CartItem]) {
        self.items = items.map {
            Line(
                productID: $0.productID, name: $0.name, quantity: $0.quantity, unitPriceCents: $0.unitPriceCents,
                currency: $0.currency, lineTotalCents: Int64($0.quantity) * $0.unitPriceCents)
        }
        itemCount = items.reduce(0) { $0 + $1.quantity }
        totalCents = self.items.reduce(0) { $0 + $1.lineTotalCents }
        currency = items.first?.currency
    }
}

extension Order: ResponseEncodable {}
extension RecordedTransition: ResponseEncodable {}

struct TransitionList: ResponseEncodable, Decodable, Sendable {
    var items: [RecordedTransition]
}

/// Limits on carts and checkout input.
enum CartRules {
    /// Matches what the catalog accepts in one reservation.
    static let maxLines = 100
    static let maxQuantity = 1_000
    static let maxPaymentMethodLength = 64

    static func validateProductID(_ id: String) -> Problem.FieldError? {
        UUID(uuidString: id) == nil ? .init(field: "product_id", message: "must be a product id (a UUID)") : nil
    }

    static func validateQuantity(_ quantity: Int) -> Problem.FieldError? {
        (1...maxQuantity).contains(quantity)
            ? nil : .init(field: "quantity", message: "must be an integer from 1 to \(maxQuantity)")
    }

    static func validate(_ checkout: CheckoutRequest) -> [Problem.FieldError] {
        guard let method = checkout.paymentMethod else { return [] }
        let allowed = method.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F
        }
        guard !method.isEmpty, method.utf8.count <= maxPaymentMethodLength, allowed else {
            return [
                .init(
                    field: "payment_method",
                    message: "must be 1 to \(maxPaymentMethodLength) letters, digits or underscores (a provider token)")
            ]
        }
        return []
    }
}

/// Why a checkout was refused before anything was written (the key stays unused). Each is a
/// conflict with the cart's or the catalog's current state (409), except mixed currencies.
enum CheckoutRefusal: Error, ProblemConvertible {
    case cartEmpty
    case productsUnavailable([CartItem])
    case pricesChanged([Repricing])
    case mixedCurrencies

    var problem: Problem {
        switch self {
        case .cartEmpty:
            Problem(.conflict, code: "cart_empty", detail: "the cart is empty; add items before checking out")
        case .productsUnavailable(let items):
            Problem(
                .conflict, code: "products_unavailable",
                detail: "some products in the cart are no longer for sale; remove them and check out again",
                errors: items.map { .init(field: "items[\($0.productID)]", message: "\($0.name) is no longer for sale") })
        case .pricesChanged(let changes):
            Problem(
                .conflict, code: "cart_prices_changed",
                detail: "prices changed since these items were added; the cart shows the new prices — review and check out again",
                errors: changes.map {
                    .init(
                        field: "items[\($0.before.productID)]",
                        message: "\($0.before.unitPriceCents) → \($0.after.unitPriceCents) cents")
                })
        case .mixedCurrencies:
            Problem(.unprocessableContent, code: "mixed_currencies", detail: "an order is paid in one currency")
        }
    }
}

/// The catalog could not be asked for prices: 503 with `Retry-After`.
extension CatalogUnavailable: ProblemConvertible {
    public var problem: Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return Problem(.serviceUnavailable, code: "catalog_unavailable", detail: description, headers: headers)
    }
}
