import Foundation
import Testing

@testable import Payments

/// Whether a refund or a review decision may go ahead: pure rules, no database.
@Suite("Refund and review rules")
struct RefundRulesTests {
    static func refund(_ cents: Int64, _ state: Refund.State) -> Refund {
        Refund(
            id: UUID().uuidString, paymentID: "p", amountCents: cents, reason: "r", state: state, requestedBy: "admin:a",
            createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0))
    }

    @Test func onlyCapturedMoneyIsRefunded() {
        for state in [PaymentState.pending, .inReview, .authorized, .voided, .declined] {
            #expect(RefundRules.refusal(state: state, capturedCents: 10_000, refunds: [], amountCents: 1) == .notCaptured(state))
        }
        #expect(RefundRules.refusal(state: .captured, capturedCents: 10_000, refunds: [], amountCents: 10_000) == nil)
    }

    @Test func refundsNeverExceedTheCaptureFailedOnesNotCounting() {
        let earlier = [Self.refund(6_000, .succeeded), Self.refund(1_000, .pending), Self.refund(9_000, .failed)]
        #expect(
            RefundRules.refusal(state: .partiallyRefunded, capturedCents: 10_000, refunds: earlier, amountCents: 3_000) == nil)
        #expect(
            RefundRules.refusal(state: .partiallyRefunded, capturedCents: 10_000, refunds: earlier, amountCents: 3_001)
                == .exceedsCaptured(availableCents: 3_000))
    }

    @Test func onlyAPaymentInReviewIsDecided() {
        #expect(ReviewRules.refusal(state: .inReview) == nil)
        #expect(ReviewRules.refusal(state: .authorized)?.code == "not_in_review")
    }
}
