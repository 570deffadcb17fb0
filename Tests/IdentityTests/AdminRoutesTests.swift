import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Identity

@Suite("Identity: administration and client credentials")
struct AdminRoutesTests {
    @Test func onlyAdminsChangeRolesAndOnlyToAssignableRoles() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            let customer = try await client.session("lia@example.com")
            let me = try await client.send(.get, "/v1/auth/me", token: customer.access)
            let id = try #require(me.string("id"))
            let body = #"{"roles": ["customer", "finance"]}"#

            let anonymous = try await client.send(.put, "/v1/users/\(id)/roles", body: body)
            #expect(anonymous.status == .unauthorized)
            let forbidden = try await client.send(.put, "/v1/users/\(id)/roles", body: body, token: customer.access)
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.code == "forbidden")

            let admin = try await harness.secondFactorAdminToken(client)
            let changed = try await client.send(.put, "/v1/users/\(id)/roles", body: body, token: admin)
            #expect(changed.status == .ok)
            #expect(changed.json["roles"] as? [String] == ["customer", "finance"])

            let unknownRole = try await client.send(
                .put, "/v1/users/\(id)/roles", body: #"{"roles": ["superuser"]}"#, token: admin)
            #expect(unknownRole.status == .unprocessableContent)
            let empty = try await client.send(.put, "/v1/users/\(id)/roles", body: #"{"roles": []}"#, token: admin)
            #expect(empty.status == .unprocessableContent)
            let unknownUser = try await client.send(
                .put, "/v1/users/00000000-0000-7000-8000-000000000000/roles", body: body, token: admin)
            #expect(unknownUser.status == .notFound)

            // The next login carries the new roles.
            let relogin = try await client.login("lia@example.com", "a-long-enough-password")
            let principal = try await harness.verifier().verify(try #require(relogin.string("access_token")))
            #expect(principal.roles == [Role.customer, Role.finance])
        }
        let changes = try await harness.repository.auditRecords(event: .roleChange)
        #expect(changes.count == 1)
        // The change went to the outbox with it, once (refused changes wrote nothing).
        let events = try await harness.store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq").all()
        }.map(Envelope.init(sqlRow:))
        #expect(events.map(\.type) == [RolesChanged.type])
        let event = try #require(events.first)
        #expect(event.source == "identity" && event.key == changes.first?.subject)
        let changed = try MessageCoding.decoder.decode(RolesChanged.self, from: event.payload)
        #expect(changed.roles == [Role.customer, Role.finance] && changed.userID == changes.first?.subject)
    }

    @Test func adminsListUsersPageByPage() async throws {
        let harness = try await IdentityHarness.make()
        try await harness.test { client in
            // Ids are UUIDv7 (creation order at millisecond precision): let time pass between accounts.
            harness.clock.advance(by: .seconds(1))
            try await client.register("mia@example.com")
            harness.clock.advance(by: .seconds(1))
            try await client.register("noa@example.com")
            let admin = try await client.adminToken()
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/users?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.send(.get, uri, token: admin)
                #expect(page.status == .ok)
                let items = try #require(page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                seen += items.compactMap { $0["email"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == [IdentityHarness.adminEmail, "mia@example.com", "noa@example.com"])

            #expect(try await client.send(.get, "/v1/users?limit=0", token: admin).status == .unprocessableContent)
            #expect(try await client.send(.get, "/v1/users?limit=abc", token: admin).status == .unprocessableContent)
            let customer = try await client.session("ola@example.com")
            #expect(try await client.send(.get, "/v1/users", token: customer.access).status == .forbidden)
        }
    }

    @Test func clientCredentialsIssueScopedServiceTokens() async throws {
        let harness = try await IdentityHarness.make()
        let verifier = harness.verifier()
        try await harness.test { client in
            let admin = try await client.adminToken()
            let customer = try await client.session("pia@example.com")
            let request: [String: Any] = [
                "name": "orders worker", "scopes": ["orders:read", "orders:write"], "roles": ["operator"],
            ]
            #expect(try await client.post("/v1/clients", request, token: customer.access).status == .forbidden)
            let bad = try await client.post("/v1/clients", ["name": "x", "scopes": ["Bad Scope"]], token: admin)
            #expect(bad.status == .unprocessableContent)

            let created = try await client.post("/v1/clients", request, token: admin)
            #expect(created.status == .created)
            let clientID = try #require(created.string("client_id"))
            let secret = try #require(created.string("client_secret"))

            // Form-encoded, credentials in the body, all scopes.
            let form = "grant_type=client_credentials&client_id=\(clientID)&client_secret=\(secret)"
            let token = try await client.send(
                .post, "/v1/oauth/token", body: form, contentType: "application/x-www-form-urlencoded")
            #expect(token.status == .ok)
            #expect(token.string("token_type") == "Bearer")
            #expect(token.string("scope") == "orders:read orders:write")
            #expect(token.headers[.cacheControl] == "no-store")
            let principal = try await verifier.verify(try #require(token.string("access_token")))
            #expect(principal.subject == "client:\(clientID)")
            #expect(principal.scopes == ["orders:read", "orders:write"])
            #expect(principal.roles == ["operator"])

            // JSON with HTTP Basic, a narrower scope.
            let basic = "Basic " + Data("\(clientID):\(secret)".utf8).base64EncodedString()
            let narrow = try await client.send(
                .post, "/v1/oauth/token", body: #"{"grant_type": "client_credentials", "scope": "orders:read"}"#,
                headers: [.authorization: basic])
            #expect(narrow.status == .ok)
            #expect(narrow.string("scope") == "orders:read")

            let tooWide = try await client.send(
                .post, "/v1/oauth/token", body: #"{"grant_type": "client_credentials", "scope": "payments:write"}"#,
                headers: [.authorization: basic])
            #expect(tooWide.status == .badRequest)
            #expect(tooWide.code == "invalid_scope")

            let wrongSecret = try await client.send(
                .post, "/v1/oauth/token", body: "grant_type=client_credentials&client_id=\(clientID)&client_secret=nope",
                contentType: "application/x-www-form-urlencoded")
            #expect(wrongSecret.status == .unauthorized)
            #expect(wrongSecret.code == "invalid_client")

            let password = try await client.send(
                .post, "/v1/oauth/token", body: "grant_type=password&username=a&password=b",
                contentType: "application/x-www-form-urlencoded")
            #expect(password.status == .badRequest)
            #expect(password.code == "unsupported_grant_type")

            let badEncoding = try await client.send(
                .post, "/v1/oauth/token", body: "grant_type=%zz", contentType: "application/x-www-form-urlencoded")
            #expect(badEncoding.status == .badRequest)
            let wrongType = try await client.send(.post, "/v1/oauth/token", body: #"{"grant_type": 1}"#)
            #expect(wrongType.status == .unprocessableContent)
            let malformed = try await client.send(.post, "/v1/oauth/token", body: #"{"grant_type""#)
            #expect(malformed.status == .badRequest)
            let missing = try await client.send(
                .post, "/v1/oauth/token", body: "", contentType: "application/x-www-form-urlencoded")
            #expect(missing.status == .badRequest)
            #expect(missing.code == "invalid_request")
        }
        #expect(try await harness.repository.auditRecords(event: .clientToken).count == 2)
    }

    @Test func ensureAdminCreatesTheAdministratorOnce() async throws {
        let store = try await TestDatabases.sqlite()
        try await Migrator.migrate(store, IdentityService.migrations, logger: Logger(label: "test"))
        let hasher = PasswordHasher(cost: 4)
        #expect(
            try await IdentityService.ensureAdmin(
                email: "Boss@Example.com", password: "boss-password-123", store: store, hasher: hasher))
        #expect(
            try await !IdentityService.ensureAdmin(
                email: "boss@example.com", password: "boss-password-123", store: store, hasher: hasher))
        let users = try await IdentityRepository(store: store).users(after: nil, limit: 10)
        #expect(users.map(\.email) == ["boss@example.com"])
        #expect(users.first?.roles == [Role.admin])
        await #expect(throws: AdminConfigurationError.self) {
            try await IdentityService.ensureAdmin(email: "weak@example.com", password: "short", store: store, hasher: hasher)
        }
        await store.close()
    }

    @Test func theApplicationMigratesCreatesTheAdminAndBecomesReady() async throws {
        let store = try await TestDatabases.sqlite()
        var configuration = IdentityConfiguration()
        configuration.passwordCost = 4
        configuration.keyEncryptionKey = KeyEncryptionKey.generate().key
        configuration.adminEmail = "first@malha.test"
        configuration.adminPassword = "first-admin-password"
        var logger = Logger(label: "identity.test")
        logger.logLevel = .warning
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: IdentityService.name), logger: logger)
        let app = try await IdentityService.buildApplication(
            configuration: configuration, runtime: runtime, store: store, clock: ManualClock(), services: [store])
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
            let client = Client(client: client)
            let login = try await client.login("first@malha.test", "first-admin-password")
            #expect(login.status == .ok)
            #expect(try await client.send(.get, "/v1/users", token: try #require(login.string("access_token"))).status == .ok)
        }
    }
}
