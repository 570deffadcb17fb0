import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Testing

@testable import Notifications

/// A migrated notifications database with a router over it and tokens for any user.
struct HTTPHarness: Sendable {
    let store: any SQLStore
    let tokens: TestTokens
    let runtime: ServiceRuntime

    static func run(_ body: (HTTPHarness) async throws -> Void) async throws {
        try await TestDatabases.withEachBackend { store in
            try await prepareNotifications(store)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: NotificationsService.name), logger: testLogger)
            try await body(HTTPHarness(store: store, tokens: await TestTokens.make(), runtime: runtime))
        }
    }

    func makeRouter() -> Router<ServiceRequestContext> {
        NotificationsService.buildRouter(
            runtime: runtime, repository: NotificationRepository(store: store), verifier: tokens.verifier)
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: makeRouter()).test(.router, body)
    }

    /// Records `count` order confirmations for `user` (e-mail and push each), one second apart.
    func record(
        _ count: Int, for user: String, startingAt start: Date = Date(timeIntervalSince1970: 1_790_000_000)
    )
        async throws
    {
        let clock = ManualClock(start)
        let handler = NotificationEventHandler(templates: .builtIn(), clock: clock, logger: testLogger) {}
        for index in 0..<count {
            try await store.transaction { db in
                try await handler.handle(
                    try Events.confirmed(order: "\(user)-\(index)", customer: user), HandlerContext(database: db))
            }
            clock.advance(by: .seconds(1))
        }
    }
}

