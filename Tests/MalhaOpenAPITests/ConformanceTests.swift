import Foundation
import Testing

@testable import MalhaOpenAPI

/// What the handlers encode conforms to the documented schemas, and the request schemas refuse
/// what the rules refuse: the properties schemathesis will check, checked on known values first.
@Suite("Values against the documented schemas")
struct ConformanceTests {
    static let entry = LedgerEntry(
        id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7b", accountID: "0193a3f4-0000-7000-8000-000000000001", sequence: 1,
        type: .credit, amountCents: 12_345, currency: "BRL", description: nil, category: "sales",
        occurredAt: Date(timeIntervalSince1970: 1_764_000_000.123), businessDate: "2025-11-24", reversesEntryID: nil,
        createdAt: Date(timeIntervalSince1970: 1_764_000_001))

    @Test("an entry as Malha encodes it (nulls included) conforms to LedgerEntry, and a page of them to LedgerEntryPage")
    func entryConforms() throws {
        let document = try SampleDocuments.ledger()
        let encoded = try JSONValue.encoding(Self.entry, with: JSONCoding.encoder)
        #expect(document.validator.violations(of: encoded, against: .reference("LedgerEntry")) == [])
        let page: JSONValue = ["items": [encoded], "next_cursor": nil]
        #expect(document.validator.violations(of: page, against: .reference("LedgerEntryPage")) == [])

        // An encoder that omitted the nulls would break the documented promise.
        guard case .object(var members) = encoded else { return }
        members["description"] = nil
        #expect(document.validator.violations(of: .object(members), against: .reference("LedgerEntry")) == ["/: description is required"])
    }

    @Test("a problem as Malha writes it conforms to Problem")
    func problemConforms() throws {
        let document = try SampleDocuments.ledger()
        let problem = ProblemBody(
            type: "https://malha.dev/problems/invalid_amount", title: "Invalid amount", status: 422, code: "invalid_amount",
            detail: "amount_cents: must be from 1 to 100000000000 (integer cents)", instance: "/v1/accounts/x/entries",
            errors: [.init(field: "amount_cents", message: "must be from 1 to 100000000000 (integer cents)")])
        let encoded = try JSONValue.encoding(problem, with: JSONCoding.encoder)
        #expect(document.validator.violations(of: encoded, against: .reference("Problem")) == [])
    }

    @Test("the RecordEntryRequest schema refuses what the ledger's rules refuse")
    func requestSchemaMatchesRules() throws {
        let validator = try SampleDocuments.ledger().validator
        let schema = JSONSchema.reference("RecordEntryRequest")
        #expect(validator.violations(of: ["type": "credit", "amount_cents": 100], against: schema) == [])
        #expect(validator.violations(of: ["type": "debit", "amount_cents": 10.0, "description": nil], against: schema) == [])
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 10.5], against: schema).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": "100"], against: schema).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 0], against: schema).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 100_000_000_001], against: schema).isEmpty)
        #expect(!validator.violations(of: ["type": "refund", "amount_cents": 1], against: schema).isEmpty)
        #expect(!validator.violations(of: ["amount_cents": 1], against: schema).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 1, "occurred_at": "yesterday"], against: schema).isEmpty)
    }

    @Test("the cart conforms, its nested lines included")
    func cartConforms() throws {
        let document = try SampleDocuments.shop()
        let cart = CartView(
            items: [.init(productID: "p", name: "Mug", quantity: 2, unitPriceCents: 1_500, currency: "BRL", lineTotalCents: 3_000)],
            itemCount: 2, totalCents: 3_000, currency: "BRL")
        let encoded = try JSONValue.encoding(cart, with: JSONCoding.encoder)
        #expect(document.validator.violations(of: encoded, against: .reference("CartView")) == [])
        let broken: JSONValue = ["items": [["name": "Mug"]], "item_count": "2", "total_cents": 1]
        #expect(document.validator.violations(of: broken, against: .reference("CartView")).count == 6)
    }
}
