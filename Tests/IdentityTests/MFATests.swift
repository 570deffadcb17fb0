import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaOpenAPI
import MalhaTesting
import SQLKit
import Testing

@testable import Identity

/// TOTP itself (RFC 6238), without I/O.
@Suite("Identity: TOTP (RFC 6238)")
struct TOTPTests {
    /// RFC 6238 appendix B, the SHA-1 rows: the 20-byte ASCII secret, 8 digits.
    @Test(
        arguments: [
            (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"), (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ] as [(Int64, String)])
    func rfc6238Vectors(seconds: Int64, expected: String) {
        let totp = TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        #expect(totp.code(at: Date(timeIntervalSince1970: TimeInterval(seconds))) == expected)
    }

    /// RFC 4226 appendix D: HOTP of counters 0 and 1, six digits (what TOTP truncates to by default).
    @Test func rfc4226SixDigitCodes() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        #expect(totp.code(step: 0) == "755224")
        #expect(totp.code(step: 1) == "287082")
        #expect(totp.code(step: 9) == "520489")
    }

    @Test func base32FollowsRFC4648() {
        for (plain, encoded) in [
            ("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(Base32.decode(encoded) == Array(plain.utf8))
            #expect(Base32.decode(encoded.lowercased() + "======") == Array(plain.utf8))
        }
        #expect(Base32.decode("MZXW1") == nil, "1 is not in the alphabet")
        let secret = TOTP.generateSecret()
        #expect(secret.count == 20 && Base32.decode(Base32.encode(secret)) == secret)
    }

    @Test func aCodeIsAcceptedOneStepEitherSideAndNoFurther() {
        let totp = TOTP(secret: TOTP.generateSecret())
        let now = Date(timeIntervalSince1970: 1_767_225_615)
        let step = totp.step(at: now)
        for offset in -1...1 {
            #expect(
                totp.acceptedStep(for: totp.code(step: step + Int64(offset)), at: now, lastAcceptedStep: nil) == step
                    + Int64(offset))
        }
        for offset in [-3, -2, 2, 3] {
            let code = totp.code(step: step + Int64(offset))
            // A code of a far step could collide with one in the window (1 in 10^6 each): skip that case.
            guard !(-1...1).contains(where: { totp.code(step: step + Int64($0)) == code }) else { continue }
            #expect(totp.acceptedStep(for: code, at: now, lastAcceptedStep: nil) == nil, "offset \(offset)")
        }
        #expect(totp.acceptedStep(for: "12345", at: now, lastAcceptedStep: nil) == nil)
        #expect(totp.acceptedStep(for: "abcdef", at: now, lastAcceptedStep: nil) == nil)
    }

    @Test func theReplayRuleRefusesTheLastAcceptedStepAndEveryOlderOne() {
        #expect(!TOTP.isReplay(step: 10, lastAcceptedStep: nil))
        #expect(!TOTP.isReplay(step: 11, lastAcceptedStep: 10))
        #expect(TOTP.isReplay(step: 10, lastAcceptedStep: 10))
        #expect(TOTP.isReplay(step: 9, lastAcceptedStep: 10))

        let totp = TOTP(secret: TOTP.generateSecret())
        let now = Date(timeIntervalSince1970: 1_767_225_615)
        let step = totp.step(at: now)
        #expect(totp.acceptedStep(for: totp.code(step: step), at: now, lastAcceptedStep: step) == nil)
        #expect(totp.acceptedStep(for: totp.code(step: step - 1), at: now, lastAcceptedStep: step) == nil)
        #expect(totp.acceptedStep(for: totp.code(step: step + 1), at: now, lastAcceptedStep: step) == step + 1)
    }

    @Test func theProvisioningURINamesTheIssuerAndTheAccount() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        #expect(
            totp.provisioningURI(issuer: "Malha", account: "ana+mfa@example.com")
                == "otpauth://totp/Malha:ana%2Bmfa@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Malha"
                + "&algorithm=SHA1&digits=6&period=30")
    }

    @Test func recoveryCodesAreTenDistinctEightyBitCodes() {
        let codes = RecoveryCode.generate()
        #expect(codes.count == 10 && Set(codes).count == 10)
        for code in codes {
            #expect(code.range(of: "^[a-z2-7]{4}(-[a-z2-7]{4}){3}$", options: .regularExpression) != nil, "\(code)")
            #expect(
                RecoveryCode.normalize(code.uppercased().replacingOccurrences(of: "-", with: " ")) == RecoveryCode.normalize(code)
            )
        }
    }
}

