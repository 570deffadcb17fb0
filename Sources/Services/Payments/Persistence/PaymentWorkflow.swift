import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import SQLKit

/// Who did something, as the audit trail names them.
enum Actor {
    static let system = "system"
    static let provider = "provider"
    static func admin(_ subject: String) -> String { "admin:\(subject)" }
}

/// Everything that changes a payment, each step inside the caller's transaction: the new state
/// (through `PaymentState.apply`, never set by hand), the audit event, the operations owed to the
/// provider and the replies owed to the saga (through the outbox) commit together or not at all.
///
/// A `PaymentWorkflow` is one transaction's view: its database and its "now".
struct PaymentWorkflow {
    static let source = "payments"

    let db: any SQLDatabase
    let now: Date
    /// How long to wait before asking the provider again about a `pending` answer whose webhook
    /// has not come (the same idempotency key returns the current status).
    var pendingRecheck: Duration = .seconds(30)

    // MARK: Commands from the saga

    /// Records an authorization intent, or answers a repeated one from what is known.
    func requestAuthorization(_ command: AuthorizePayment, replyTo address: ReplyAddress) async throws {
        if let existing = try await PaymentRecords.payment(orderID: command.orderID, forUpdate: true, in: db) {
            try await repeatAuthorization(command, existing: existing, replyTo: address)
            return
        }
        let payment = Payment(
            id: UUID.v7(at: now).lowercased, orderID: command.orderID, customerID: command.customerID,
            amountCents: command.amountCents, currency: command.currency, paymentMethod: command.paymentMethod,
            state: .pending, createdAt: now, updatedAt: now)
        try await PaymentRecords.insert(payment, in: db)
        try await audit(
            payment, "created", to: .pending,
            detail: "authorize \(command.amountCents) \(command.currency) for order \(command.orderID)")
        try await PaymentRecords.insert(
            PaymentOperation(
                id: UUID.v7(at: now).lowercased, paymentID: payment.id, kind: .authorize, subject: payment.id, state: .due,
                nextAttemptAt: now, replyTo: [address], now: now),
            in: db)
    }

    private func repeatAuthorization(
        _ command: AuthorizePayment, existing: Payment, replyTo address: ReplyAddress
    )
        async throws
    {
        let operations = try await PaymentRecords.operations(paymentID: existing.id, in: db)
        guard let authorization = operations.first(where: { $0.kind == .authorize }) else {
            // The order was voided before its authorization arrived: never hold money for it.
            try await audit(existing, "command_received", detail: "authorize after the order was voided: declined")
            try await reply(PaymentDeclined(orderID: command.orderID, reason: "voided"), to: [address], existing)
            return
        }
        guard
            existing.customerID == command.customerID && existing.amountCents == command.amountCents
                && existing.currency == command.currency
        else {
            throw InvalidMessage("authorize for order \(command.orderID) contradicts the payment already recorded")
        }
        try await audit(existing, "command_received", detail: "authorize repeated while \(existing.state.rawValue)")
        switch existing.state {
        case .pending, .inReview:
            try await addWaiter(address, to: authorization)
        case .declined:
            try await reply(
                PaymentDeclined(orderID: existing.orderID, reason: existing.declineReason ?? "declined"), to: [address], existing)
        case .voided where authorization.state != .succeeded:
            try await reply(
                PaymentDeclined(orderID: existing.orderID, reason: existing.declineReason ?? "voided"), to: [address], existing)
        default:
            try await reply(PaymentAuthorized(orderID: existing.orderID, paymentID: existing.id), to: [address], existing)
        }
    }

    /// Starts the capture once; a repeated capture joins the one in flight or hears the result.
    func requestCapture(orderID: String, replyTo address: ReplyAddress) async throws {
        guard var payment = try await PaymentRecords.payment(orderID: orderID, forUpdate: true, in: db) else {
            throw InvalidMessage("no payment for order \(orderID) to capture")
        }
        switch payment.state.apply(.captureRequested) {
        case .applied:
            try await move(&payment, .captureRequested, detail: "capture requested")
            try await PaymentRecords.insert(
                PaymentOperation(
                    id: UUID.v7(at: now).lowercased, paymentID: payment.id, kind: .capture, subject: payment.id, state: .due,
                    nextAttemptAt: now, replyTo: [address], now: now),
                in: db)
        case .duplicate where payment.state == .capturing:
            try await audit(payment, "command_received", detail: "capture repeated while capturing")
            try await addWaiter(address, to: try await operation(.capture, of: payment))
        case .duplicate:
            try await audit(payment, "command_received", detail: "capture repeated: already captured")
            try await reply(PaymentCaptured(orderID: orderID, paymentID: payment.id), to: [address], payment)
        case .deferred, .rejected:
            throw InvalidMessage("order \(orderID): a payment \(payment.state.rawValue) cannot be captured")
        }
    }

