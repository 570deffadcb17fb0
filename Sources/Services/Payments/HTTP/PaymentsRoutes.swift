import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaService
import MalhaStore

/// The payments HTTP surface. Customers see their own payments (anyone else's is a 404, so ids
/// cannot be probed); admins see every payment, decide reviews and refund. The provider's webhook
/// is public and authenticated by its signature instead of a token.
struct PaymentsRoutes: Sendable {
    /// The shared secret for webhook signatures (nil: this provider sends no webhooks).
    struct Webhooks: Sendable {
        var secret: String
        var tolerance: Duration
    }

    let store: any SQLStore
    let clock: any WallClock
    let webhooks: Webhooks?
    let pendingRecheck: Duration
    /// Wakes the processor and the outbox relay after a commit that gave them work.
    let wake: @Sendable () -> Void

    func register(on router: Router<ServiceRequestContext>) {
        router.post("/v1/payments/webhooks/provider") { request, context in try await self.webhook(request, context: context) }

        let owners = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.authenticated))
        owners.get("/v1/payments") { request, context in try await self.list(request, context: context) }
        owners.get("/v1/payments/{id}") { _, context in try await self.payment(context: context) }

        let admin = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.admin))
        admin.get("/v1/payments/{id}/events") { _, context in try await self.events(context: context) }
        admin.post("/v1/payments/{id}/review") { request, context in try await self.review(request, context: context) }
        // Money leaving: the admin's second factor too (a stolen password alone refunds nothing).
        let secondFactor = admin.group().add(middleware: SecondFactorMiddleware<ServiceRequestContext>())
        secondFactor.post("/v1/payments/{id}/refunds") { request, context in
            try await self.refund(request, context: context)
        }
    }

    // MARK: Reads

    func payment(context: ServiceRequestContext) async throws -> Payment {
        let principal = try context.requirePrincipal()
        let id = try paymentID(context)
        let payment = try await store.read { db -> Payment? in
            guard var payment = try await PaymentRecords.payment(id: id, in: db) else { return nil }
            payment.refunds = try await PaymentRecords.refunds(paymentID: id, in: db)
            return payment
        }
        guard let payment, Self.mayRead(payment, principal) else { throw Problem.notFound("Payment") }
        return payment.visible(to: principal)
    }

    func events(context: ServiceRequestContext) async throws -> Page<PaymentAuditEvent> {
        let principal = try context.requirePrincipal()
        let id = try paymentID(context)
        let found = try await store.read { db -> (Payment, [PaymentAuditEvent])? in
            guard let payment = try await PaymentRecords.payment(id: id, in: db) else { return nil }
            return (payment, try await PaymentRecords.events(paymentID: id, in: db))
        }
        guard let (payment, events) = found, Self.mayRead(payment, principal) else { throw Problem.notFound("Payment") }
        return Page(items: events, nextCursor: nil)
    }

    /// `?order_id=`: the order's payment, if the caller may see it (an empty page otherwise).
    func list(_ request: Request, context: ServiceRequestContext) async throws -> Page<Payment> {
        let principal = try context.requirePrincipal()
        guard let orderID = request.uri.queryParameters.get("order_id"), !orderID.isEmpty, orderID.count <= 64 else {
            throw Problem.validation(field: "order_id", "is required (1 to 64 characters)")
        }
        let payments = try await store.read { db in
            var visible: [Payment] = []
            for var payment in try await PaymentRecords.payments(orderID: orderID, in: db) where Self.mayRead(payment, principal)
            {
                payment.refunds = try await PaymentRecords.refunds(paymentID: payment.id, in: db)
                visible.append(payment.visible(to: principal))
            }
            return visible
        }
        return Page(items: payments, nextCursor: nil)
    }

    static func mayRead(_ payment: Payment, _ principal: Principal) -> Bool {
        principal.isAdmin || (!payment.customerID.isEmpty && payment.customerID == principal.subject)
    }

    // MARK: Admin

    /// An admin's decision on a payment antifraud held. Nobody deciding is a decision too: the
    /// saga's step timeout cancels the order and voids the payment.
    func review(_ request: Request, context: ServiceRequestContext) async throws -> Payment {
        let principal = try context.requirePrincipal()
        let id = try paymentID(context)
        let body = try await request.decode(as: ReviewRequest.self, context: context)
        guard body.decision == "approve" || body.decision == "deny" else {
            throw Problem.validation(field: "decision", "must be approve or deny")
        }
        let now = clock.now()
        let payment = try await store.transaction { db in
            try await PaymentWorkflow(db: db, now: now, pendingRecheck: pendingRecheck).decideReview(
                paymentID: id, approve: body.decision == "approve", actor: Actor.admin(principal.subject))
        }
        guard let payment else { throw Problem.notFound("Payment") }
        wake()
        return payment
    }

    /// Refunds part or all of a captured payment, as an idempotent command scoped to the payment
    /// (`IdempotentCommand`: the same key and body answer the first response again; the key with
    /// another body is 422 `idempotency_key_reused`). The refund and its provider operation commit
    /// with the key; the provider is called after the commit.
    func refund(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try paymentID(context)
        let key = try IdempotentCommand.key(of: request, operation: "a refund")
        let body = try await request.decode(as: RefundRequest.self, context: context)
        let violations = body.violations()
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let reason = body.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        let command = IdempotentCommand(
            scope: "refunds:\(id)", key: key, fingerprint: IdempotentCommand.fingerprint([String(body.amountCents), reason]))
        let now = clock.now()
        return try await command.run(
            in: store, now: now, status: .accepted, headers: { _ in [.location: "/v1/payments/\(id)"] }, onCommit: wake
        ) { db in
            try await PaymentWorkflow(db: db, now: now).requestRefund(
                paymentID: id, amountCents: body.amountCents, reason: reason, actor: Actor.admin(principal.subject))
        }
    }

    // MARK: Provider webhook

    func webhook(_ request: Request, context: ServiceRequestContext) async throws -> WebhookAnswer {
        guard let webhooks else { throw Problem.notFound("Webhook endpoint") }
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let body = Data(buffer.readableBytesView)
        try WebhookSignature.verify(
            header: request.headers[.malhaSignature], body: body, secret: webhooks.secret, now: clock.now(),
            tolerance: webhooks.tolerance)
        let notification = try MalhaRequestDecoder.decode(WebhookNotification.self, from: buffer)
        let outcome: ProviderOutcome
        switch notification.status {
        case "approved": outcome = .approved(reference: notification.reference)
        case "declined": outcome = .declined(reason: notification.reason ?? "declined")
        default: throw Problem.validation(field: "status", "must be approved or declined")
        }
        let now = clock.now()
        let result = try await store.transaction { db in
            try await PaymentWorkflow(db: db, now: now, pendingRecheck: pendingRecheck).settleFromWebhook(
                reference: notification.reference, outcome: outcome)
        }
        switch result {
        case .unknown:
            // Possibly a webhook faster than the processor's record of the pending answer: the
            // provider retries non-2xx deliveries, and by then the reference is known.
            throw Problem(
                .notFound, code: "unknown_reference", detail: "no operation has provider reference \(notification.reference)")
        case .processed:
            wake()
            return WebhookAnswer(status: "processed")
        case .duplicate:
            return WebhookAnswer(status: "duplicate")
        }
    }

    // MARK: -

    /// The `{id}` path parameter as a lowercased UUID; anything else names no payment (404).
    func paymentID(_ context: ServiceRequestContext) throws -> String {
        guard let raw = context.parameters.get("id"), let uuid = UUID(uuidString: raw) else {
            throw Problem.notFound("Payment")
        }
        return uuid.uuidString.lowercased()
    }

}

extension HTTPField.Name {
    static let malhaSignature = Self(WebhookSignature.header)!
}
