import Foundation
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Payments

/// The payments document: buildable, valid, and true to what the handlers encode and accept.
@Suite("Payments OpenAPI document")
struct PaymentsDocumentTests {
    let document = PaymentsService.openAPI
    static let now = Date(timeIntervalSince1970: 1_790_000_000.5)

    @Test("the document has no dangling reference and openapi-spec-validator accepts it")
    func documentIsValid() throws {
        #expect(document.danglingReferences() == [])
        try OpenAPISpecValidation.check(document)
        let webhook = try #require(document.operations.first { $0.routeKey == "POST /v1/payments/webhooks/provider" })
        #expect(webhook.security.isEmpty)
        #expect(webhook.parameters.contains { $0.name == "Malha-Signature" && $0.required })
    }

    @Test("payments, refunds, audit events and webhook answers as the service encodes them conform")
    func responsesConform() throws {
        let refund = Refund(
            id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7c", paymentID: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7b", amountCents: 500,
            reason: "damaged", state: .pending, requestedBy: "admin:root", createdAt: Self.now, updatedAt: Self.now)
        let payment = Payment(
            id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7b", orderID: "order-1", customerID: "ana", amountCents: 3_000,
            currency: "BRL", paymentMethod: "pm_card_ok", state: .partiallyRefunded, fraudVerdict: "approve",
            fraudReasons: ["new_customer"], providerReference: "sim_1", refundedCents: 500, createdAt: Self.now,
            updatedAt: Self.now, refunds: [refund])
        #expect(try document.violations(of: payment, against: "Payment") == [])
        let bare = Payment(
            id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7d", orderID: "order-2", customerID: "", amountCents: 1, currency: "BRL",
            paymentMethod: nil, state: .pending, createdAt: Self.now, updatedAt: Self.now)
        #expect(try document.violations(of: bare, against: "Payment") == [])
        #expect(try document.violations(of: Page(items: [payment], nextCursor: nil), against: "PaymentPage") == [])
        #expect(try document.violations(of: refund, against: "Refund") == [])
        let event = PaymentAuditEvent(
            id: "0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7e", paymentID: payment.id, type: "state_changed", actor: "system",
            fromState: "pending", toState: "authorized", detail: "approved", at: Self.now)
        #expect(try document.violations(of: Page(items: [event], nextCursor: nil), against: "PaymentAuditEventPage") == [])
        #expect(try document.violations(of: WebhookAnswer(status: "duplicate"), against: "WebhookAnswer") == [])
    }

    @Test("the request schemas refuse what the handlers refuse")
    func requestSchemasMatchRules() throws {
        let validator = document.validator
        let refund = JSONSchema.reference("RefundRequest")
        #expect(validator.violations(of: ["amount_cents": 1, "reason": "damaged"], against: refund) == [])
        #expect(!validator.violations(of: ["amount_cents": 0, "reason": "damaged"], against: refund).isEmpty)
        #expect(!validator.violations(of: ["amount_cents": 1, "reason": "  "], against: refund).isEmpty)
        #expect(!validator.violations(of: ["amount_cents": 1], against: refund).isEmpty)
        // Not blank: any character Foundation does not trim, astral ones too; only its whitespace is blank.
        for reason in [" x ", "\u{3000}é", "😀", "\u{FEFF}", "\u{1C}"] {
            let body: JSONValue = ["amount_cents": 1, "reason": .string(reason)]
            #expect(validator.violations(of: body, against: refund) == [], "\(reason.unicodeScalars.map(\.value))")
            #expect(RefundRequest(amountCents: 1, reason: reason).violations().isEmpty)
        }
        for reason in ["\u{3000}\n", "\u{85}\u{A0}\u{2028}", "\t\u{200A}"] {
            #expect(!validator.violations(of: ["amount_cents": 1, "reason": .string(reason)], against: refund).isEmpty)
            #expect(!RefundRequest(amountCents: 1, reason: reason).violations().isEmpty)
        }
        // 200 code points are 100 characters here: the rule counts what the schema's maxLength counts.
        let long = String(repeating: "e\u{301}", count: 101)
        #expect(!validator.violations(of: ["amount_cents": 1, "reason": .string(long)], against: refund).isEmpty)
        #expect(RefundRequest(amountCents: 1, reason: long).violations().map(\.field) == ["reason"])
        let review = JSONSchema.reference("ReviewRequest")
        #expect(validator.violations(of: ["decision": "deny"], against: review) == [])
        #expect(!validator.violations(of: ["decision": "maybe"], against: review).isEmpty)
        let webhook = JSONSchema.reference("WebhookNotification")
        #expect(validator.violations(of: ["reference": "sim_1", "status": "approved"], against: webhook) == [])
        #expect(!validator.violations(of: ["reference": "sim_1", "status": "pending"], against: webhook).isEmpty)
    }
}
