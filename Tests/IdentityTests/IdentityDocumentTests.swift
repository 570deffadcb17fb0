import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Identity

/// Identity's OpenAPI document against what its handlers really answer and accept.
@Suite("Identity OpenAPI document")
struct IdentityDocumentTests {
    let document = IdentityService.openAPI

    @Test func buildsWithEveryComponentAndNoDanglingReference() throws {
        #expect(document.danglingReferences() == [])
        for name in [
            "RegisterRequest", "LoginRequest", "RefreshRequest", "RolesRequest", "CreateClientRequest", "OAuthTokenRequest",
            "User",
            "UserPage", "TokenPair", "ClientTokenResponse", "CreatedClient", "RotatedKey", "JWKS", "JWK", "OpenIDConfiguration",
            "Problem", "MFAEnrolment", "ConfirmMFARequest", "RecoveryCodes", "MFAChallenge", "LoginMFARequest",
        ] {
            #expect(document.components[name] != nil, "\(name)")
        }
        let token = try #require(document.operations.first { $0.routeKey == "POST /v1/oauth/token" })
        #expect(token.security == [.basic, .anonymous])
        #expect(
            token.requestBody?.content.map(\.mediaType) == ["application/x-www-form-urlencoded", "application/json"])
        #expect(Set(token.responses.map(\.status)) == [200, 400, 401, 415, 422])
        let admin = try #require(document.operations.first { $0.routeKey == "PUT /v1/users/{id}/roles" })
        #expect(admin.security == [.bearer] && Set(admin.responses.map(\.status)).isSuperset(of: [401, 403, 404, 422]))
    }

    @Test func realResponsesConformToTheirComponents() async throws {
        let harness = try await IdentityHarness.make()
        let document = document
        try await harness.test { client in
            func expect(_ reply: Reply, _ component: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                let body = try JSONCoding.decoder.decode(JSONValue.self, from: reply.body)
                #expect(
                    document.validator.violations(of: body, against: .reference(component)) == [],
                    "\(String(decoding: reply.body, as: UTF8.self))", sourceLocation: sourceLocation)
            }
            let registered = try await client.register("ana@example.com")
            #expect(registered.status == .created)
            try expect(registered, "User")
            let login = try await client.login("ana@example.com", "a-long-enough-password")
            try expect(login, "TokenPair")
            let refreshed = try await client.post(
                "/v1/auth/refresh", ["refresh_token": try #require(login.string("refresh_token"))])
            try expect(refreshed, "TokenPair")
            try expect(try await client.send(.get, "/v1/auth/me", token: login.string("access_token")), "User")
            try expect(try await client.send(.get, "/.well-known/jwks.json"), "JWKS")
            try expect(try await client.send(.get, "/.well-known/openid-configuration"), "OpenIDConfiguration")

            let password = try await client.adminToken()
            let enrolment = try await client.post("/v1/auth/mfa/enrolment", [:], token: password)
            #expect(enrolment.status == .created)
            try expect(enrolment, "MFAEnrolment")
            let totp = try enrolledFactor(enrolment)
            let confirmed = try await client.post(
                "/v1/auth/mfa/enrolment/confirm", ["code": totp.code(at: harness.clock.now())], token: password)
            try expect(confirmed, "RecoveryCodes")
            harness.clock.advance(by: .seconds(30))
            let challenge = try await client.login(IdentityHarness.adminEmail, IdentityHarness.adminPassword)
            try expect(challenge, "MFAChallenge")
            let second = try await client.post(
                "/v1/auth/login/mfa",
                ["mfa_token": try #require(challenge.string("mfa_token")), "code": totp.code(at: harness.clock.now())])
            try expect(second, "TokenPair")
            let admin = try #require(second.string("access_token"))
            try expect(try await client.send(.get, "/v1/users?limit=1", token: admin), "UserPage")
            let rotated = try await client.post("/v1/auth/keys/rotate", [:], token: admin)
            #expect(rotated.status == .created)
            try expect(rotated, "RotatedKey")
            let created = try await client.post(
                "/v1/clients", ["name": "orders", "scopes": ["orders:read"], "roles": [Role.finance]], token: admin)
            #expect(created.status == .created)
            try expect(created, "CreatedClient")
            let form =
                "grant_type=client_credentials&client_id=\(try #require(created.string("client_id")))"
                + "&client_secret=\(try #require(created.string("client_secret")))"
            let token = try await client.send(
                .post, "/v1/oauth/token", body: form, contentType: "application/x-www-form-urlencoded")
            #expect(token.status == .ok)
            #expect(token.headers[.cacheControl] == "no-store")
            try expect(token, "ClientTokenResponse")

            let refused = try await client.post("/v1/auth/register", ["email": "x", "password": "short", "name": ""])
            #expect(refused.status == .unprocessableContent)
            try expect(refused, "Problem")
        }
    }

    @Test func requestSchemasSayWhatTheRulesSay() throws {
        let validator = document.validator
        let register = JSONSchema.reference("RegisterRequest")
        #expect(
            validator.violations(
                of: ["email": "ana@example.com", "password": "a-long-enough-password", "name": "  Ana Lima "], against: register)
                == [])
        #expect(
            !validator.violations(of: ["email": "ana@example.com", "password": "short", "name": "Ana"], against: register).isEmpty
        )
        // The password bound counts code points, as the rule does: 120 bytes of "€" are within it.
        for (count, valid) in [(40, true), (128, true), (129, false)] {
            let password = String(repeating: "€", count: count)
            #expect((AccountRules.passwordProblem(password) == nil) == valid)
            #expect(
                validator.violations(of: ["email": "a@b.co", "password": .string(password), "name": "Ana"], against: register)
                    .isEmpty == valid, "\(count)")
        }
        for name in ["", "   ", "Ana\u{7}Lima", "\u{200B}"] {
            #expect(AccountRules.nameProblem(name) != nil)
            #expect(
                !validator.violations(
                    of: ["email": "a@b.co", "password": "a-long-enough-password", "name": .string(name)], against: register
                )
                .isEmpty, "\(name.unicodeScalars.map(\.value))")
        }
        for name in ["Ana", " Ana ", "\nAna\t", "Zoë Ça"] {
            #expect(AccountRules.nameProblem(name) == nil)
            #expect(
                validator.violations(
                    of: ["email": "a@b.co", "password": "a-long-enough-password", "name": .string(name)], against: register)
                    == [], "\(name.unicodeScalars.map(\.value))")
        }

        let roles = JSONSchema.reference("RolesRequest")
        #expect(validator.violations(of: ["roles": [.string(Role.finance)]], against: roles) == [])
        #expect(!validator.violations(of: ["roles": []], against: roles).isEmpty)
        #expect(!validator.violations(of: ["roles": ["superuser"]], against: roles).isEmpty)

        let client = JSONSchema.reference("CreateClientRequest")
        #expect(validator.violations(of: ["name": "orders", "scopes": ["orders:read"], "roles": nil], against: client) == [])
        #expect(!validator.violations(of: ["name": "orders", "scopes": ["Bad Scope"]], against: client).isEmpty)

        let token = JSONSchema.reference("OAuthTokenRequest")
        #expect(validator.violations(of: ["grant_type": "client_credentials", "scope": "a b"], against: token) == [])
        #expect(!validator.violations(of: ["grant_type": "password"], against: token).isEmpty)
        #expect(!validator.violations(of: ["grant_type": "client_credentials", "extra": 1], against: token).isEmpty)
    }

    @Test(.enabled(if: OpenAPISpecValidation.isAvailable))
    func openAPISpecValidatorAcceptsIt() throws {
        try OpenAPISpecValidation.check(document)
    }
}
