import Foundation
import MalhaCore
import Testing

@testable import Payments

@Suite("Payments domain")
struct PaymentsDomainTests {
    // MARK: State machine

    @Test func theHappyPathAndItsRepeats() {
        #expect(PaymentState.pending.apply(.authorizationApproved) == .applied(.authorized))
        #expect(PaymentState.authorized.apply(.captureRequested) == .applied(.capturing))
        #expect(PaymentState.capturing.apply(.captureRequested) == .duplicate)
        #expect(PaymentState.capturing.apply(.captureApproved) == .applied(.captured))
        for captured in [PaymentState.captured, .partiallyRefunded, .refunded] {
            #expect(captured.apply(.captureRequested) == .duplicate, "\(captured)")
        }
        #expect(PaymentState.captured.apply(.captureApproved) != .applied(.captured), "captured once")
    }

    @Test func voidsDependOnWhereThePaymentIs() {
        #expect(PaymentState.authorized.apply(.voidRequested) == .applied(.voiding))
        #expect(PaymentState.pending.apply(.voidRequested) == .deferred, "wait for the authorization in flight")
        #expect(PaymentState.pending.apply(.voidedBeforeAuthorization) == .applied(.voided))
        #expect(PaymentState.inReview.apply(.voidRequested) == .applied(.voided))
        #expect(PaymentState.voiding.apply(.voidSettled) == .applied(.voided))
        for settled in [PaymentState.voided, .declined, .voiding] {
            #expect(settled.apply(.voidRequested) == .duplicate, "\(settled)")
        }
        for captured in [PaymentState.capturing, .captured, .refunded] {
            guard case .rejected = captured.apply(.voidRequested) else {
                Issue.record("a \(captured) payment must not be voided")
                continue
            }
        }
    }

    @Test func reviewAndDeclines() {
        #expect(PaymentState.pending.apply(.flaggedForReview) == .applied(.inReview))
        #expect(PaymentState.inReview.apply(.reviewApproved) == .applied(.pending))
        #expect(PaymentState.inReview.apply(.authorizationDeclined) == .applied(.declined))
        #expect(PaymentState.pending.apply(.authorizationDeclined) == .applied(.declined))
        guard case .rejected = PaymentState.declined.apply(.captureRequested) else {
            Issue.record("a declined payment cannot be captured")
            return
        }
    }