@Suite("Notifications HTTP", .serialized)
struct NotificationsHTTPTests {
    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await TestDatabases.withSQLite { store in
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: NotificationsService.name), logger: testLogger)
            let router = NotificationsService.buildRouter(
                runtime: runtime, repository: NotificationRepository(store: store), verifier: await TestTokens.make().verifier)
            #expect(Set(router.routes.map { "\($0.method) \($0.path)" }) == NotificationsService.openAPI.routeKeys)
        }
        #expect(NotificationsService.routeRules.map(\.policy) == [.authenticated])
    }

    @Test func listsTheCallersOwnNotificationsNewestFirstInPages() async throws {
        try await HTTPHarness.run { harness in
            try await harness.record(3, for: "ana")
            try await harness.record(1, for: "bia")
            let ana = try await harness.tokens.headers(subject: "ana")
            try await harness.test { client in
                let first = try await client.send(.get, "/v1/notifications?limit=4", headers: ana)
                #expect(first.status == .ok)
                let page = try first.decode(NotificationPage.self)
                #expect(page.items.count == 4)
                #expect(page.items.allSatisfy { $0.userID == "ana" })
                #expect(page.items.map(\.orderID) == ["ana-2", "ana-2", "ana-1", "ana-1"], "newest first")
                let cursor = try #require(page.nextCursor)
                let second = try await client.send(.get, "/v1/notifications?limit=4&cursor=\(cursor)", headers: ana)
                    .decode(NotificationPage.self)
                #expect(second.items.map(\.orderID) == ["ana-0", "ana-0"])
                #expect(second.nextCursor == nil)
                #expect(Set(page.items.map(\.id)).isDisjoint(with: second.items.map(\.id)))

                let pushOnly = try await client.send(.get, "/v1/notifications?channel=push", headers: ana)
                    .decode(NotificationPage.self)
                #expect(pushOnly.items.count == 3 && pushOnly.items.allSatisfy { $0.channel == .push })

                let bad = try await client.send(.get, "/v1/notifications?channel=fax&limit=0", headers: ana)
                #expect(bad.status == .unprocessableContent)
                #expect(Set(bad.problem?.errors?.map(\.field) ?? []) == ["channel", "limit"])
                let badCursor = try await client.send(.get, "/v1/notifications?cursor=nope", headers: ana)
                #expect(badCursor.status == .badRequest && badCursor.problem?.code == "invalid_cursor")
                #expect(try await client.send(.get, "/v1/notifications").status == .unauthorized)
            }
        }
    }

    @Test func oneNotificationIsVisibleToItsUserAndAdministratorsOnly() async throws {
        try await HTTPHarness.run { harness in
            try await harness.record(1, for: "ana")
            let id = try #require(try await allNotifications(harness.store).first { $0.channel == .email }?.id)
            let ana = try await harness.tokens.headers(subject: "ana")
            let bia = try await harness.tokens.headers(subject: "bia")
            let admin = try await harness.tokens.headers(subject: "root", roles: [Role.admin])
            try await harness.test { client in
                let own = try await client.send(.get, "/v1/notifications/\(id)", headers: ana)
                #expect(own.status == .ok)
                let notification = try own.decode(NotificationRecord.self)
                #expect(notification.id == id && notification.status == .pending && notification.body.contains("ana-0"))
                let other = try await client.send(.get, "/v1/notifications/\(id)", headers: bia)
                #expect(other.status == .notFound && other.problem?.code == "not_found")
                #expect(try await client.send(.get, "/v1/notifications/\(id)", headers: admin).status == .ok)
                #expect(try await client.send(.get, "/v1/notifications/not-an-id", headers: ana).status == .notFound)

                let forbidden = try await client.send(.get, "/v1/notifications?user_id=ana", headers: bia)
                #expect(forbidden.status == .forbidden)
                let asAdmin = try await client.send(.get, "/v1/notifications?user_id=ana", headers: admin)
                    .decode(NotificationPage.self)
                #expect(asAdmin.items.count == 2)
                let ownByID = try await client.send(.get, "/v1/notifications?user_id=ana", headers: ana)
                #expect(ownByID.status == .ok)
            }
        }
    }

    @Test func preferencesDefaultReplaceAndValidate() async throws {
        try await HTTPHarness.run { harness in
            let ana = try await harness.tokens.headers(subject: "ana")
            try await harness.test { client in
                let defaults = try await client.send(.get, "/v1/notifications/preferences", headers: ana)
                #expect(defaults.status == .ok)
                #expect(try defaults.decode(ChannelPreferences.self) == .defaults)

                let body = """
                    {"email": {"enabled": false, "address": "ana@example.com"},
                     "sms": {"enabled": true, "phone": "+5511987654321"}}
                    """
                let put = try await client.send(.put, "/v1/notifications/preferences", headers: ana, json: body)
                #expect(put.status == .ok)
                let expected = ChannelPreferences(
                    email: .init(enabled: false, address: "ana@example.com"), sms: .init(enabled: true, phone: "+5511987654321"),
                    push: .init(enabled: true))
                #expect(try put.decode(ChannelPreferences.self) == expected, "an omitted channel takes its default")
                let read = try await client.send(.get, "/v1/notifications/preferences", headers: ana)
                #expect(try read.decode(ChannelPreferences.self) == expected)
                let other = try await client.send(
                    .get, "/v1/notifications/preferences", headers: try await harness.tokens.headers(subject: "bia"))
                #expect(try other.decode(ChannelPreferences.self) == .defaults, "each user has their own")

                let invalid = """
                    {"email": {"enabled": true, "address": "not an address"},
                     "sms": {"enabled": true, "phone": "11 98765-4321"},
                     "push": {"enabled": true, "device_token": ""}}
                    """
                let refused = try await client.send(.put, "/v1/notifications/preferences", headers: ana, json: invalid)
                #expect(refused.status == .unprocessableContent)
                #expect(refused.problem?.code == "validation_failed")
                #expect(Set(refused.problem?.errors?.map(\.field) ?? []) == ["email.address", "sms.phone", "push.device_token"])
                let missing = try await client.send(
                    .put, "/v1/notifications/preferences", headers: ana, json: #"{"email": {"address": "a@b.co"}}"#)
                #expect(missing.status == .unprocessableContent && missing.problem?.errors?.first?.field == "email.enabled")
                let malformed = try await client.send(.put, "/v1/notifications/preferences", headers: ana, json: "{")
                #expect(malformed.status == .badRequest)
                let unchanged = try await client.send(.get, "/v1/notifications/preferences", headers: ana)
                #expect(try unchanged.decode(ChannelPreferences.self) == expected, "a refused PUT changes nothing")
                let anonymous = try await client.send(.put, "/v1/notifications/preferences", json: body)
                #expect(anonymous.status == .unauthorized)
            }
        }
    }

    @Test func preferenceRules() {
        let valid = ["ana@example.com", "a.b+c@mail.example.com.br"]
        let invalid = [
            "", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a b@example.com", "ana@example..com",
        ]
        for address in valid { #expect(PreferenceRules.isEmailAddress(address), "\(address)") }
        for address in invalid { #expect(!PreferenceRules.isEmailAddress(address), "\(address)") }
        #expect(PreferenceRules.isE164("+5511987654321") && PreferenceRules.isE164("+12025550123"))
        for phone in ["5511987654321", "+0511987654321", "+55 11 98765", "+1234567", "+1234567890123456", "+55119876543a"] {
            #expect(!PreferenceRules.isE164(phone), "\(phone)")
        }
    }
}
