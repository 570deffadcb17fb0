import Contracts
import Foundation
import Testing

@testable import Orders

/// `CheckoutRules.review`: the checkout decision without I/O.
@Suite("Checkout rules")
struct CheckoutRulesTests {
    static let added = Date(timeIntervalSince1970: 1_767_225_600)

    static func item(_ id: String, cents: Int64, currency: String = "BRL", quantity: Int = 1) -> CartItem {
        CartItem(productID: id, name: "P \(id)", quantity: quantity, unitPriceCents: cents, currency: currency, addedAt: added)
    }

    static func price(_ id: String, cents: Int64, currency: String = "BRL") -> CatalogPrice {
        CatalogPrice(productID: id, name: "P \(id)", unitPriceCents: cents, currency: currency)
    }

    /// A cart or catalog state the checkout conflicts with is 409, with the codes clients already know.
    @Test func stateConflictsAre409WithTheirCodes() {
        let empty = CheckoutRefusal.cartEmpty.problem
        #expect(empty.status == .conflict && empty.code == "cart_empty")
        let gone = CheckoutRefusal.productsUnavailable([Self.item("p1", cents: 100)]).problem
        #expect(gone.status == .conflict && gone.code == "products_unavailable")
        #expect(gone.errors.map(\.field) == ["items[p1]"])
        #expect(CheckoutRefusal.mixedCurrencies.problem.status == .unprocessableContent)
    }

    @Test func aCartAtCurrentPricesIsReadyWithItsLines() {
        let items = [Self.item("a", cents: 100, quantity: 2), Self.item("b", cents: 250)]
        let review = CheckoutRules.review(items, at: ["a": Self.price("a", cents: 100), "b": Self.price("b", cents: 250)])
        #expect(
            review
                == .ready(
                    lines: [
                        OrderLine(productID: "a", quantity: 2, unitPriceCents: 100),
                        OrderLine(productID: "b", quantity: 1, unitPriceCents: 250),
                    ], currency: "BRL"))
    }

    @Test func productsNoLongerForSaleComeFirst() {
        let items = [Self.item("a", cents: 100), Self.item("gone", cents: 5)]
        // "a" is also repriced: unavailability is reported before prices.
        let review = CheckoutRules.review(items, at: ["a": Self.price("a", cents: 120)])
        #expect(review == .unavailable([Self.item("gone", cents: 5)]))
    }

    @Test func changedPricesAndCurrenciesRepriceTheCart() {
        let items = [Self.item("a", cents: 100), Self.item("b", cents: 250), Self.item("c", cents: 10)]
        let review = CheckoutRules.review(
            items,
            at: [
                "a": Self.price("a", cents: 90), "b": Self.price("b", cents: 250, currency: "USD"),
                "c": Self.price("c", cents: 10),
            ])
        guard case .repriced(let changes) = review else {
            Issue.record("expected a repricing, got \(review)")
            return
        }
        #expect(changes.map(\.before.productID) == ["a", "b"])
        #expect(changes[0].after.unitPriceCents == 90 && changes[0].after.currency == "BRL")
        #expect(changes[1].after.unitPriceCents == 250 && changes[1].after.currency == "USD")
        #expect(changes.allSatisfy { $0.after.quantity == $0.before.quantity && $0.after.addedAt == Self.added })
    }

    @Test func linesInTwoCurrenciesAreRefused() {
        let items = [Self.item("a", cents: 100), Self.item("b", cents: 250, currency: "USD")]
        let review = CheckoutRules.review(
            items, at: ["a": Self.price("a", cents: 100), "b": Self.price("b", cents: 250, currency: "USD")])
        #expect(review == .mixedCurrencies)
    }
}
