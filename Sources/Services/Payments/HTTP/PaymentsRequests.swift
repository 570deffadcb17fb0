import Foundation
import Hummingbird
import MalhaHTTP

extension Payment: ResponseEncodable {}
extension Refund: ResponseEncodable {}
extension PaymentAuditEvent: ResponseEncodable {}

/// `POST /v1/payments/{id}/refunds`.
struct RefundRequest: Decodable, Sendable {
    static let maxReasonLength = 200

    var amountCents: Int64
    var reason: String

    enum CodingKeys: String, CodingKey {
        case reason
        case amountCents = "amount_cents"
    }

    func violations() -> [Problem.FieldError] {
        var violations: [Problem.FieldError] = []
        if amountCents <= 0 { violations.append(.init(field: "amount_cents", message: "must be a positive integer")) }
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        // Code points of the reason as sent: what the schema's maxLength counts.
        if trimmed.isEmpty || reason.unicodeScalars.count > Self.maxReasonLength {
            violations.append(.init(field: "reason", message: "must be 1 to \(Self.maxReasonLength) characters"))
        }
        return violations
    }
}

/// `POST /v1/payments/{id}/review`.
struct ReviewRequest: Decodable, Sendable {
    var decision: String
}

/// The provider's webhook body.
struct WebhookNotification: Decodable, Sendable {
    var reference: String
    var status: String
    var reason: String?
}

/// (`Decodable` only so that its schema is derived; synthesized, so the JSON is the same.)
struct WebhookAnswer: ResponseEncodable, Decodable {
    var status: String
}

extension PaymentConflict: ProblemConvertible {
    var problem: Problem { .conflict(code, description) }
}

extension PaymentWorkflow.RefundRefusal: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .notFound:
            .notFound("Payment")
        case .notCaptured(let state):
            .conflict("payment_not_captured", "only captured payments are refunded; this one is \(state.rawValue)")
        case .exceedsCaptured(let available):
            Problem(
                .unprocessableContent, code: "refund_exceeds_captured",
                detail: "refunds would exceed the captured amount; at most \(available) cents remain")
        }
    }
}
