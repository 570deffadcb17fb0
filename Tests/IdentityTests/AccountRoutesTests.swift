import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import Testing

@testable import Identity

@Suite("Identity: registration, login, throttling")
struct AccountRoutesTests {
    @Test func registerNormalisesEmailAndRejectsDuplicatesInAnyCase() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let created = try await client.register("  Ana.Souza@Example.COM ", name: " Ana Souza ")
            #expect(created.status == .created)
            #expect(created.string("email") == "ana.souza@example.com")
            #expect(created.string("name") == "Ana Souza")
            #expect(created.json["roles"] as? [String] == ["customer"])
            #expect(UUID(uuidString: created.string("id") ?? "") != nil)
            #expect(created.json["password_hash"] == nil && created.json["password"] == nil)

            let duplicate = try await client.register("ANA.SOUZA@example.com")
            #expect(duplicate.status == .conflict)
            #expect(duplicate.code == "email_taken")
            #expect(duplicate.headers[.contentType] == "application/problem+json")
        }
        #expect(try await harness.repository.auditRecords(event: .register).contains { $0.email == "ana.souza@example.com" })
    }

    @Test func registerRejectsWeakPasswordsAndBadFields() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let short = try await client.register("a@example.com", password: "short-pw")
            #expect(short.status == .unprocessableContent)
            #expect(short.code == "validation_failed")
            #expect((short.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "password")

            // In the list as "password1234"; checked case-insensitively.
            let common = try await client.register("b@example.com", password: "PassWord1234")
            #expect(common.status == .unprocessableContent)
            #expect(common.string("detail")?.contains("too common") == true)

            let badEmail = try await client.register("not-an-email")
            #expect(badEmail.status == .unprocessableContent)

            let longName = try await client.register("c@example.com", name: String(repeating: "n", count: 101))
            #expect(longName.status == .unprocessableContent)

            let longEmail = try await client.register(String(repeating: "e", count: 300) + "@example.com")
            #expect(longEmail.status == .unprocessableContent)

            let emptyName = try await client.register("d@example.com", name: "   ")
            #expect(emptyName.status == .unprocessableContent)

            let malformed = try await client.send(.post, "/v1/auth/register", body: #"{"email": "x@example.com", "#)
            #expect(malformed.status == .badRequest)
            #expect(malformed.code == "malformed_json")

            let wrongTypes = try await client.post("/v1/auth/register", ["email": 42, "password": true, "name": ["x"]])
            #expect(wrongTypes.status == .unprocessableContent)
            #expect(wrongTypes.code == "validation_failed")

            let missing = try await client.post("/v1/auth/register", ["email": "e@example.com"])
            #expect(missing.status == .unprocessableContent)

            let notJSON = try await client.send(.post, "/v1/auth/register", body: "email=x", contentType: "text/plain")
            #expect(notJSON.status == .unsupportedMediaType)
        }
        #expect(try await harness.repository.users(after: nil, limit: 10).count == 1)  // only the admin
    }

    /// Passwords are bounded in code points, not bcrypt's 72 bytes: longer ones are pre-hashed,
    /// over the whole password.
    @Test func passwordsLongerThan72BytesRegisterAndLogInByTheirWholeText() async throws {
        let harness = try await IdentityHarness.make()
        let euros = String(repeating: "€", count: 40)  // 40 code points, 120 bytes
        try await harness.test { client in
            #expect(try await client.register("long@example.com", password: euros).status == .created)
            #expect(try await client.login("long@example.com", euros).status == .ok)

            // The same first 72 bytes (24 "€"), then something else: not the password.
            let samePrefix = String(repeating: "€", count: 24) + "a different tail"
            let wrong = try await client.login("long@example.com", samePrefix)
            #expect(wrong.status == .unauthorized)
            #expect(wrong.code == "invalid_credentials")
            #expect(try await client.login("long@example.com", euros + "€").status == .unauthorized)
            #expect(try await client.login("long@example.com", String(repeating: "€", count: 24)).status == .unauthorized)

            let tooLong = try await client.register("longer@example.com", password: String(repeating: "€", count: 129))
            #expect(tooLong.status == .unprocessableContent)
            #expect((tooLong.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "password")
            let longest = String(repeating: "😀", count: 128)  // 512 bytes
            #expect(try await client.register("longest@example.com", password: longest).status == .created)
            #expect(try await client.login("longest@example.com", longest).status == .ok)
        }
        let stored = try #require(try await harness.repository.user(email: "long@example.com"))
        #expect(stored.passwordHash.hasPrefix(StoredPasswordHash.prehashedPrefix + "$2"))
    }

    /// Hashes stored before pre-hashing existed are plain bcrypt of passwords of at most 72 bytes;
    /// they verify as before, and a longer candidate sharing those 72 bytes does not match them.
    @Test func plainBcryptHashesStillVerify() async throws {
        let harness = try await IdentityHarness.make()
        let password = String(repeating: "ab", count: 36)  // exactly 72 bytes
        let now = harness.clock.now()
        let user = User(
            id: UUID.v7(at: now).lowercased, email: "old@example.com", name: "Old", roles: [Role.customer], createdAt: now)
        let plain = try await harness.hasher.hash(password)  // today's hashing, before this change
        #expect(!plain.hasPrefix(StoredPasswordHash.prehashedPrefix))
        try await harness.repository.insert(user: user, passwordHash: plain, audit: nil)
        try await harness.test { client in
            let right = try await client.login("old@example.com", password)
            #expect(right.status == .ok)
            // bcrypt alone would read only the first 72 bytes and accept this.
            let longer = try await client.login("old@example.com", password + "-and-more")
            #expect(longer.status == .unauthorized)
        }
        #expect(try await harness.hasher.verifyAccountPassword(password, storedHash: plain))
        // A short password is still hashed exactly as before: no prefix, plain bcrypt verifies it.
        let short = try await harness.hasher.hashAccountPassword("a-long-enough-password")
        #expect(!short.hasPrefix(StoredPasswordHash.prehashedPrefix))
        #expect(try await harness.hasher.verify("a-long-enough-password", hash: short))
    }

    /// bcrypt stops at a NUL: every password starting with one would be the same password. They
    /// are refused at registration, and one stored before that matches no candidate with a NUL.
    @Test func aNulByteNeitherRegistersNorLogsIn() async throws {
        let harness = try await IdentityHarness.make()
        let now = harness.clock.now()
        let user = User(
            id: UUID.v7(at: now).lowercased, email: "nul@example.com", name: "Nul", roles: [Role.customer], createdAt: now)
        let stored = try await harness.hasher.hash("\u{0}first-password-here")
        try await harness.repository.insert(user: user, passwordHash: stored, audit: nil)
        try await harness.test { client in
            for password in ["\u{0}a-long-enough-password", "a-long-enough\u{7}password", "a-long-enough-password\u{9F}"] {
                let refused = try await client.register("new-\(password.unicodeScalars.count)@example.com", password: password)
                #expect(refused.status == .unprocessableContent, "\(password.debugDescription)")
            }
            // Before: bcrypt read both as the empty password, so this logged in.
            let other = try await client.login("nul@example.com", "\u{0}another-password")
            #expect(other.status == .unauthorized)
            let same = try await client.login("nul@example.com", "\u{0}first-password-here")
            #expect(same.status == .unauthorized, "no password with a control character logs in")
        }
    }

    @Test func loginBoundsItsFieldsInCodePoints() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            // 1024 code points of 3 bytes each: within the documented maxLength, so not a 422.
            let wide = try await client.login("nobody@example.com", String(repeating: "€", count: 1024))
            #expect(wide.status == .unauthorized)
            let wideEmail = try await client.login(String(repeating: "é", count: 1024), "a-long-enough-password")
            #expect(wideEmail.status == .unauthorized)
            let tooLong = try await client.login("nobody@example.com", String(repeating: "x", count: 1025))
            #expect(tooLong.status == .unprocessableContent)
            let wideToken = try await client.post("/v1/auth/refresh", ["refresh_token": String(repeating: "€", count: 512)])
            #expect(wideToken.status == .unauthorized)
            let longToken = try await client.post("/v1/auth/refresh", ["refresh_token": String(repeating: "x", count: 513)])
            #expect(longToken.status == .unprocessableContent)
        }
    }

    @Test func loginIssuesTokensAndAnswersUnknownEmailAndWrongPasswordIdentically() async throws {
        let harness = try await IdentityHarness.make()
        let verifier = harness.verifier()
        try await harness.test { client in
            let created = try await client.register("bia@example.com")
            let ok = try await client.login("BIA@example.com ", "a-long-enough-password")
            #expect(ok.status == .ok)
            #expect(ok.string("token_type") == "Bearer")
            #expect(ok.json["expires_in"] as? Int == 900)
            let refresh = try #require(ok.string("refresh_token"))
            #expect(Data(base64URLEncoded: refresh)?.count == 32)
            let principal = try await verifier.verify(try #require(ok.string("access_token")))
            #expect(principal.subject == created.string("id"))
            #expect(principal.roles == [Role.customer])
            #expect(principal.tokenID != nil)

            let wrongPassword = try await client.login("bia@example.com", "not-the-right-password")
            let unknownEmail = try await client.login("nobody@example.com", "not-the-right-password")
            #expect(wrongPassword.status == .unauthorized)
            #expect(wrongPassword.code == "invalid_credentials")
            #expect(wrongPassword.body == unknownEmail.body)
            #expect(wrongPassword.status == unknownEmail.status)

            let oversize = try await client.login("bia@example.com", String(repeating: "p", count: 2000))
            #expect(oversize.status == .unprocessableContent)
        }
        let failures = try await harness.repository.auditRecords(event: .loginFailure)
        #expect(failures.compactMap(\.email).sorted() == ["bia@example.com", "nobody@example.com"])
        #expect(try await harness.repository.auditRecords(event: .loginSuccess).count == 1)
    }

    @Test func failedLoginsAreThrottledPerAccountWithRetryAfter() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            try await client.register("cai@example.com")
            for _ in 0..<5 {
                #expect(try await client.login("cai@example.com", "wrong-password-guess").status == .unauthorized)
            }
            // Locked: even the right password is refused until the window passes.
            let locked = try await client.login("cai@example.com", "a-long-enough-password")
            #expect(locked.status == .tooManyRequests)
            #expect(locked.code == "rate_limited")
            let retryAfter = try #require(locked.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...900).contains(retryAfter))

            // Another account from the same address is not affected by this account's lock.
            try await client.register("dora@example.com")
            #expect(try await client.login("dora@example.com", "a-long-enough-password").status == .ok)

            harness.clock.advance(by: .seconds(retryAfter))
            #expect(try await client.login("cai@example.com", "a-long-enough-password").status == .ok)
        }
    }

    /// Anyone could lock the admin out by failing against the admin's e-mail five times: the
    /// lock now holds for the failing address only.
    @Test func theAdminStillLogsInAfterFiftyFailuresFromAnotherAddress() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            try await client.register("root@example.com")
            let attacker: HTTPFields = [.xForwardedFor: "198.51.100.66"]
            var refused = 0
            for _ in 0..<50 {
                let reply = try await client.login("root@example.com", "wrong-password-guess", headers: attacker)
                #expect(reply.status == .unauthorized || reply.status == .tooManyRequests)
                if reply.status == .tooManyRequests { refused += 1 }
            }
            #expect(refused == 45, "the attacker's address is locked after five failures")
            #expect(
                try await client.login("root@example.com", "a-long-enough-password", headers: attacker).status
                    == .tooManyRequests)
            let office: HTTPFields = [.xForwardedFor: "203.0.113.20"]
            #expect(try await client.login("root@example.com", "a-long-enough-password", headers: office).status == .ok)
        }
    }

    /// Each registration costs a bcrypt hash; unthrottled, one address could queue every login
    /// behind its flood.
    @Test func registrationsAreThrottledPerAddress() async throws {
        let harness = try await IdentityHarness.make { $0.registrationsPerAddress = AttemptLimit(3, per: .seconds(3600)) }
        try await harness.test { client in
            let flood: HTTPFields = [.xForwardedFor: "198.51.100.9"]
            func register(_ index: Int, from headers: HTTPFields) async throws -> Reply {
                try await client.post(
                    "/v1/auth/register",
                    ["email": "bot\(index)@example.com", "password": "a-long-enough-password", "name": "Bot"], headers: headers)
            }
            for index in 0..<3 { #expect(try await register(index, from: flood).status == .created) }
            let refused = try await register(3, from: flood)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.code == "rate_limited")
            let wait = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect((3000...3600).contains(wait))
            // Refused before any work: no account, and other addresses are not held back.
            #expect(try await client.login("bot3@example.com", "a-long-enough-password").status == .unauthorized)
            #expect(try await register(4, from: [.xForwardedFor: "203.0.113.44"]).status == .created)
            harness.clock.advance(by: .seconds(wait))
            #expect(try await register(5, from: flood).status == .created)
        }
    }

    /// Every answer that carries a token or a secret says no-store (only the token endpoint did).
    @Test func tokensAndSecretsAreNeverCacheable() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            #expect(try await client.register("gil@example.com").headers[.cacheControl] == "no-store")
            let login = try await client.login("gil@example.com", "a-long-enough-password")
            #expect(login.status == .ok)
            #expect(login.headers[.cacheControl] == "no-store")
            #expect(login.headers[HTTPField.Name("Pragma")!] == "no-cache")
            let refresh = try #require(login.string("refresh_token"))
            let refreshed = try await client.post("/v1/auth/refresh", ["refresh_token": refresh])
            #expect(refreshed.status == .ok)
            #expect(refreshed.headers[.cacheControl] == "no-store")
            let admin = try await client.adminToken()
            let created = try await client.post("/v1/clients", ["name": "export", "scopes": ["ledger.read"]], token: admin)
            #expect(created.status == .created)
            #expect(created.headers[.cacheControl] == "no-store")
            // The public key set stays cacheable.
            let jwks = try await client.send(.get, "/.well-known/jwks.json")
            #expect(jwks.headers[.cacheControl] == "public, max-age=60")
        }
    }

    @Test func failedLoginsAreThrottledPerClientAddress() async throws {
        let harness = try await IdentityHarness.make { $0.loginThrottle.maxFailuresPerAddress = 3 }
        try await harness.test { client in
            try await client.register("eva@example.com")
            // The last X-Forwarded-For entry is the address (the gateway appends it; earlier ones are the client's claim).
            let attacker: HTTPFields = [.xForwardedFor: "198.51.100.7, 203.0.113.9"]
            for index in 0..<3 {
                let reply = try await client.login("victim\(index)@example.com", "wrong-password-guess", headers: attacker)
                #expect(reply.status == .unauthorized)
            }
            let blocked = try await client.login("eva@example.com", "a-long-enough-password", headers: attacker)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] != nil)
            // Spoofing the first entry does not help: the last one still identifies the caller.
            let spoofed: HTTPFields = [.xForwardedFor: "10.9.9.9, 203.0.113.9"]
            #expect(
                try await client.login("eva@example.com", "a-long-enough-password", headers: spoofed).status == .tooManyRequests)
            let other: HTTPFields = [.xForwardedFor: "203.0.113.10"]
            #expect(try await client.login("eva@example.com", "a-long-enough-password", headers: other).status == .ok)
        }
        let addresses = Set(try await harness.repository.auditRecords(event: .loginFailure).compactMap(\.clientAddress))
        #expect(addresses == ["203.0.113.9"])
    }

    @Test func meRequiresAValidToken() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let anonymous = try await client.send(.get, "/v1/auth/me")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] != nil)

            let forged = try await client.send(.get, "/v1/auth/me", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln")
            #expect(forged.status == .unauthorized)

            let session = try await client.session("fabi@example.com")
            let me = try await client.send(.get, "/v1/auth/me", token: session.access)
            #expect(me.status == .ok)
            #expect(me.string("email") == "fabi@example.com")
            #expect(me.json["roles"] as? [String] == ["customer"])

            // Expired after 15 minutes (plus the verifier's 30 s leeway).
            harness.clock.advance(by: .seconds(15 * 60 + 31))
            #expect(try await client.send(.get, "/v1/auth/me", token: session.access).status == .unauthorized)
        }
    }
}
