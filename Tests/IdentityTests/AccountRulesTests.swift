import Foundation
import MalhaCore
import MalhaTesting
import Testing

@testable import Identity

@Suite("Identity: domain rules")
struct AccountRulesTests {
    @Test func emailsAreNormalisedAndChecked() {
        #expect(AccountRules.normalizeEmail("  Ana@Example.COM\n") == "ana@example.com")
        #expect(AccountRules.emailProblem("ana@example.com") == nil)
        for bad in ["", "ana", "ana@", "@example.com", "ana@example", "a b@example.com", "ana@@example.com", "ana@example..com"] {
            #expect(AccountRules.emailProblem(bad) != nil, "\(bad)")
        }
        #expect(AccountRules.emailProblem(String(repeating: "a", count: 250) + "@x.io") != nil)
    }

    @Test func passwordsNeedLengthAndMustNotBeCommon() {
        #expect(AccountRules.passwordProblem("eleven-char") != nil)
        #expect(AccountRules.passwordProblem("twelve-chars") == nil)
        #expect(AccountRules.passwordProblem("QWERTYUIOP123") != nil)
        #expect(AccountRules.passwordProblem(String(repeating: "x", count: 73)) != nil)
        #expect(CommonPasswords.list.count >= 100)
        #expect(CommonPasswords.list.allSatisfy { $0 == $0.lowercased() })
    }

    @Test func rolesMustBeAssignable() {
        #expect(AccountRules.rolesProblem([Role.customer, Role.courier]) == nil)
        #expect(AccountRules.rolesProblem(["root"]) != nil)
        #expect(AccountRules.rolesProblem([]) != nil)
    }

    @Test func throttleSlidesItsWindow() {
        let clock = ManualClock()
        let throttle = LoginThrottle(
            policy: .init(window: .seconds(60), maxFailuresPerAccount: 2, maxFailuresPerAddress: 10), clock: clock)
        throttle.recordFailure(account: "a", address: "ip")
        clock.advance(by: .seconds(30))
        throttle.recordFailure(account: "a", address: "ip")
        #expect(throttle.retryAfter(account: "a", address: "ip") == 30)
        #expect(throttle.retryAfter(account: "b", address: "ip") == nil)
        clock.advance(by: .seconds(30))
        #expect(throttle.retryAfter(account: "a", address: "ip") == nil)  // the first failure left the window
        throttle.recordFailure(account: "a", address: "ip")
        #expect(throttle.retryAfter(account: "a", address: "ip") == 30)
        throttle.recordSuccess(account: "a")
        #expect(throttle.retryAfter(account: "a", address: "ip") == nil)
    }
}
