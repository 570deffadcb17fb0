import Contracts
import Foundation
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Orders

/// The orders document: buildable, valid, and true to what the handlers encode and accept.
@Suite("Orders OpenAPI document")
struct OrdersDocumentTests {
    let document = OrdersService.openAPI
    static let now = Date(timeIntervalSince1970: 1_790_000_000.25)

    static let order = Order(
        id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7b", customerID: "ana", status: .pending, totalCents: 3_000,
        currency: "BRL",
        lines: [OrderLine(productID: "0193a3f4-0000-7000-8000-000000000001", quantity: 2, unitPriceCents: 1_500)],
        cancelReason: nil, createdAt: now, updatedAt: now)

    @Test("the document has no dangling reference and openapi-spec-validator accepts it")
    func documentIsValid() throws {
        #expect(document.danglingReferences() == [])
        try OpenAPISpecValidation.check(document)
        let checkout = try #require(document.operations.first { $0.routeKey == "POST /v1/orders" })
        #expect(checkout.parameters.contains { $0.name == "Idempotency-Key" && $0.required })
        #expect(checkout.requestBody?.required == false)
    }

    @Test("carts, orders and transitions as the service encodes them conform")
    func responsesConform() throws {
        let cart = CartView([
            CartItem(
                productID: "0193a3f4-0000-7000-8000-000000000001", name: "Mouse", quantity: 2, unitPriceCents: 1_500,
                currency: "BRL", addedAt: Self.now)
        ])
        #expect(try document.violations(of: cart, against: "CartView") == [])
        #expect(try document.violations(of: CartView([]), against: "CartView") == [])
        #expect(try document.violations(of: Self.order, against: "Order") == [])
        var cancelled = Self.order
        cancelled.status = .cancelled
        cancelled.cancelReason = .customerRequest
        #expect(try document.violations(of: cancelled, against: "Order") == [])
        #expect(try document.violations(of: Page(items: [Self.order], nextCursor: Self.order.id), against: "OrderPage") == [])
        let transitions = TransitionList(items: [
            RecordedTransition(
                messageID: "m1", input: "stockReserved", outcome: "applied", stepAfter: SagaStep.authorizingPayment.rawValue,
                detail: nil, at: Self.now)
        ])
        #expect(try document.violations(of: transitions, against: "TransitionList") == [])
    }

    @Test("a refusal as the service renders it conforms to Problem")
    func problemConforms() throws {
        let problem = CheckoutRefusal.pricesChanged([]).problem
        let body: JSONValue = [
            "type": .string("https://malha.dev/problems/\(problem.code)"), "title": .string(problem.title),
            "status": .integer(Int64(problem.status.code)), "code": .string(problem.code),
            "detail": .string(problem.detail ?? ""), "instance": "/v1/orders",
        ]
        #expect(document.validator.violations(of: body, against: .reference("Problem")) == [])
    }

    @Test("the request schemas refuse what CartRules refuses")
    func requestSchemasMatchRules() throws {
        let validator = document.validator
        let add = JSONSchema.reference("AddCartItemRequest")
        #expect(
            validator.violations(of: ["product_id": "0193a3f4-0000-7000-8000-000000000001", "quantity": 1], against: add) == [])
        #expect(!validator.violations(of: ["product_id": "mouse", "quantity": 1], against: add).isEmpty)
        #expect(
            !validator.violations(of: ["product_id": "0193a3f4-0000-7000-8000-000000000001", "quantity": 1_001], against: add)
                .isEmpty)
        let checkout = JSONSchema.reference("CheckoutRequest")
        #expect(validator.violations(of: [:], against: checkout) == [])
        #expect(validator.violations(of: ["payment_method": nil], against: checkout) == [])
        #expect(validator.violations(of: ["payment_method": "pm_card_ok"], against: checkout) == [])
        #expect(!validator.violations(of: ["payment_method": ""], against: checkout).isEmpty)
        #expect(!validator.violations(of: ["payment_method": "pm card"], against: checkout).isEmpty)
        // What the schema allows, the rules allow.
        #expect(CartRules.validate(CheckoutRequest(paymentMethod: String(repeating: "a", count: 64))) == [])
        #expect(CartRules.validate(CheckoutRequest(paymentMethod: String(repeating: "a", count: 65))) != [])
    }
}
