import Contracts
import Foundation

/// What checking a cart out at the catalog's current prices comes to: the decision, with no I/O.
/// The route fetches the prices, asks `CheckoutRules.review`, and acts on the answer.
public enum CheckoutReview: Sendable, Hashable {
    /// Every line is for sale at the price the cart shows, all in one currency.
    case ready(lines: [OrderLine], currency: String)
    /// Some products are no longer for sale (unknown or deactivated).
    case unavailable([CartItem])
    /// Some prices (or currencies) changed since the items were added: the cart takes the new
    /// prices and the customer reviews them, rather than being charged silently.
    case repriced([Repricing])
    /// The lines are in more than one currency (an order is paid in one).
    case mixedCurrencies
}

/// A cart line whose price changed: as it was, and as the cart now holds it.
public struct Repricing: Sendable, Hashable {
    public var before: CartItem
    public var after: CartItem
}

enum CheckoutRules {
    /// Reviews `items` against `current` prices (keyed by product id), in this order: products no
    /// longer for sale, then changed prices, then mixed currencies.
    static func review(_ items: [CartItem], at current: [String: CatalogPrice]) -> CheckoutReview {
        let unavailable = items.filter { current[$0.productID] == nil }
        guard unavailable.isEmpty else { return .unavailable(unavailable) }
        let changes = items.compactMap { item -> Repricing? in
            guard let price = current[item.productID],
                price.unitPriceCents != item.unitPriceCents || price.currency != item.currency
            else { return nil }
            var after = item
            after.unitPriceCents = price.unitPriceCents
            after.currency = price.currency
            return Repricing(before: item, after: after)
        }
        guard changes.isEmpty else { return .repriced(changes) }
        guard let currency = items.first?.currency, items.allSatisfy({ $0.currency == currency }) else {
            return .mixedCurrencies
        }
        return .ready(
            lines: items.map { OrderLine(productID: $0.productID, quantity: $0.quantity, unitPriceCents: $0.unitPriceCents) },
            currency: currency)
    }
}
