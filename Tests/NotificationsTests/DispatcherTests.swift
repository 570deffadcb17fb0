import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Synchronization
import Testing

@testable import Notifications

/// A throwaway webhook receiver on 127.0.0.1 that answers the scripted statuses in turn (the last
/// one from then on) and keeps every call.
final class HookServer: Sendable {
    struct Call: Sendable {
        var headers: HTTPFields
        var body: Data
    }

    let statuses: [Int]
    let calls = Mutex<[Call]>([])

    init(statuses: [Int]) { self.statuses = statuses }

    var received: [Call] { calls.withLock { $0 } }

    func answer(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let count = calls.withLock { calls in
            calls.append(Call(headers: request.headers, body: Data(body.readableBytesView)))
            return calls.count
        }
        let status = statuses[min(count, statuses.count) - 1]
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"id": "msg-\#(count)"}"#)))
    }

    /// Runs `body` with the URL of a live server answering `statuses`.
    static func run(statuses: [Int], _ body: @Sendable (String, HookServer) async throws -> Void) async throws {
        let server = HookServer(statuses: statuses)
        let router = Router()
        router.post("/hook") { request, _ in try await server.answer(request) }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: testLogger)
        try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(try #require(client.port))/hook", server)
        }
    }
}

@Suite("Notification dispatcher", .serialized)
struct DispatcherTests {
    static let secret = "webhook-secret"

    /// Migrated store with preferences set for `user` and the notifications of one OrderConfirmed recorded.
    static func recordConfirmation(
        in store: any SQLStore, user: String, preferences: ChannelPreferences, clock: ManualClock
    ) async throws {
        try await prepareNotifications(store)
        try await NotificationRepository(store: store).setPreferences(preferences, userID: user, at: clock.now())
        let handler = NotificationEventHandler(templates: .builtIn(), clock: clock, logger: testLogger) {}
        try await store.transaction { db in
            try await handler.handle(
                try Events.confirmed(order: "o-1", customer: user, totalCents: 10_000), HandlerContext(database: db))
        }
    }

    static func dispatcher(
        _ store: any SQLStore, _ providers: [NotificationChannel: any NotificationProvider], clock: ManualClock,
        maxAttempts: Int = 5
    ) -> NotificationDispatcher {
        NotificationDispatcher(
            store: store, providers: providers,
            retry: RetryPolicy(base: .seconds(1), cap: .seconds(60), maxAttempts: maxAttempts),
            clock: clock, logger: testLogger, jitter: { $0 })  // the ceiling itself: delays are exact
    }

    static func notification(_ channel: NotificationChannel, in store: any SQLStore) async throws -> NotificationRecord {
        try #require(try await allNotifications(store).first { $0.channel == channel })
    }

    @Test func theLocalProviderMarksNotificationsSent() async throws {
        try await TestDatabases.withEachBackend { store in
            let clock = testClock()
            try await Self.recordConfirmation(in: store, user: "ana", preferences: .defaults, clock: clock)
            let local = LocalNotificationProvider()
            let dispatcher = Self.dispatcher(store, [.email: local, .sms: local, .push: local], clock: clock)
            clock.advance(by: .milliseconds(5))
            #expect(try await dispatcher.dispatchDue() == 2)
            #expect(try await dispatcher.dispatchDue() == 0, "nothing left to send")
            for row in try await allNotifications(store) {
                #expect(row.status == .sent && row.attempts == 1 && row.lastError == nil)
                #expect(row.providerMessageID == "local-\(row.id)")
                #expect(row.sentAt?.epochMilliseconds == clock.now().epochMilliseconds && row.nextAttemptAt == nil)
            }
        }
    }

    @Test func theWebhookIsRetriedWithGrowingDelaysUntilItAccepts() async throws {
        try await TestDatabases.withEachBackend { store in
            try await HookServer.run(statuses: [503, 503, 200]) { url, server in
                let clock = testClock()
                try await Self.recordConfirmation(
                    in: store, user: "ana",
                    preferences: ChannelPreferences(email: .init(enabled: true, address: "ana@example.com")), clock: clock)
                let providers = NotificationsService.providers(
                    .webhook(urls: [.email: url], secret: Self.secret), httpClient: .shared, clock: clock)
                let dispatcher = Self.dispatcher(store, providers, clock: clock)

                var delays: [TimeInterval] = []
                #expect(try await dispatcher.dispatchDue() == 2, "e-mail through the webhook, push stays local")
                for expectedDelay in [1.0, 2.0] {
                    let email = try await Self.notification(.email, in: store)
                    #expect(email.status == .pending && email.lastError?.hasPrefix("http_503") == true, "\(email)")
                    let next = try #require(email.nextAttemptAt)
                    delays.append(next.timeIntervalSince(clock.now()))
                    clock.advance(by: .milliseconds(Int64(expectedDelay * 1000) - 1))
                    #expect(try await dispatcher.dispatchDue() == 0, "not before its time")
                    clock.advance(by: .milliseconds(1))
                    #expect(try await dispatcher.dispatchDue() == 1)
                }
                #expect(delays == [1, 2], "base · 2ⁿ: the delays double")

                let email = try await Self.notification(.email, in: store)
                #expect(email.status == .sent && email.attempts == 3 && email.providerMessageID == "msg-3")
                #expect(try await Self.notification(.push, in: store).status == .sent)

                let calls = server.received
                #expect(calls.count == 3)
                for call in calls {
                    #expect(call.headers[HTTPField.Name("Idempotency-Key")!] == email.id)
                    let timestamp = try #require(call.headers[HTTPField.Name("X-Malha-Timestamp")!])
                    let mac = HMAC<SHA256>.authenticationCode(
                        for: Data((timestamp + ".").utf8) + call.body, using: SymmetricKey(data: Data(Self.secret.utf8)))
                    let expected = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
                    #expect(call.headers[HTTPField.Name("X-Malha-Signature")!] == expected)
                    let json = try #require(try JSONSerialization.jsonObject(with: call.body) as? [String: String])
                    #expect(json["id"] == email.id && json["channel"] == "email" && json["to"] == "ana@example.com")
                    #expect(json["subject"] == "TechStore: pedido o-1 confirmado" && json["body"] == email.body)
                    #expect(json["title"] == nil)
                }
            }
        }
    }