    /// Voids the order's payment, now if nothing reached the provider, after its authorization
    /// settles if one is in flight. Voiding nothing succeeds (and refuses a later authorization).
    func requestVoid(orderID: String, replyTo address: ReplyAddress) async throws {
        guard var payment = try await PaymentRecords.payment(orderID: orderID, forUpdate: true, in: db) else {
            let placeholder = Payment(
                id: UUID.v7(at: now).lowercased, orderID: orderID, customerID: "", amountCents: 0, currency: "",
                paymentMethod: nil, state: .voided, declineReason: "voided", createdAt: now, updatedAt: now)
            try await PaymentRecords.insert(placeholder, in: db)
            try await audit(placeholder, "created", to: .voided, detail: "void before any authorization: nothing to void")
            try await reply(PaymentVoided(orderID: orderID), to: [address], placeholder)
            return
        }
        let operations = try await PaymentRecords.operations(paymentID: payment.id, in: db)
        let authorization = operations.first { $0.kind == .authorize }
        let existingVoid = operations.first { $0.kind == .void }
        if let existingVoid, !existingVoid.state.isSettled {
            try await audit(payment, "command_received", detail: "void repeated while \(payment.state.rawValue)")
            try await addWaiter(address, to: existingVoid)
            return
        }
        var event = PaymentEvent.voidRequested
        if let authorization, payment.state == .pending, authorization.neverSent, !isLive(authorization.claimedUntil) {
            event = .voidedBeforeAuthorization
        }
        switch payment.state.apply(event) {
        case .applied(.voided):
            // Nothing reached the provider (or antifraud held it for review): close it here.
            if var authorization {
                try await settle(&authorization, .failed, reason: "voided")
                try await reply(PaymentDeclined(orderID: orderID, reason: "voided"), to: authorization.replyTo, payment)
            }
            payment.declineReason = "voided"
            try await move(&payment, event, detail: "voided before anything reached the provider")
            try await reply(PaymentVoided(orderID: orderID), to: [address], payment)
        case .applied:
            try await move(&payment, event, detail: "void requested")
            try await insertVoid(for: payment, state: .due, replyTo: [address])
        case .deferred:
            try await audit(payment, "command_received", detail: "void requested during the authorization: after it")
            try await insertVoid(for: payment, state: .blocked, replyTo: [address])
        case .duplicate:
            try await audit(payment, "command_received", detail: "void while \(payment.state.rawValue): nothing to void")
            try await reply(PaymentVoided(orderID: orderID), to: [address], payment)
        case .rejected(let reason):
            throw InvalidMessage("order \(orderID): \(reason)")
        }
    }

    // MARK: Antifraud and review

    /// Records antifraud's verdict on a claimed authorization. True when the authorization should
    /// go on to the provider.
    func screen(_ payment: inout Payment, _ operation: inout PaymentOperation, verdict: AntifraudVerdict) async throws -> Bool {
        payment.fraudVerdict = verdict.name
        payment.fraudReasons = verdict.reasons
        payment.updatedAt = now
        try await audit(
            payment, "screened", detail: (["antifraud: \(verdict.name)"] + verdict.reasons).joined(separator: " "))
        switch verdict {
        case .approve:
            try await PaymentRecords.update(payment, in: db)
            return true
        case .review:
            try await move(&payment, .flaggedForReview, detail: "held for an admin's review")
            operation.state = .blocked
            operation.nextAttemptAt = nil
            try await release(&operation)
            return false
        case .deny:
            try await declineAuthorization(&payment, &operation, reason: "fraud_suspected", mayHoldFunds: false)
            return false
        }
    }

    /// An admin's decision on a payment held for review.
    func decideReview(paymentID: String, approve: Bool, actor: String) async throws -> Payment? {
        guard var payment = try await PaymentRecords.payment(id: paymentID, forUpdate: true, in: db) else { return nil }
        if let refusal = ReviewRules.refusal(state: payment.state) { throw refusal }
        var authorization = try await operation(.authorize, of: payment)
        if approve {
            try await move(&payment, .reviewApproved, actor: actor, detail: "review approved")
            authorization.state = .due
            authorization.nextAttemptAt = now
            try await release(&authorization)
        } else {
            try await declineAuthorization(
                &payment, &authorization, reason: "fraud_suspected", mayHoldFunds: false, actor: actor, detail: "review denied")
        }
        return payment
    }

