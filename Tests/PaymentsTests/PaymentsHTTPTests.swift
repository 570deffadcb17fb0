import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaStore
import MalhaTesting
import Testing

@testable import Payments

/// The HTTP surface in process, over a payments database the harness fills.
@Suite("Payments HTTP", .serialized)
struct PaymentsHTTPTests {
    /// A captured payment of `customer` for order `o1` (10,000 cents).
    static func capturedPayment(_ harness: PaymentsHarness, customer: String) async throws -> Payment {
        try await harness.authorize("o1", amount: 10_000, customer: customer)
        try await harness.processor.processDue()
        try await harness.deliver(harness.command(CapturePayment(orderID: "o1"), order: "o1"))
        try await harness.processor.processDue()
        return try #require(try await harness.payment(order: "o1"))
    }

    static func router(_ harness: PaymentsHarness, tokens: TestTokens) -> Router<ServiceRequestContext> {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: PaymentsService.name), logger: testLogger)
        return PaymentsService.buildRouter(
            configuration: harness.configuration, runtime: runtime, store: harness.store, verifier: tokens.verifier,
            clock: harness.clock)
    }

    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await TestDatabases.withSQLite { store in
            let harness = try await PaymentsHarness.make(store: store)
            let routes = Set(Self.router(harness, tokens: await TestTokens.make()).routes.map { "\($0.method) \($0.path)" })
            #expect(routes == PaymentsService.openAPI.routeKeys)
            #expect(PaymentsService.routeRules.contains { $0.prefix == "/v1/payments/webhooks" && $0.policy == .public })
        }
    }

    @Test func ownersAndAdminsReadPaymentsAndNobodyElse() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            let tokens = await TestTokens.make()
            let payment = try await Self.capturedPayment(harness, customer: "alice")
            let alice = try await tokens.headers(subject: "alice")
            let mallory = try await tokens.headers(subject: "mallory")
            let admin = try await tokens.headers(subject: "root", roles: [Role.admin])
            try await Application(router: Self.router(harness, tokens: tokens)).test(.router) { client in
                let own = try await client.send(.get, "/v1/payments/\(payment.id)", headers: alice)
                #expect(own.status == .ok)
                let body = try own.decode(Payment.self)
                #expect(body.id == payment.id && body.state == .captured && body.amountCents == 10_000 && body.refunds.isEmpty)
                // Antifraud's verdict and reasons are the admins': the customer sees neither.
                #expect(body.fraudVerdict == nil && body.fraudReasons == nil)
                #expect(!String(buffer: own.body).contains("fraud_verdict"))
                #expect(!String(buffer: own.body).contains("fraud_reasons"))
                let asAdmin = try await client.send(.get, "/v1/payments/\(payment.id)", headers: admin)
                #expect(asAdmin.status == .ok)
                #expect(try asAdmin.decode(Payment.self).fraudVerdict == "approve")
                let other = try await client.send(.get, "/v1/payments/\(payment.id)", headers: mallory)
                #expect(other.status == .notFound && other.problem?.code == "not_found")
                let anonymous = try await client.send(.get, "/v1/payments/\(payment.id)")
                #expect(anonymous.status == .unauthorized && anonymous.problem?.code == "unauthorized")
                #expect(try await client.send(.get, "/v1/payments/not-a-uuid", headers: admin).status == .notFound)
                #expect(try await client.send(.get, "/v1/payments/\(UUID().uuidString)", headers: admin).status == .notFound)

                // The audit trail (antifraud's reasons in it) is the admins' alone.
                let events = try await client.send(.get, "/v1/payments/\(payment.id)/events", headers: admin)
                #expect(events.status == .ok)
                let trail = try events.decode(PageOf<PaymentAuditEvent>.self).items
                #expect(trail.first?.type == "created" && trail.last?.toState == "captured")
                let ownTrail = try await client.send(.get, "/v1/payments/\(payment.id)/events", headers: alice)
                #expect(ownTrail.status == .forbidden && ownTrail.problem?.code == "forbidden")
                #expect(try await client.send(.get, "/v1/payments/\(payment.id)/events", headers: mallory).status == .forbidden)

                let listed = try await client.send(.get, "/v1/payments?order_id=o1", headers: alice)
                #expect(try listed.decode(PageOf<Payment>.self).items.map(\.id) == [payment.id])
                #expect(
                    try await client.send(.get, "/v1/payments?order_id=o1", headers: mallory).decode(PageOf<Payment>.self).items
                        .isEmpty)
                let unlisted = try await client.send(.get, "/v1/payments", headers: alice)
                #expect(unlisted.status == .unprocessableContent && unlisted.problem?.code == "validation_failed")
            }
        }
    }

    @Test func refundsFollowTheRulesAndTheirIdempotencyKeys() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            let tokens = await TestTokens.make()
            let payment = try await Self.capturedPayment(harness, customer: "alice")
            try await harness.authorize("uncaptured", customer: "alice")
            let uncaptured = try #require(try await harness.payment(order: "uncaptured"))
            let adminHeaders = try await tokens.headers(
                subject: "root", roles: [Role.admin], amr: AuthenticationMethod.passwordAndOneTimePassword)
            let alice = try await tokens.headers(subject: "alice")
            let uri = "/v1/payments/\(payment.id)/refunds"
            try await Application(router: Self.router(harness, tokens: tokens)).test(.router) { client in
                var admin = adminHeaders
                let refund: [String: Any] = ["amount_cents": 4_000, "reason": "damaged box"]
                #expect(try await client.send(.post, uri, headers: alice, json: refund).status == .forbidden)
                // An admin's token after a password alone refunds nothing, whatever the request.
                var passwordOnly = try await tokens.headers(subject: "root", roles: [Role.admin])
                passwordOnly[.idempotencyKey] = "refund-pwd"
                let noSecondFactor = try await client.send(.post, uri, headers: passwordOnly, json: refund)
                #expect(noSecondFactor.status == .forbidden && noSecondFactor.problem?.code == "mfa_required")
                let keyless = try await client.send(.post, uri, headers: admin, json: refund)
                #expect(keyless.status == .badRequest && keyless.problem?.code == "idempotency_key_required")

                admin[.idempotencyKey] = "refund-1"
                let invalid = try await client.send(.post, uri, headers: admin, json: ["amount_cents": 0, "reason": ""])
                #expect(invalid.status == .unprocessableContent && invalid.problem?.code == "validation_failed")
                let notCaptured = try await client.send(
                    .post, "/v1/payments/\(uncaptured.id)/refunds", headers: admin, json: refund)
                #expect(notCaptured.status == .conflict && notCaptured.problem?.code == "payment_not_captured")

                let first = try await client.send(.post, uri, headers: admin, json: refund)
                #expect(first.status == .accepted)
                let created = try first.decode(Refund.self)
                #expect(created.amountCents == 4_000 && created.state == .pending && created.requestedBy == "admin:root")
                let replay = try await client.send(.post, uri, headers: admin, json: refund)
                // One set of wire names on every service (orders, ledger, payments).
                #expect(replay.status == .accepted && replay.headers[.idempotentReplayed] == "true")
                #expect(replay.headers[.location] != nil && replay.headers[.location] == first.headers[.location])
                #expect(replay.headers[HTTPField.Name("Idempotency-Replayed")!] == nil)
                #expect(try replay.decode(Refund.self).id == created.id, "the same refund, not a second one")
                let mismatch = try await client.send(.post, uri, headers: admin, json: ["amount_cents": 5_000, "reason": "x"])
                #expect(mismatch.status == .unprocessableContent && mismatch.problem?.code == "idempotency_key_reused")

                admin[.idempotencyKey] = "refund-2"
                let tooMuch = try await client.send(.post, uri, headers: admin, json: ["amount_cents": 6_001, "reason": "all"])
                #expect(tooMuch.status == .unprocessableContent && tooMuch.problem?.code == "refund_exceeds_captured")
                #expect(
                    try await client.send(.post, uri, headers: admin, json: ["amount_cents": 6_000, "reason": "all"]).status
                        == .accepted)
            }
            try await harness.processor.processDue()
            let refunded = try #require(try await harness.payment(order: "o1"))
            #expect(refunded.state == .refunded && refunded.refundedCents == 10_000)
            let events = try await harness.replies(PaymentRefunded.self)
            #expect(events.map(\.amountCents).sorted() == [4_000, 6_000])
            #expect(events.allSatisfy { $0.orderID == "o1" && $0.customerID == "alice" && $0.currency == "BRL" })
        }
    }

    @Test func adminsDecideReviews() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            let tokens = await TestTokens.make()
            try await harness.authorize("big", amount: 3_000_000, customer: "alice")
            try await harness.authorize("small", amount: 100, customer: "alice")
            try await harness.processor.processDue()
            let big = try #require(try await harness.payment(order: "big"))
            let small = try #require(try await harness.payment(order: "small"))
            #expect(big.state == .inReview)
            let admin = try await tokens.headers(subject: "root", roles: [Role.admin])
            try await Application(router: Self.router(harness, tokens: tokens)).test(.router) { client in
                let review = "/v1/payments/\(big.id)/review"
                let bad = try await client.send(.post, review, headers: admin, json: ["decision": "maybe"])
                #expect(bad.status == .unprocessableContent)
                let customer = try await tokens.headers(subject: "alice")
                #expect(
                    try await client.send(.post, review, headers: customer, json: ["decision": "approve"]).status == .forbidden)
                let approved = try await client.send(.post, review, headers: admin, json: ["decision": "approve"])
                #expect(approved.status == .ok)
                #expect(try approved.decode(Payment.self).state == .pending)
                let again = try await client.send(.post, review, headers: admin, json: ["decision": "approve"])
                #expect(again.status == .conflict && again.problem?.code == "not_in_review")
                let notHeld = try await client.send(
                    .post, "/v1/payments/\(small.id)/review", headers: admin, json: ["decision": "deny"])
                #expect(notHeld.status == .conflict)
            }
            try await harness.processor.processDue()
            #expect(try await harness.payment(order: "big")?.state == .authorized)
        }
    }
}