/// Enrolment, the login's second step, recovery codes, and the operations that need a second factor.
@Suite("Identity: MFA")
struct MFARoutesTests {
    @Test func enrolmentIsPendingUntilAFirstCodeConfirmsIt() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let session = try await client.session("ada@example.com")
            #expect(
                try await client.post("/v1/auth/mfa/enrolment/confirm", ["code": "123456"], token: session.access).code
                    == "mfa_enrolment_not_started")
            let first = try await client.post("/v1/auth/mfa/enrolment", [:], token: session.access)
            #expect(first.status == .created)
            #expect(first.headers[.cacheControl] == "no-store")
            let uri = try #require(first.string("otpauth_uri"))
            #expect(
                uri.hasPrefix("otpauth://totp/Malha:ada@example.com?secret=\(try #require(first.string("secret")))&issuer=Malha"))
            // Enrolling again while pending replaces the secret: the first one's codes stop counting.
            let second = try await client.post("/v1/auth/mfa/enrolment", [:], token: session.access)
            #expect(second.status == .created)
            #expect(second.string("secret") != first.string("secret"))
            let stale = try enrolledFactor(first)
            let now = harness.clock.now()
            let wrong = try await client.post(
                "/v1/auth/mfa/enrolment/confirm", ["code": stale.code(at: now)], token: session.access)
            #expect(wrong.status == .unprocessableContent && wrong.code == "invalid_mfa_code")
            // Until confirmed, the password alone still logs in.
            #expect(try await client.login("ada@example.com", "a-long-enough-password").string("access_token") != nil)

            let totp = try enrolledFactor(second)
            let confirmed = try await client.post(
                "/v1/auth/mfa/enrolment/confirm", ["code": totp.code(at: now)], token: session.access)
            #expect(confirmed.status == .ok)
            #expect((confirmed.json["recovery_codes"] as? [String])?.count == 10)
            #expect(try await client.post("/v1/auth/mfa/enrolment", [:], token: session.access).code == "mfa_already_enabled")
            #expect(
                try await client.post("/v1/auth/mfa/enrolment/confirm", ["code": totp.code(at: now)], token: session.access)
                    .status == .conflict)

            let login = try await client.login("ada@example.com", "a-long-enough-password")
            #expect(login.status == .ok)
            #expect(login.json["mfa_required"] as? Bool == true)
            #expect(login.json["expires_in"] as? Int == 300)
            #expect(login.string("access_token") == nil && login.string("refresh_token") == nil)
            #expect(login.string("mfa_token") != nil)
        }
        let events = try await harness.repository.auditRecords().map(\.event)
        #expect(events.contains("mfa_enrolment_started") && events.contains("mfa_enabled"))
    }

    @Test func theSecondStepIssuesTokensWithOTPAndARefreshKeepsIt() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            // Without MFA: amr pwd, through a refresh too.
            let plain = try await client.session("bea@example.com")
            #expect(try await harness.verifier().verify(plain.access).authenticationMethods == ["pwd"])
            let plainRefreshed = try await client.post("/v1/auth/refresh", ["refresh_token": plain.refresh])
            let plainPrincipal = try await harness.verifier().verify(try #require(plainRefreshed.string("access_token")))
            #expect(plainPrincipal.authenticationMethods == ["pwd"] && !plainPrincipal.hasSecondFactor)

            let (totp, _) = try await harness.enrolMFA(client, email: "bea@example.com", password: "a-long-enough-password")
            let session = try await harness.loginWithSecondFactor(
                client, totp: totp, email: "bea@example.com", password: "a-long-enough-password")
            let principal = try await harness.verifier().verify(session.access)
            #expect(principal.authenticationMethods == ["pwd", "otp"] && principal.hasSecondFactor)

            harness.clock.advance(by: .seconds(60))
            let refreshed = try await client.post("/v1/auth/refresh", ["refresh_token": session.refresh])
            #expect(refreshed.status == .ok)
            let again = try await harness.verifier().verify(try #require(refreshed.string("access_token")))
            #expect(again.hasSecondFactor, "the family keeps the amr of its login")
            let twice = try await client.post(
                "/v1/auth/refresh", ["refresh_token": try #require(refreshed.string("refresh_token"))])
            #expect(try await harness.verifier().verify(try #require(twice.string("access_token"))).hasSecondFactor)
        }
    }

    @Test func aReplayedCodeIsRefusedWithinItsWindow() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let (totp, _) = try await harness.enrolMFA(client)
            harness.clock.advance(by: .seconds(30))
            let code = totp.code(at: harness.clock.now())
            let first = try await client.mfaToken()
            let accepted = try await client.post(
                "/v1/auth/login/mfa", ["mfa_token": first, "code": code])
            #expect(accepted.status == .ok)

            // The same code, ten seconds later (still its step): refused, on a fresh challenge.
            harness.clock.advance(by: .seconds(10))
            let secondToken = try await client.mfaToken()
            let replayed = try await client.post("/v1/auth/login/mfa", ["mfa_token": secondToken, "code": code])
            #expect(replayed.status == .unauthorized && replayed.code == "invalid_mfa_code")
            // The previous step's code is older still: refused too (it is inside the drift window).
            let older = try await client.post(
                "/v1/auth/login/mfa",
                ["mfa_token": secondToken, "code": totp.code(step: totp.step(at: harness.clock.now()) - 1)])
            #expect(older.code == "invalid_mfa_code")
            // The next step's code (30 s early: the drift window) is fresh.
            let next = try await client.post(
                "/v1/auth/login/mfa",
                ["mfa_token": secondToken, "code": totp.code(step: totp.step(at: harness.clock.now()) + 1)])
            #expect(next.status == .ok)
        }
    }

    @Test func anMFATokenIsSingleUseAndExpires() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let (totp, _) = try await harness.enrolMFA(client)
            harness.clock.advance(by: .seconds(30))
            let mfaToken = try await client.mfaToken()
            let first = try await client.post(
                "/v1/auth/login/mfa", ["mfa_token": mfaToken, "code": totp.code(at: harness.clock.now())])
            #expect(first.status == .ok)
            harness.clock.advance(by: .seconds(30))
            let reused = try await client.post(
                "/v1/auth/login/mfa", ["mfa_token": mfaToken, "code": totp.code(at: harness.clock.now())])
            #expect(reused.status == .unauthorized && reused.code == "invalid_mfa_token")

            let late = try await client.mfaToken()
            harness.clock.advance(by: .seconds(301))
            let expired = try await client.post(
                "/v1/auth/login/mfa",
                ["mfa_token": late, "code": totp.code(at: harness.clock.now())])
            #expect(expired.status == .unauthorized && expired.code == "invalid_mfa_token")
            // That code was not spent by the refusal: a fresh challenge takes it.
            let fresh = try await client.mfaToken()
            #expect(
                try await client.post(
                    "/v1/auth/login/mfa",
                    ["mfa_token": fresh, "code": totp.code(at: harness.clock.now())]
                ).status == .ok)

            let bad = try await client.post("/v1/auth/login/mfa", ["mfa_token": "nope", "code": "000000"])
            #expect(bad.code == "invalid_mfa_token")
            for body: [String: Any] in [
                ["mfa_token": mfaToken], ["mfa_token": mfaToken, "code": "123456", "recovery_code": "aaaa-bbbb-cccc-dddd"],
            ] {
                #expect(try await client.post("/v1/auth/login/mfa", body).code == "validation_failed")
            }
        }
    }

    @Test func fiveWrongCodesBurnTheChallengeAndCountAsFailedLogins() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let (totp, _) = try await harness.enrolMFA(client)
            harness.clock.advance(by: .seconds(30))
            let mfaToken = try await client.mfaToken()
            let right = totp.code(at: harness.clock.now())
            let wrong = right == "000000" ? "111111" : "000000"
            for _ in 0..<5 {
                let reply = try await client.post("/v1/auth/login/mfa", ["mfa_token": mfaToken, "code": wrong])
                #expect(reply.status == .unauthorized && reply.code == "invalid_mfa_code")
            }
            let burnt = try await client.post("/v1/auth/login/mfa", ["mfa_token": mfaToken, "code": right])
            #expect(burnt.code == "invalid_mfa_token")
            // The five count as failed logins from this address: the account is locked for it.
            let locked = try await client.login(IdentityHarness.adminEmail, IdentityHarness.adminPassword)
            #expect(locked.status == .tooManyRequests)
        }
        #expect(try await harness.repository.auditRecords(event: .mfaFailure).count == 5)
    }

    @Test func aRecoveryCodeLogsInOnce() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let (_, codes) = try await harness.enrolMFA(client)
            let user = try #require(try await harness.repository.user(email: IdentityHarness.adminEmail)).user
            #expect(try await harness.repository.unusedRecoveryCodes(userID: user.id) == 10)
            // As people type it: upper case, spaces for dashes.
            let typed = codes[3].uppercased().replacingOccurrences(of: "-", with: " ")
            let first = try await client.mfaToken()
            let used = try await client.post(
                "/v1/auth/login/mfa", ["mfa_token": first, "recovery_code": typed])
            #expect(used.status == .ok)
            #expect(try await harness.verifier().verify(try #require(used.string("access_token"))).hasSecondFactor)
            #expect(try await harness.repository.unusedRecoveryCodes(userID: user.id) == 9)

            let second = try await client.mfaToken()
            let spent = try await client.post(
                "/v1/auth/login/mfa", ["mfa_token": second, "recovery_code": codes[3]])
            #expect(spent.status == .unauthorized && spent.code == "invalid_mfa_code")
            #expect(try await harness.repository.unusedRecoveryCodes(userID: user.id) == 9)
        }
        #expect(try await harness.repository.auditRecords(event: .recoveryCodeUsed).count == 1)
    }

    @Test func neitherRecoveryCodesNorTheSecretAreStoredInTheClear() async throws {
        let harness = try await IdentityHarness.make()
        let (secret, codes) = try await harness.test { client in
            let token = try await client.adminToken()
            let enrolment = try await client.post("/v1/auth/mfa/enrolment", [:], token: token)
            let secret = try #require(enrolment.string("secret"))
            let totp = TOTP(secret: try #require(Base32.decode(secret)))
            let confirmed = try await client.post(
                "/v1/auth/mfa/enrolment/confirm", ["code": totp.code(at: harness.clock.now())], token: token)
            return (secret, try #require(confirmed.json["recovery_codes"] as? [String]))
        }
        let stored = try await harness.store.read { db in
            let factors = try await db.raw("SELECT secret_sealed FROM mfa_factors").all()
            let codes = try await db.raw("SELECT code_hash FROM mfa_recovery_codes").all()
            return (
                try factors.map { try $0.decode(column: "secret_sealed", as: String.self) },
                try codes.map { try $0.decode(column: "code_hash", as: String.self) }
            )
        }
        #expect(stored.0.count == 1 && KeyEncryptionKey.isSealed(stored.0[0]) && !stored.0[0].contains(secret))
        #expect(stored.1.count == 10)
        for code in codes {
            #expect(!stored.1.contains(code) && !stored.1.contains(RecoveryCode.normalize(code)))
            #expect(stored.1.contains(Secrets.hash(RecoveryCode.normalize(code))))
        }
    }

    @Test func roleChangesAndKeyRotationNeedTheAdminsSecondFactor() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let customer = try await client.session("cy@example.com")
            let id = try #require(try await client.send(.get, "/v1/auth/me", token: customer.access).string("id"))
            let body = #"{"roles": ["customer", "finance"]}"#
            let passwordOnly = try await client.adminToken()
            let roles = try await client.send(.put, "/v1/users/\(id)/roles", body: body, token: passwordOnly)
            #expect(roles.status == .forbidden && roles.code == "mfa_required")
            let rotation = try await client.post("/v1/auth/keys/rotate", [:], token: passwordOnly)
            #expect(rotation.status == .forbidden && rotation.code == "mfa_required")
            // What does not change who may do what stays open to the password alone.
            #expect(try await client.send(.get, "/v1/users", token: passwordOnly).status == .ok)

            let admin = try await harness.secondFactorAdminToken(client)
            #expect(try await client.send(.put, "/v1/users/\(id)/roles", body: body, token: admin).status == .ok)
            #expect(try await client.post("/v1/auth/keys/rotate", [:], token: admin).status == .created)
        }
        #expect(try await harness.repository.auditRecords(event: .roleChange).count == 1)
        #expect(try await harness.repository.auditRecords(event: .keyRotation).count == 1)
    }

    @Test func theSecondStepsRequestSchemaTakesExactlyOneProof() throws {
        let validator = IdentityService.openAPI.validator
        let schema = JSONSchema.reference("LoginMFARequest")
        #expect(validator.violations(of: ["mfa_token": "t", "code": "123456"], against: schema) == [])
        #expect(validator.violations(of: ["mfa_token": "t", "recovery_code": "abcd-efgh-ijkl-mnop"], against: schema) == [])
        #expect(!validator.violations(of: ["mfa_token": "t"], against: schema).isEmpty)
        #expect(!validator.violations(of: ["mfa_token": "t", "code": "1", "recovery_code": "2"], against: schema).isEmpty)
        // The member not chosen is bounded too (schemathesis found a 65-character one passing).
        let long = JSONValue.string(String(repeating: "a", count: ConfirmMFARequest.maxCodeLength + 1))
        #expect(!validator.violations(of: ["mfa_token": "t", "recovery_code": long], against: schema).isEmpty)
        #expect(!validator.violations(of: ["mfa_token": "t", "code": "7", "recovery_code": long], against: schema).isEmpty)
    }
}