    // MARK: Refunds

    typealias RefundRefusal = Payments.RefundRefusal

    /// Records a refund to send to the provider. The refunds not failed never exceed the capture.
    /// Throws `RefundRefusal` when the payment does not allow it.
    func requestRefund(paymentID: String, amountCents: Int64, reason: String, actor: String) async throws -> Refund {
        guard let payment = try await PaymentRecords.payment(id: paymentID, forUpdate: true, in: db) else {
            throw RefundRefusal.notFound
        }
        let refunds = try await PaymentRecords.refunds(paymentID: paymentID, in: db)
        if let refusal = RefundRules.refusal(
            state: payment.state, capturedCents: payment.amountCents, refunds: refunds, amountCents: amountCents)
        {
            throw refusal
        }
        let refund = Refund(
            id: UUID.v7(at: now).lowercased, paymentID: paymentID, amountCents: amountCents, reason: reason, state: .pending,
            requestedBy: actor, createdAt: now, updatedAt: now)
        try await PaymentRecords.insert(refund, in: db)
        try await PaymentRecords.insert(
            PaymentOperation(
                id: UUID.v7(at: now).lowercased, paymentID: paymentID, refundID: refund.id, kind: .refund, subject: refund.id,
                state: .due, nextAttemptAt: now, replyTo: [], now: now),
            in: db)
        try await audit(
            payment, "refund_requested", actor: actor, refundID: refund.id, detail: "refund \(amountCents): \(reason)")
        return refund
    }

    // MARK: Provider answers

    /// Records the provider's answer to `operation` (a claimed call, or a webhook).
    func record(
        _ outcome: ProviderOutcome, for operation: inout PaymentOperation, payment: inout Payment, actor: String
    )
        async throws -> String
    {
        try await audit(
            payment, "provider_call", actor: actor, refundID: operation.refundID,
            detail: "\(operation.kind.rawValue) [\(operation.idempotencyKey)] attempt \(operation.attempts): \(outcome)")
        switch (operation.kind, outcome) {
        case (_, .pending(let reference)):
            operation.state = .waiting
            operation.providerReference = reference
            operation.nextAttemptAt = now.adding(pendingRecheck)
            try await release(&operation)
            return "pending"
        case (.authorize, .approved(let reference)):
            payment.providerReference = reference
            operation.providerReference = reference
            try await move(&payment, .authorizationApproved, actor: actor, detail: "authorized by the provider")
            try await settle(&operation, .succeeded)
            try await reply(PaymentAuthorized(orderID: payment.orderID, paymentID: payment.id), to: operation.replyTo, payment)
            if var blockedVoid = try await blockedVoid(of: payment) {
                try await move(&payment, .voidRequested, detail: "void requested during the authorization")
                blockedVoid.state = .due
                blockedVoid.nextAttemptAt = now
                try await release(&blockedVoid)
            }
            return "authorized"
        case (.authorize, .declined(let reason)):
            try await declineAuthorization(&payment, &operation, reason: reason, mayHoldFunds: false, actor: actor)
            return "declined"
        case (.capture, .approved(let reference)):
            operation.providerReference = reference
            try await move(&payment, .captureApproved, actor: actor, detail: "captured")
            try await settle(&operation, .succeeded)
            try await reply(PaymentCaptured(orderID: payment.orderID, paymentID: payment.id), to: operation.replyTo, payment)
            return "captured"
        case (.capture, .declined(let reason)):
            // No contract answers a failed capture: the payment waits for an operator (the saga's
            // repeated capture is dead-lettered, where people look).
            try await move(&payment, .captureDeclined, actor: actor, detail: "the provider refused the capture: \(reason)")
            try await settle(&operation, .failed, reason: reason)
            return "capture_failed"
        case (.void, let answer):
            // A declined void leaves nothing held either (expired, or never authorized): voided.
            try await move(&payment, .voidSettled, actor: actor, detail: "voided (\(answer))")
            try await settle(&operation, .succeeded, reason: answer.declineReason)
            try await reply(PaymentVoided(orderID: payment.orderID), to: operation.replyTo, payment)
            return "voided"
        case (.refund, let answer):
            return try await settleRefund(answer, &operation, &payment, actor: actor)
        case (.release, let answer):
            try await settle(&operation, .succeeded, reason: answer.declineReason)
            return "released"
        }
    }

