import Foundation
import MalhaCore
import MalhaOpenAPI
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
        #expect(CommonPasswords.list.count >= 100)
        #expect(CommonPasswords.list.allSatisfy { $0 == $0.lowercased() })
    }

    /// Control characters (Cc) are refused, as the document's `not` says; format characters and
    /// other scripts are not.
    @Test func passwordsRefuseControlCharactersAsTheDocumentSays() throws {
        let document = IdentityService.openAPI
        let register = JSONSchema.reference("RegisterRequest")
        for (password, refused) in [
            ("\u{0}twelve-chars", true), ("twelve\u{1F}chars", true), ("twelve-chars\u{7F}", true),
            ("twelve\u{85}chars", true), ("twelve-chars\u{A0}", false), ("twelve\u{200B}chars", false),
            ("twelve-chars", false),
        ] {
            #expect((AccountRules.passwordProblem(password) != nil) == refused, "\(password.debugDescription)")
            let body: JSONValue = ["email": "a@example.com", "password": .string(password), "name": "A"]
            #expect(
                !document.validator.violations(of: body, against: register).isEmpty == refused, "\(password.debugDescription)")
        }
    }

    /// Lengths count Unicode scalars (JSON Schema's code points), not bytes or grapheme clusters.
    @Test func passwordLengthsCountUnicodeScalars() {
        #expect(AccountRules.passwordProblem(String(repeating: "€", count: 40)) == nil)  // 120 bytes
        #expect(AccountRules.passwordProblem(String(repeating: "x", count: 128)) == nil)
        #expect(AccountRules.passwordProblem(String(repeating: "😀", count: 128)) == nil)  // 512 bytes
        #expect(AccountRules.passwordProblem(String(repeating: "x", count: 129)) != nil)
        #expect(AccountRules.passwordProblem(String(repeating: "€", count: 129)) != nil)
        // 12 scalars, 6 characters (e + combining acute): long enough.
        #expect(AccountRules.passwordProblem(String(repeating: "e\u{301}", count: 6)) == nil)
        #expect(AccountRules.passwordProblem(String(repeating: "e\u{301}", count: 5) + "x") != nil)
    }

    @Test func onlyPasswordsLongerThanBcryptsBytesArePrehashed() {
        let short = BcryptInput(password: String(repeating: "x", count: 72))
        #expect(short == BcryptInput(password: String(repeating: "x", count: 72)))
        #expect(!short.isPrehashed && short.text == String(repeating: "x", count: 72))
        let euros = String(repeating: "€", count: 24)  // exactly 72 bytes
        #expect(!BcryptInput(password: euros).isPrehashed)

        let long = BcryptInput(password: euros + "a")
        #expect(long.isPrehashed)
        #expect(long.text.utf8.count == 44 && long.text.unicodeScalars.allSatisfy(\.isASCII))
        // The pre-hash covers the whole password, not its first 72 bytes.
        #expect(long.text != BcryptInput(password: euros + "b").text)
        #expect(long == BcryptInput(password: euros + "a"))
    }

    @Test func storedHashesSayWhetherThePasswordWasPrehashed() {
        let plain = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
        #expect(StoredPasswordHash(stored: plain) == StoredPasswordHash(bcrypt: plain, isPrehashed: false))
        #expect(StoredPasswordHash(stored: plain).stored == plain)
        let prehashed = StoredPasswordHash(bcrypt: plain, isPrehashed: true)
        #expect(prehashed.stored == "$hmac-sha256$" + plain)
        #expect(StoredPasswordHash(stored: prehashed.stored) == prehashed)
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
        #expect(throttle.retryAfter(account: "a", address: "other-ip") == nil, "locked for that address only")
        throttle.recordSuccess(account: "a", address: "ip")
        #expect(throttle.retryAfter(account: "a", address: "ip") == nil)
    }
}