    @Test func aClientErrorFailsTheNotificationAtOnce() async throws {
        try await TestDatabases.withEachBackend { store in
            try await HookServer.run(statuses: [400]) { url, server in
                let clock = testClock()
                try await Self.recordConfirmation(
                    in: store, user: "ana",
                    preferences: ChannelPreferences(email: .init(enabled: true, address: "ana@example.com")), clock: clock)
                let providers = NotificationsService.providers(
                    .webhook(urls: [.email: url, .push: url], secret: nil), httpClient: .shared, clock: clock)
                let dispatcher = Self.dispatcher(store, providers, clock: clock)
                #expect(try await dispatcher.dispatchDue() == 2)
                let email = try await Self.notification(.email, in: store)
                #expect(email.status == .failed && email.attempts == 1 && email.lastError?.hasPrefix("http_400") == true)
                #expect(email.nextAttemptAt == nil && email.sentAt == nil)
                // Push has no device token: failed without a call.
                let push = try await Self.notification(.push, in: store)
                #expect(push.status == .failed && push.lastError?.hasPrefix("no_address") == true, "\(push)")
                #expect(server.received.count == 1)
                #expect(server.received[0].headers[HTTPField.Name("X-Malha-Signature")!] == nil, "no secret, no signature")
                clock.advance(by: .seconds(3600))
                #expect(try await dispatcher.dispatchDue() == 0, "failed is final")
            }
        }
    }

    @Test func attemptsRunOutIntoFailedAndUnreachableProvidersAreRetried() async throws {
        try await TestDatabases.withEachBackend { store in
            let clock = testClock()
            try await Self.recordConfirmation(
                in: store, user: "ana", preferences: ChannelPreferences(email: .init(enabled: true, address: "a@b.co")),
                clock: clock)
            // Nothing listens on port 9 of loopback: connection refused, a transient failure.
            let providers = NotificationsService.providers(
                .webhook(urls: [.email: "http://127.0.0.1:9/hook"], secret: nil), httpClient: .shared,
                timeout: .milliseconds(300), clock: clock)
            let dispatcher = Self.dispatcher(store, providers, clock: clock, maxAttempts: 2)
            #expect(try await dispatcher.dispatchDue() == 2)
            // Refused connections are retried by the client until the deadline: either way, transient.
            let first = try await Self.notification(.email, in: store)
            #expect(first.status == .pending && first.attempts == 1, "\(first)")
            #expect(["connection", "timeout"].contains { first.lastError?.hasPrefix($0) == true }, "\(first)")
            clock.advance(by: .seconds(1))
            #expect(try await dispatcher.dispatchDue() == 1)
            let email = try await Self.notification(.email, in: store)
            #expect(email.status == .failed && email.attempts == 2, "\(email)")
        }
    }

    @Test func aLapsedClaimIsTakenOverAndCountsAsAnAttempt() async throws {
        try await TestDatabases.withEachBackend { store in
            let clock = testClock()
            try await Self.recordConfirmation(in: store, user: "ana", preferences: .defaults, clock: clock)
            let repository = NotificationRepository(store: store)
            let held = try await repository.claimDue(limit: 10, lease: .seconds(60), token: "crashed", now: clock.now())
            #expect(held.count == 2)
            #expect(try await repository.claimDue(limit: 10, lease: .seconds(60), token: "other", now: clock.now()).isEmpty)
            clock.advance(by: .seconds(60))
            let retaken = try await repository.claimDue(limit: 10, lease: .seconds(60), token: "other", now: clock.now())
            #expect(retaken.map(\.attempts) == [2, 2])
            let late = try await repository.settle(
                id: held[0].id, token: "crashed", .sent(providerMessageID: "late"), now: clock.now())
            #expect(!late, "the old claim may no longer settle")
            #expect(try await repository.settle(id: held[0].id, token: "other", .sent(providerMessageID: "x"), now: clock.now()))
        }
    }
}