    /// Records a transient failure: try again later, or give the authorization up.
    /// A call that was never `sent` (the breaker or the bulkhead refused it) gives its attempt back.
    func recordFailure(
        _ error: any Error, decision: RetrySchedule.Decision, sent: Bool = true, for operation: inout PaymentOperation,
        payment: inout Payment
    ) async throws -> String {
        try await audit(
            payment, "provider_call", refundID: operation.refundID,
            detail: "\(operation.kind.rawValue) [\(operation.idempotencyKey)] attempt \(operation.attempts) failed: \(error)")
        if !sent { operation.attempts = max(0, operation.attempts - 1) }
        switch decision {
        case .retry(let delay):
            operation.nextAttemptAt = now.adding(delay)
            operation.outcomeReason = String(describing: error)
            try await release(&operation)
            return "retry"
        case .giveUp:
            try await declineAuthorization(&payment, &operation, reason: "provider_unavailable", mayHoldFunds: true)
            return "provider_unavailable"
        }
    }

    // MARK: - Steps

    /// Ends an authorization declined. When one of its calls may have reached the provider
    /// (`mayHoldFunds`), a release (a void with the same key as any void) gives the hold back.
    private func declineAuthorization(
        _ payment: inout Payment, _ operation: inout PaymentOperation, reason: String, mayHoldFunds: Bool,
        actor: String = Actor.system, detail: String? = nil
    ) async throws {
        payment.declineReason = reason
        try await move(&payment, .authorizationDeclined, actor: actor, detail: detail ?? "declined: \(reason)")
        try await settle(&operation, .failed, reason: reason)
        try await reply(PaymentDeclined(orderID: payment.orderID, reason: reason), to: operation.replyTo, payment)
        if var waiting = try await blockedVoid(of: payment) {
            // The saga asked for a void: from its side nothing is held any more.
            try await reply(PaymentVoided(orderID: payment.orderID), to: waiting.replyTo, payment)
            if mayHoldFunds {
                waiting.kind = .release
                waiting.state = .due
                waiting.nextAttemptAt = now
                try await release(&waiting)
            } else {
                try await settle(&waiting, .succeeded, reason: "nothing to void")
            }
        } else if mayHoldFunds {
            try await PaymentRecords.insert(
                PaymentOperation(
                    id: UUID.v7(at: now).lowercased, paymentID: payment.id, kind: .release, subject: payment.id, state: .due,
                    nextAttemptAt: now, replyTo: [], now: now),
                in: db)
        }
    }

    private func settleRefund(
        _ answer: ProviderOutcome, _ operation: inout PaymentOperation, _ payment: inout Payment, actor: String
    ) async throws -> String {
        guard let refundID = operation.refundID, var refund = try await PaymentRecords.refund(id: refundID, in: db) else {
            throw CorruptRow(column: "refund_id", value: operation.refundID ?? "nil")
        }
        refund.updatedAt = now
        guard case .approved(let reference) = answer else {
            refund.state = .failed
            refund.failureReason = answer.declineReason
            try await PaymentRecords.update(refund, in: db)
            try await settle(&operation, .failed, reason: answer.declineReason)
            return "refund_failed"
        }
        operation.providerReference = reference
        refund.state = .succeeded
        try await PaymentRecords.update(refund, in: db)
        let refunded = payment.refundedCents + refund.amountCents
        try await move(
            &payment, .refundSettled(refundedCents: refunded, capturedCents: payment.amountCents), actor: actor,
            refundID: refundID, detail: "refunded \(refund.amountCents)")
        payment.refundedCents = refunded
        try await PaymentRecords.update(payment, in: db)
        try await settle(&operation, .succeeded)
        try await Outbox.enqueue(
            try Envelope(
                PaymentRefunded(
                    orderID: payment.orderID, paymentID: payment.id, customerID: payment.customerID, refundID: refundID,
                    amountCents: refund.amountCents, currency: payment.currency),
                source: Self.source, at: now, key: payment.orderID, correlationID: payment.orderID),
            in: db)
        return "refunded"
    }

    /// Applies `event` to the payment, saves it and audits the change. A transition the state
    /// machine refuses is a bug or a contradiction: it throws (and the transaction rolls back).
    private func move(
        _ payment: inout Payment, _ event: PaymentEvent, actor: String = Actor.system, refundID: String? = nil,
        detail: String
    ) async throws {
        let from = payment.state
        switch from.apply(event) {
        case .applied(let next):
            payment.state = next
        case .duplicate, .deferred:
            return
        case .rejected(let reason):
            throw PaymentConflict(code: "invalid_transition", description: "payment \(payment.id): \(reason)")
        }
        payment.updatedAt = now
        try await PaymentRecords.update(payment, in: db)
        try await audit(payment, "state_changed", actor: actor, refundID: refundID, from: from, to: payment.state, detail: detail)
    }