    @Test func refundsNeverExceedTheCapture() {
        #expect(
            PaymentState.captured.apply(.refundSettled(refundedCents: 400, capturedCents: 1_000)) == .applied(.partiallyRefunded))
        #expect(
            PaymentState.partiallyRefunded.apply(.refundSettled(refundedCents: 1_000, capturedCents: 1_000))
                == .applied(.refunded))
        guard case .rejected = PaymentState.captured.apply(.refundSettled(refundedCents: 1_001, capturedCents: 1_000)) else {
            Issue.record("refunds beyond the capture")
            return
        }
        guard case .rejected = PaymentState.authorized.apply(.refundSettled(refundedCents: 1, capturedCents: 1_000)) else {
            Issue.record("a refund of money never captured")
            return
        }
    }

    // MARK: Antifraud

    let policy = AntifraudPolicy(
        maxAmountCents: 100_000, reviewAboveCents: 50_000, supportedCurrencies: ["BRL"], velocityReviewAbove: 3,
        velocityDenyAbove: 6, distinctMethodsReviewAbove: 2)

    @Test func antifraudApprovesOrdinaryPayments() {
        #expect(
            Antifraud.evaluate(AntifraudInput(amountCents: 10_000, currency: "BRL", paymentMethod: "pm_a"), policy: policy)
                == .approve)
        #expect(
            Antifraud.evaluate(AntifraudInput(amountCents: 50_000, currency: "BRL", paymentMethod: nil), policy: policy)
                == .approve)
    }

    @Test func antifraudAmountLimits() {
        #expect(
            Antifraud.evaluate(AntifraudInput(amountCents: 50_001, currency: "BRL", paymentMethod: nil), policy: policy)
                == .review(reasons: ["amount_high"]))
        #expect(
            Antifraud.evaluate(AntifraudInput(amountCents: 100_001, currency: "BRL", paymentMethod: nil), policy: policy)
                == .deny(reasons: ["amount_over_limit"]))
    }

    @Test func antifraudVelocityAndMismatches() {
        let busy = AntifraudInput(amountCents: 100, currency: "BRL", paymentMethod: "pm_a", recentAuthorizations: 4)
        #expect(Antifraud.evaluate(busy, policy: policy) == .review(reasons: ["velocity_high"]))
        var frantic = busy
        frantic.recentAuthorizations = 7
        #expect(Antifraud.evaluate(frantic, policy: policy) == .deny(reasons: ["velocity_exceeded"]))
        let foreign = AntifraudInput(amountCents: 100, currency: "USD", paymentMethod: nil)
        #expect(Antifraud.evaluate(foreign, policy: policy) == .deny(reasons: ["currency_not_supported"]))
        let cardTester = AntifraudInput(
            amountCents: 100, currency: "BRL", paymentMethod: "pm_c", recentAuthorizations: 2,
            recentPaymentMethods: ["pm_a", "pm_b"])
        #expect(Antifraud.evaluate(cardTester, policy: policy) == .review(reasons: ["many_payment_methods"]))
        // Deny wins, and every rule that fired is reported.
        let everything = AntifraudInput(
            amountCents: 60_000, currency: "EUR", paymentMethod: "pm_c", recentPaymentMethods: ["pm_a", "pm_b"])
        #expect(
            Antifraud.evaluate(everything, policy: policy)
                == .deny(reasons: ["currency_not_supported", "amount_high", "many_payment_methods"]))
    }

    // MARK: Retries

    /// Always draws the top of the range, so the jittered delay equals its ceiling.
    struct MaximalGenerator: RandomNumberGenerator {
        mutating func next() -> UInt64 { .max }
    }

    @Test func authorizationsGiveUpButMoneyAlreadyHeldKeepsTrying() {
        let schedule = RetrySchedule(backoff: Backoff(base: .seconds(1), cap: .seconds(8)), maxAttempts: 4)
        var generator = MaximalGenerator()
        var delays: [Duration] = []
        for attempt in 1...3 {
            guard case .retry(let delay) = schedule.decide(kind: .authorize, attempts: attempt, using: &generator) else {
                Issue.record("attempt \(attempt) should retry")
                return
            }
            delays.append(delay)
        }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4)], "exponential")
        #expect(schedule.decide(kind: .authorize, attempts: 4, using: &generator) == .giveUp)
        for kind in [OperationKind.capture, .void, .refund, .release] {
            #expect(
                schedule.decide(kind: kind, attempts: 50, using: &generator) == .retry(after: .seconds(8)), "\(kind) at the cap")
        }
    }

    @Test func idempotencyKeysNameTheOperation() {
        #expect(OperationKind.authorize.idempotencyKey(subject: "p1") == "authorize:p1")
        #expect(OperationKind.capture.idempotencyKey(subject: "p1") == "capture:p1")
        #expect(OperationKind.void.idempotencyKey(subject: "p1") == "void:p1")
        #expect(OperationKind.release.idempotencyKey(subject: "p1") == "void:p1", "a release is the same void")
        #expect(OperationKind.refund.idempotencyKey(subject: "r1") == "refund:r1")
    }

    // MARK: Webhook signatures and HTTP answers

    @Test func webhookSignaturesHoldOnlyForTheSameBodySecretAndTime() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let body = Data(#"{"reference":"r1","status":"approved"}"#.utf8)
        let header = WebhookSignature.sign(body: body, secret: "s3cret", timestamp: now)
        try WebhookSignature.verify(header: header, body: body, secret: "s3cret", now: now.addingTimeInterval(299))
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try WebhookSignature.verify(header: header, body: Data("{}".utf8), secret: "s3cret", now: now)
        }
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try WebhookSignature.verify(header: header, body: body, secret: "other", now: now)
        }
        #expect(throws: WebhookSignature.Failure.stale) {
            try WebhookSignature.verify(header: header, body: body, secret: "s3cret", now: now.addingTimeInterval(301))
        }
        for malformed in [nil, "", "t=1", "v1=abc", "t=x,v1=00"] {
            #expect(throws: WebhookSignature.Failure.malformed) {
                try WebhookSignature.verify(header: malformed, body: body, secret: "s3cret", now: now)
            }
        }
        // A secret rotation: the old and the new signature side by side still verify.
        let rotated =
            WebhookSignature.sign(body: body, secret: "old", timestamp: now) + ",v1="
            + header.split(separator: "=").last!
        try WebhookSignature.verify(header: rotated, body: body, secret: "s3cret", now: now)
        // A thousand v1= entries would cost a thousand HMACs over the body: refused unread, even
        // with the valid one among them.
        let decoy = ",v1=" + String(repeating: "0", count: 64)
        let flooded = header + String(repeating: decoy, count: 1000)
        #expect(throws: WebhookSignature.Failure.malformed) {
            try WebhookSignature.verify(header: flooded, body: body, secret: "s3cret", now: now)
        }
        let five = header + String(repeating: decoy, count: WebhookSignature.maxSignatures)
        #expect(five.utf8.count <= 1024)
        #expect(throws: WebhookSignature.Failure.malformed) {
            try WebhookSignature.verify(header: five, body: body, secret: "s3cret", now: now)
        }
    }

    @Test func httpAnswersMapToOutcomes() throws {
        typealias Answer = HTTPPaymentProvider.Answer
        #expect(
            try HTTPPaymentProvider.outcome(status: 200, answer: Answer(status: "approved", reference: "r"), path: "/x")
                == .approved(reference: "r"))
        #expect(
            try HTTPPaymentProvider.outcome(status: 200, answer: Answer(status: "declined", reason: "card_declined"), path: "/x")
                == .declined(reason: "card_declined"))
        #expect(
            try HTTPPaymentProvider.outcome(status: 202, answer: Answer(status: "pending", reference: "r"), path: "/x")
                == .pending(reference: "r"))
        #expect(
            try HTTPPaymentProvider.outcome(
                status: 402, answer: Answer(status: "declined", reason: "insufficient_funds"), path: "/x")
                == .declined(reason: "insufficient_funds"))
        #expect(try HTTPPaymentProvider.outcome(status: 404, answer: nil, path: "/x") == .declined(reason: "provider_rejected"))
        for status in [408, 429, 500, 503] {
            #expect(throws: ProviderUnavailable.self) { try HTTPPaymentProvider.outcome(status: status, answer: nil, path: "/x") }
        }
        #expect(throws: ProviderUnavailable.self) {
            try HTTPPaymentProvider.outcome(status: 200, answer: Answer(status: "pending"), path: "/x")
        }
    }
}
