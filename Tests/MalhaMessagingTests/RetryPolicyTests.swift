import MalhaMessaging
import Testing

/// A consumer's retry-or-dead-letter decision, without a transport or a clock.
@Suite("Retry policy decisions")
struct RetryPolicyTests {
    let policy = RetryPolicy(base: .milliseconds(100), cap: .seconds(2), maxAttempts: 4)

    @Test func aDeliveryPastTheLastAttemptIsNotHandledAgain() {
        #expect(policy.beforeHandling(attempt: 1) == nil)
        #expect(policy.beforeHandling(attempt: 4) == nil)
        guard case .deadLetter(let reason)? = policy.beforeHandling(attempt: 5) else {
            Issue.record("attempt 5 of 4 must be dead-lettered")
            return
        }
        #expect(reason == "attempt 5 exceeds 4: lease lapsed")
    }

    @Test func aPermanentFailureIsDeadLetteredAtOnce() {
        #expect(policy.afterFailure(.permanent("bad payload"), attempt: 1) == .deadLetter(reason: "bad payload"))
    }

    @Test func aTransientFailureRetriesWithinTheBackoffUntilTheLastAttempt() {
        for attempt in 1...3 {
            guard case .retry(let delay) = policy.afterFailure(.transient("store down"), attempt: attempt) else {
                Issue.record("attempt \(attempt) must retry")
                continue
            }
            #expect(delay >= .zero && delay <= policy.backoff.ceiling(attempt: attempt - 1), "attempt \(attempt): \(delay)")
        }
        #expect(policy.afterFailure(.transient("store down"), attempt: 4) == .deadLetter(reason: "store down"))
    }

    @Test func theWaitDoublesUpToTheCap() {
        #expect(policy.backoff.ceiling(attempt: 0) == .milliseconds(100))
        #expect(policy.backoff.ceiling(attempt: 2) == .milliseconds(400))
        #expect(policy.backoff.ceiling(attempt: 10) == .seconds(2))
    }
}