    private func settle(_ operation: inout PaymentOperation, _ state: OperationState, reason: String? = nil) async throws {
        operation.state = state
        operation.outcomeReason = reason
        operation.nextAttemptAt = nil
        try await release(&operation)
    }

    /// Clears the claim and saves the operation.
    private func release(_ operation: inout PaymentOperation) async throws {
        operation.claimToken = nil
        operation.claimedUntil = nil
        operation.updatedAt = now
        try await PaymentRecords.update(operation, in: db)
    }

    private func addWaiter(_ address: ReplyAddress, to operation: PaymentOperation) async throws {
        var operation = operation
        guard !operation.replyTo.contains(address) else { return }
        operation.replyTo.append(address)
        operation.updatedAt = now
        try await PaymentRecords.update(operation, in: db)
    }

    private func insertVoid(for payment: Payment, state: OperationState, replyTo: [ReplyAddress]) async throws {
        try await PaymentRecords.insert(
            PaymentOperation(
                id: UUID.v7(at: now).lowercased, paymentID: payment.id, kind: .void, subject: payment.id, state: state,
                nextAttemptAt: state == .due ? now : nil, replyTo: replyTo, now: now),
            in: db)
    }

    private func operation(_ kind: OperationKind, of payment: Payment) async throws -> PaymentOperation {
        guard let operation = try await PaymentRecords.operations(paymentID: payment.id, in: db).first(where: { $0.kind == kind })
        else { throw CorruptRow(column: "payment_operations.kind", value: "no \(kind.rawValue) for \(payment.id)") }
        return operation
    }

    private func blockedVoid(of payment: Payment) async throws -> PaymentOperation? {
        try await PaymentRecords.operations(paymentID: payment.id, in: db).first { $0.kind == .void && $0.state == .blocked }
    }

    private func isLive(_ claimedUntil: Date?) -> Bool {
        claimedUntil.map { $0 > now } ?? false
    }

    private func reply<Message: MessageContract>(
        _ message: Message, to addresses: [ReplyAddress], _ payment: Payment
    )
        async throws
    {
        let envelopes = try addresses.map { address in
            try Envelope(
                message, source: Self.source, at: now, key: payment.orderID, correlationID: address.correlationID,
                causationID: address.messageID, traceparent: address.traceparent)
        }
        try await Outbox.enqueue(envelopes, in: db)
    }

    func audit(
        _ payment: Payment, _ type: String, actor: String = Actor.system, refundID: String? = nil, from: PaymentState? = nil,
        to: PaymentState? = nil, detail: String
    ) async throws {
        try await PaymentRecords.append(
            PaymentAuditEvent(
                id: UUID.v7(at: now).lowercased, paymentID: payment.id, refundID: refundID, type: type, actor: actor,
                fromState: from?.rawValue, toState: to?.rawValue, detail: detail, at: now),
            in: db)
    }
}

extension ProviderOutcome {
    var declineReason: String? {
        if case .declined(let reason) = self { return reason }
        return nil
    }
}

// MARK: - Webhooks

extension PaymentWorkflow {
    enum WebhookResult: String {
        case processed, duplicate, unknown
    }

    /// Settles the operation the provider answered `pending` for, from its webhook. Idempotent:
    /// a webhook for an operation already settled (a repeat, or the processor asked first) changes
    /// nothing.
    func settleFromWebhook(reference: String, outcome: ProviderOutcome) async throws -> WebhookResult {
        guard let found = try await PaymentRecords.operation(reference: reference, in: db),
            var payment = try await PaymentRecords.payment(id: found.paymentID, forUpdate: true, in: db),
            var operation = try await PaymentRecords.operation(id: found.id, forUpdate: true, in: db)
        else { return .unknown }
        try await audit(
            payment, "webhook_received", actor: Actor.provider, refundID: operation.refundID, detail: "\(reference): \(outcome)")
        guard operation.state == .waiting || operation.state == .due else { return .duplicate }
        if case .pending = outcome { return .duplicate }
        _ = try await record(outcome, for: &operation, payment: &payment, actor: Actor.provider)
        return .processed
    }
}
