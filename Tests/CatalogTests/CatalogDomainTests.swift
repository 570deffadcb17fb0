import Foundation
import Testing

@testable import Catalog

@Suite("Catalog domain")
struct CatalogDomainTests {
    @Test func cursorRoundTripsAndIsBoundToItsSort() throws {
        let cursor = ProductCursor(sort: .priceAscending, number: 12_990, id: UUID().uuidString.lowercased())
        let decoded = try #require(ProductCursor(encoded: cursor.encoded))
        #expect(decoded == cursor)
        #expect(!cursor.encoded.contains("="))
        guard case .failure(.cursorNotFound) = ProductQuery.parse(["cursor": cursor.encoded, "sort": "name"]) else {
            Issue.record("a price cursor must not be accepted for sort=name")
            return
        }
    }

    @Test(arguments: ["", "not-base64!", "e30", "eyJzIjoibmFtZSIsImkiOiJ4In0"])
    func garbageCursorsAreRefused(_ raw: String) {
        #expect(ProductCursor(encoded: raw) == nil)
    }

    @Test func queryParsingValidatesEveryNumber() {
        func violations(_ parameters: [String: String]) -> [String] {
            if case .failure(.invalid(let list)) = ProductQuery.parse(parameters) { return list.map(\.field) }
            return []
        }
        #expect(violations(["limit": "101"]) == ["limit"])
        #expect(violations(["limit": "0"]) == ["limit"])
        #expect(violations(["limit": "ten"]) == ["limit"])
        #expect(violations(["min_price": "-1"]) == ["min_price"])
        #expect(violations(["max_price": "1.5"]) == ["max_price"])
        #expect(violations(["q": String(repeating: "e\u{301}", count: 101)]) == ["q"], "q counts code points")
        #expect(violations(["in_stock": "maybe"]) == ["in_stock"])
        #expect(violations(["sort": "random"]) == ["sort"])
        #expect(violations(["limit": "100", "sort": "price_desc", "in_stock": "true"]).isEmpty)
        if case .success(let query) = ProductQuery.parse([:]) {
            #expect(query.limit == 20)
            #expect(query.sort == .name)
        } else {
            Issue.record("an empty query is valid")
        }
    }

    /// min_price above max_price is a range no price is in: parsed as asked, answered with an empty page.
    @Test func anInvertedPriceRangeIsNotAnError() throws {
        guard case .success(let query) = ProductQuery.parse(["min_price": "500", "max_price": "100"]) else {
            Issue.record("min_price > max_price must parse")
            return
        }
        #expect(query.minPriceCents == 500)
        #expect(query.maxPriceCents == 100)
    }

    /// Lengths count code points, as the schema's maxLength does (201 of them are 101 characters here).
    @Test func productRulesCountCodePoints() {
        var draft = ProductDraft(sku: "SKU-1", name: String(repeating: "e\u{301}", count: 100), priceCents: 100)
        #expect(ProductRules.validate(draft).isEmpty)
        draft.name += "e"
        #expect(ProductRules.validate(draft).map(\.field) == ["name"])
        #expect(ProductRules.isImageURL("HTtp://U:4/Zrec0"))
    }

    @Test func likePatternEscapesWildcards() {
        #expect(likePattern(containing: "Aurora") == "%aurora%")
        #expect(likePattern(containing: "100%_a\\b") == "%100\\%\\_a\\\\b%")
    }

    @Test func productRulesRejectOversizeAndMalformedFields() {
        var draft = ProductDraft(sku: "SKU-1", name: "Mouse", priceCents: 100)
        #expect(ProductRules.validate(draft).isEmpty)
        draft.name = String(repeating: "a", count: 201)
        draft.description = String(repeating: "d", count: 5001)
        draft.sku = String(repeating: "S", count: 65)
        draft.priceCents = -1
        draft.currency = "brl"
        draft.attributes = Dictionary(uniqueKeysWithValues: (0..<51).map { ("k\($0)", "v") })
        draft.images = Array(repeating: "https://cdn.example/x.jpg", count: 21)
        draft.categoryID = "not-a-uuid"
        let fields = Set(ProductRules.validate(draft).map(\.field))
        #expect(fields == ["name", "description", "sku", "price_cents", "currency", "attributes", "images", "category_id"])
        draft = ProductDraft(sku: "SKU 1", name: "  ", priceCents: ProductRules.maxPriceCents + 1, images: ["ftp://x/y", "nope"])
        #expect(Set(ProductRules.validate(draft).map(\.field)) == ["sku", "name", "price_cents", "images[0]", "images[1]"])
    }

    @Test func demoCatalogIsDeterministicAndRealistic() {
        let first = DemoCatalog.products()
        let second = DemoCatalog.products()
        #expect(first.count == 200)
        #expect(DemoCatalog.categories.count == 8)
        #expect(first.map(\.draft) == second.map(\.draft))
        #expect(Set(first.map(\.draft.sku)).count == 200)
        #expect(first.contains { $0.draft.name == "Notebook Aurora 14 i7" })
        #expect(first.allSatisfy { ProductRules.validate($0.draft).isEmpty })
        #expect(first.contains { $0.onHand == 0 } && first.contains { $0.onHand > 0 })
        #expect(Set(first.map(\.draft.priceCents)).count > 150)
    }
}
