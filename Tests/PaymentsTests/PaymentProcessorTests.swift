import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Payments

/// The handler and the processor driven step by step, with a clock that only moves when told.
@Suite("Payment processor", .serialized)
struct PaymentProcessorTests {
    @Test func authorizesDeclinesAndScreens() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await harness.authorize("ok")
            try await harness.authorize("declined", method: SimulatedProvider.declinedMethod)
            try await harness.authorize("broke", method: SimulatedProvider.insufficientFundsMethod)
            try await harness.authorize("fraud", amount: 20_000_000)  // above the default maximum
            try await harness.authorize("foreign", currency: "JPY")
            #expect(try await harness.replies(PaymentAuthorized.self).isEmpty, "the handler never calls the provider")
            #expect(try await harness.processor.processDue() == 5)

            let authorized = try await harness.replies(PaymentAuthorized.self)
            let ok = try #require(try await harness.payment(order: "ok"))
            #expect(authorized == [PaymentAuthorized(orderID: "ok", paymentID: ok.id)])
            #expect(ok.state == .authorized && ok.providerReference?.hasPrefix("sim_auth_") == true)
            let declined = Set(try await harness.replies(PaymentDeclined.self))
            #expect(
                declined == [
                    PaymentDeclined(orderID: "declined", reason: "card_declined"),
                    PaymentDeclined(orderID: "broke", reason: "insufficient_funds"),
                    PaymentDeclined(orderID: "fraud", reason: "fraud_suspected"),
                    PaymentDeclined(orderID: "foreign", reason: "fraud_suspected"),
                ])
            #expect(try await harness.payment(order: "fraud")?.fraudReasons == ["amount_over_limit"])
            // Replies keep the saga's correlation and name the command as their cause.
            let reply = try #require(try await harness.outbox().first { $0.type == PaymentAuthorized.type })
            #expect(reply.correlationID == "ok" && reply.causationID != nil && reply.key == "ok")
            #expect(try await harness.processor.processDue() == 0, "nothing left")
            // The audit trail tells the story.
            let trail = try await harness.events(order: "ok").map(\.type)
            #expect(trail == ["created", "screened", "provider_call", "state_changed"])
        }
    }

    @Test func aRepeatedAuthorizeGetsTheSameAnswerAndARedeliveryNone() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            let command = try harness.command(
                AuthorizePayment(orderID: "o1", customerID: "c1", amountCents: 5_000, currency: "BRL"), order: "o1")
            #expect(try await harness.deliver(command))
            #expect(try await !harness.deliver(command), "the inbox drops a redelivery")
            try await harness.authorize("o1", amount: 5_000, method: nil, customer: "c1")  // the saga asked again
            try await harness.processor.processDue()
            #expect(try await harness.replies(PaymentAuthorized.self).count == 2, "one answer per command")
            try await harness.authorize("o1", amount: 5_000, method: nil, customer: "c1")
            #expect(try await harness.replies(PaymentAuthorized.self).count == 3, "answered at once when decided")
            #expect(
                harness.simulated.calls(idempotencyKey: "authorize:\(try #require(try await harness.payment(order: "o1")).id)")
                    == 1)
            // The same order with another amount is a contradiction: dead letters, not a second payment.
            await #expect(throws: InvalidMessage.self) { try await harness.authorize("o1", amount: 9_999, customer: "c1") }
        }
    }

    @Test func aCaptureAskedTwiceCapturesOnceAndAnswersTwice() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await harness.authorize("o1")
            try await harness.processor.processDue()
            let first = try harness.command(CapturePayment(orderID: "o1"), order: "o1")
            try await harness.deliver(first)
            try await harness.deliver(harness.command(CapturePayment(orderID: "o1"), order: "o1"))  // saga timeout re-ask
            try await harness.processor.processDue()
            try await harness.deliver(harness.command(CapturePayment(orderID: "o1"), order: "o1"))  // after capture
            let payment = try #require(try await harness.payment(order: "o1"))
            #expect(payment.state == .captured)
            #expect(try await harness.simulated.captureCount(paymentID: payment.id) == 1)
            #expect(harness.simulated.calls(idempotencyKey: "capture:\(payment.id)") == 1)
            let captured = try await harness.outbox().filter { $0.type == PaymentCaptured.type }
            #expect(captured.count == 3)
            #expect(captured.first?.causationID == first.id)
            // Voiding a captured payment contradicts it.
            await #expect(throws: InvalidMessage.self) {
                try await harness.deliver(harness.command(VoidPayment(orderID: "o1"), order: "o1"))
            }
        }
    }

    @Test func aCrashBetweenTheCallAndItsRecordRepeatsTheCallWithTheSameKey() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await harness.authorize("o1")
            try await harness.processor.processDue()
            try await harness.deliver(harness.command(CapturePayment(orderID: "o1"), order: "o1"))
            let payment = try #require(try await harness.payment(order: "o1"))

            // The process claims the capture, calls the provider, and dies before recording.
            let claimed = try await harness.processor.claim()
            #expect(claimed.map(\.kind) == [.capture])
            let key = try #require(claimed.first).idempotencyKey
            #expect(key == "capture:\(payment.id)")
            _ = try await harness.simulated.capture(
                SettlementRequest(
                    paymentID: payment.id, authorizationReference: payment.providerReference, amountCents: payment.amountCents,
                    currency: payment.currency), idempotencyKey: key)

            // While the dead process's lease runs, nobody touches it…
            #expect(try await harness.processor.processDue() == 0)
            // …then a restarted process (or another replica) repeats the call with the same key.
            harness.clock.advance(by: harness.configuration.claimLease + .seconds(1))
            #expect(try await harness.processor.processDue() == 1)
            #expect(harness.simulated.calls(idempotencyKey: key) == 2)
            #expect(try await harness.simulated.captureCount(paymentID: payment.id) == 1, "the provider captured once")
            #expect(try await harness.payment(order: "o1")?.state == .captured)
            #expect(try await harness.replies(PaymentCaptured.self).count == 1)
            #expect(try await harness.operations(order: "o1").first { $0.kind == .capture }?.attempts == 2)
        }
    }

    @Test func transientFailuresRetryWithGrowingWaitsThenTheAuthorizationIsDeclined() async throws {
        try await TestDatabases.withEachBackend { store in
            let provider = UnavailableProvider()
            var configuration = PaymentsConfiguration(maxAttempts: 4, retryBase: .seconds(1), retryCap: .seconds(60))
            configuration.breaker = CircuitBreakerPolicy(consecutiveFailures: 0)  // this test is about retries
            let harness = try await PaymentsHarness.make(store: store, provider: provider, configuration: configuration)
            try await harness.authorize("o1")
            let backoff = Backoff(base: .seconds(1), cap: .seconds(60))
            for attempt in 1...3 {
                #expect(try await harness.processor.processDue() == 1)
                let operation = try #require(try await harness.operations(order: "o1").first)
                #expect(operation.attempts == attempt && operation.state == .due)
                let wait = try #require(operation.nextAttemptAt).timeIntervalSince(harness.clock.now())
                let ceiling = backoff.ceiling(attempt: attempt - 1)
                #expect(wait >= 0 && wait <= Double(ceiling.components.seconds), "attempt \(attempt) waits up to \(ceiling)")
                #expect(try await harness.processor.processDue() == 0, "not before its time")
                harness.clock.advance(by: ceiling)
            }
            #expect(try await harness.processor.processDue() == 1)
            #expect(provider.callCount == 4)
            #expect(Set(provider.calls.withLock { $0 }).count == 1, "every attempt with the same key")
            #expect(
                try await harness.replies(PaymentDeclined.self) == [
                    PaymentDeclined(orderID: "o1", reason: "provider_unavailable")
                ])
            let operations = try await harness.operations(order: "o1")
            #expect(operations.map(\.kind) == [.authorize, .release], "an attempt may have reached it: give any hold back")
            #expect(try await harness.payment(order: "o1")?.state == .declined)
            #expect(try await harness.events(order: "o1").filter { $0.type == "provider_call" }.count == 4)
        }
    }

    @Test func theBreakerOpensAfterFailuresAndSparesTheProvider() async throws {
        try await TestDatabases.withEachBackend { store in
            let provider = UnavailableProvider()
            var configuration = PaymentsConfiguration(maxAttempts: 10, retryBase: .seconds(1), retryCap: .seconds(1))
            configuration.breaker = CircuitBreakerPolicy(consecutiveFailures: 3, openDuration: .seconds(60))
            let harness = try await PaymentsHarness.make(
                store: store, provider: provider, configuration: configuration, batchSize: 1)
            for order in ["o1", "o2", "o3", "o4", "o5"] { try await harness.authorize(order) }
            // Until nothing is due: a failed attempt retries after a full-jitter delay that can round
            // to 0 ms, so one order may be tried twice before the others (the clock does not move).
            var rounds = 0
            while try await harness.processor.processDue() > 0, rounds < 20 { rounds += 1 }
            #expect(harness.guarded.breaker.state.gaugeValue == 2, "open")
            #expect(provider.callCount == 3, "once open, the provider is not called")
            var trail: [String] = []
            for order in ["o1", "o2", "o3", "o4", "o5"] { trail += try await harness.events(order: order).map(\.detail) }
            #expect(trail.contains { $0.contains("circuit breaker") }, "\(trail)")
            #expect(try await harness.replies(PaymentDeclined.self).isEmpty, "still retrying: attempts remain")
            // Refused calls were never sent: no attempt used, the next one at the breaker's probe time.
            var refused: [PaymentOperation] = []
            for order in ["o1", "o2", "o3", "o4", "o5"] { refused += try await harness.operations(order: order) }
            refused = refused.filter { $0.attempts == 0 }
            let sent = Set(provider.calls.withLock { $0 }).count
            #expect(refused.count == 5 - sent && refused.count >= 2, "every order not sent was refused")
            #expect(refused.allSatisfy { ($0.nextAttemptAt ?? .distantPast) >= harness.clock.now().addingTimeInterval(59) })
            // Once the open time is up, one probe goes through (and fails: open again).
            harness.clock.advance(by: .seconds(60))
            try await harness.processor.processDue()
            #expect(provider.callCount == 4)
            #expect(harness.guarded.breaker.state.gaugeValue == 2)
        }
    }

    @Test func reviewHoldsThePaymentUntilAnAdminDecides() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await harness.authorize("big", amount: 3_000_000)  // above review, below the maximum
            try await harness.authorize("bigger", amount: 4_000_000)
            try await harness.processor.processDue()
            #expect(try await harness.payment(order: "big")?.state == .inReview)
            #expect(try await harness.outbox().isEmpty, "no answer while in review")
            #expect(try await harness.processor.processDue() == 0)

            let approve = try #require(try await harness.payment(order: "big")).id
            let deny = try #require(try await harness.payment(order: "bigger")).id
            let now = harness.clock.now()
            _ = try await store.transaction { db in
                try await PaymentWorkflow(db: db, now: now).decideReview(paymentID: approve, approve: true, actor: "admin:a1")
            }
            _ = try await store.transaction { db in
                try await PaymentWorkflow(db: db, now: now).decideReview(paymentID: deny, approve: false, actor: "admin:a1")
            }
            try await harness.processor.processDue()
            #expect(try await harness.replies(PaymentAuthorized.self) == [PaymentAuthorized(orderID: "big", paymentID: approve)])
            #expect(
                try await harness.replies(PaymentDeclined.self) == [PaymentDeclined(orderID: "bigger", reason: "fraud_suspected")]
            )
            #expect(try await harness.events(order: "big").contains { $0.actor == "admin:a1" })
            await #expect(throws: PaymentConflict.self) {
                try await store.transaction { db in
                    try await PaymentWorkflow(db: db, now: now).decideReview(paymentID: approve, approve: true, actor: "admin:a1")
                }
            }
        }
    }

    @Test func voidsBeforeDuringAndAfterTheAuthorization() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            func void(_ order: String) async throws {
                try await harness.deliver(harness.command(VoidPayment(orderID: order), order: order))
            }
            // Before: nothing to void, and a late authorize is refused.
            try await void("early")
            try await harness.authorize("early")
            // Queued but never sent: voided on the spot.
            try await harness.authorize("queued")
            try await void("queued")
            // In flight: the void waits for the authorization, then voids it.
            try await harness.authorize("flight")
            _ = try await harness.processor.claim()
            try await void("flight")
            #expect(try await harness.payment(order: "flight")?.state == .pending)
            harness.clock.advance(by: harness.configuration.claimLease + .seconds(1))
            try await harness.processor.processDue()  // authorizes, then releases the void
            try await harness.processor.processDue()  // voids
            // After: an authorized payment voided through the provider.
            try await harness.authorize("late")
            try await harness.processor.processDue()
            try await void("late")
            try await void("late")  // repeated while voiding
            try await harness.processor.processDue()
            try await void("late")  // after

            for order in ["early", "queued", "flight", "late"] {
                #expect(try await harness.payment(order: order)?.state == .voided, "\(order)")
            }
            let voided = try await harness.replies(PaymentVoided.self).map(\.orderID)
            #expect(voided.sorted() == ["early", "flight", "late", "late", "late", "queued"])
            let declined = try await harness.replies(PaymentDeclined.self)
            #expect(
                Set(declined) == [
                    PaymentDeclined(orderID: "early", reason: "voided"), PaymentDeclined(orderID: "queued", reason: "voided"),
                ])
            #expect(try await harness.replies(PaymentAuthorized.self).map(\.orderID).sorted() == ["flight", "late"])
            #expect(
                harness.simulated.calls(
                    idempotencyKey: "authorize:\(try #require(try await harness.payment(order: "queued")).id)") == 0)
        }
    }

    @Test func theAuditTrailIsAppendOnly() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await harness.authorize("o1")
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in try await db.raw("UPDATE payment_events SET actor = 'someone'").run() }
            }
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in try await db.raw("DELETE FROM payment_events").run() }
            }
            #expect(try await harness.events(order: "o1").map(\.actor) == ["system"])
        }
    }
}
