import Contracts
import Foundation
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

@testable import Notifications

@Suite("Notification event handler", .serialized)
struct HandlerTests {
    static func handler() -> NotificationEventHandler {
        NotificationEventHandler(templates: .builtIn(), logger: testLogger) {}
    }

    /// The service's database (migrated) and a bus with the handler's subscription bound.
    static func withBus(_ body: (any SQLStore, SQLTransport) async throws -> Void) async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            try await prepareNotifications(store)
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            let subscription = NotificationEventHandler.subscription
            try await transport.bind(subscription: subscription.name, to: subscription.types)
            try await body(store, transport)
        }
    }

    @Test func anEventRecordsOnePendingNotificationPerEnabledChannelAndARedeliveryNothing() async throws {
        try await Self.withBus { store, transport in
            let subscription = NotificationEventHandler.subscription
            let wakeUps = Tally()
            let handler = NotificationEventHandler(templates: .builtIn(), logger: testLogger) { wakeUps.add() }
            let runner = ConsumerRunner(
                subscription: subscription, transport: transport, store: store, logger: testLogger, handler: handler.handle)

            let envelope = try Events.confirmed(order: "o-1", customer: "ana", totalCents: 250_000)
            try await transport.publish([envelope])
            let first = try #require(try await transport.receive(from: subscription.name, limit: 10, lease: .seconds(30)).first)
            #expect(await runner.consume(first) == .applied)
            // The bus delivers the same message again (a lost acknowledgement, a replay).
            try await transport.publish([envelope])
            let again = try #require(try await transport.receive(from: subscription.name, limit: 10, lease: .seconds(30)).first)
            #expect(again.envelope.id == envelope.id)
            #expect(await runner.consume(again) == .duplicate)

            let rows = try await allNotifications(store)
            // Defaults: e-mail and push on, SMS off.
            #expect(rows.map(\.channel).sorted { $0.rawValue < $1.rawValue } == [.email, .push])
            for row in rows {
                #expect(row.userID == "ana" && row.eventID == envelope.id && row.orderID == "o-1")
                #expect(row.status == .pending && row.attempts == 0 && row.recipient == nil)
                #expect(row.template == "order-confirmed.\(row.channel.rawValue)")
                #expect(row.body.contains("R$ 2.500,00"), "\(row.body)")
            }
            #expect(rows.first { $0.channel == .email }?.subject == "TechStore: pedido o-1 confirmado")
            #expect(rows.first { $0.channel == .push }?.title == "Pedido confirmado")
            #expect(wakeUps.value == 1, "the dispatcher is woken once, after the commit that recorded")
        }
    }

    /// Critical events reach the handler only verified: a signed refund and role change are
    /// recorded; an unsigned refund and a role change signed by payments go to the dead letters.
    @Test func criticalEventsAreRecordedOnlyWhenTheirSignatureVerifies() async throws {
        try await Self.withBus { store, transport in
            let subscription = NotificationEventHandler.subscription
            let keys = TestEventKeys()
            let runner = ConsumerRunner(
                subscription: subscription, transport: transport, store: store, verifier: keys.verifier(), logger: testLogger,
                handler: Self.handler().handle)
            let unverified = { (envelope: Envelope) in
                Envelope(
                    id: envelope.id, type: envelope.type, source: envelope.source, occurredAt: envelope.occurredAt,
                    correlationID: envelope.correlationID, key: envelope.key, payload: envelope.payload)
            }
            let refund = unverified(try Events.refunded(order: "o-1", customer: "ana"))
            let roles = unverified(try Events.rolesChanged(user: "bia", roles: ["customer", "finance"]))
            let unsignedRefund = unverified(try Events.refunded(order: "o-2", customer: "ana"))
            // A role change from payments, signed with payments' genuine key: only identity may sign one.
            var foreignRoles = unverified(try Events.rolesChanged(user: "carla", roles: ["admin"]))
            foreignRoles.source = "payments"
            foreignRoles = try keys.sign(foreignRoles)
            try await transport.publish([try keys.sign(refund), try keys.sign(roles), unsignedRefund, foreignRoles])
            var outcomes: [String: ConsumeOutcome] = [:]
            for delivery in try await transport.receive(from: subscription.name, limit: 10, lease: .seconds(30)) {
                outcomes[delivery.envelope.id] = await runner.consume(delivery)
            }
            #expect(outcomes[refund.id] == .applied && outcomes[roles.id] == .applied)
            #expect(outcomes[unsignedRefund.id] == .deadLettered && outcomes[foreignRoles.id] == .deadLettered)
            let rows = try await allNotifications(store)
            #expect(Set(rows.map(\.userID)) == ["ana", "bia"])
            #expect(rows.filter { $0.userID == "ana" }.allSatisfy { $0.orderID == "o-1" })
            let rolesMail = try #require(rows.first { $0.userID == "bia" && $0.channel == .email })
            #expect(rolesMail.template == "roles-changed.email" && rolesMail.body.contains("customer, finance"))
        }
    }

    @Test func theSameEventAndChannelCannotBeRecordedTwiceEvenPastTheInbox() async throws {
        try await TestDatabases.withEachBackend { store in
            try await prepareNotifications(store)
            let handler = Self.handler()
            let envelope = try Events.cancelled(order: "o-2", customer: "bia", reason: "payment_declined")
            for _ in 0..<2 {
                // Straight to the handler, as if the inbox had lost its record.
                try await store.transaction { db in try await handler.handle(envelope, HandlerContext(database: db)) }
            }
            let rows = try await allNotifications(store)
            #expect(rows.count == 2)
            #expect(Set(rows.map(\.channel)) == [.email, .push])
        }
    }

    @Test func preferencesChooseTheChannelsAndTheirRecipients() async throws {
        try await TestDatabases.withEachBackend { store in
            try await prepareNotifications(store)
            let repository = NotificationRepository(store: store)
            try await repository.setPreferences(
                ChannelPreferences(
                    email: .init(enabled: false, address: "carla@example.com"),
                    sms: .init(enabled: true, phone: "+5511987654321"), push: .init(enabled: true)),
                userID: "carla", at: Date())
            let handler = Self.handler()
            try await store.transaction { db in
                try await handler.handle(
                    try Events.placed(order: "o-3", customer: "carla"), HandlerContext(database: db))
                try await handler.handle(try Events.placed(order: "o-4", customer: "dani"), HandlerContext(database: db))
            }
            let rows = try await allNotifications(store)
            let carla = rows.filter { $0.userID == "carla" }
            #expect(Set(carla.map(\.channel)) == [.sms, .push])
            #expect(carla.first { $0.channel == .sms }?.recipient == "+5511987654321")
            #expect(carla.first { $0.channel == .push }?.recipient == nil, "push enabled with no device token")
            #expect(Set(rows.filter { $0.userID == "dani" }.map(\.channel)) == [.email, .push], "defaults for dani")

            // Changing preferences affects later notifications only.
            try await repository.setPreferences(
                ChannelPreferences(sms: .init(enabled: true, phone: "+5511900000000")), userID: "carla", at: Date())
            try await store.transaction { db in
                try await handler.handle(
                    try Events.confirmed(order: "o-3", customer: "carla"), HandlerContext(database: db))
            }
            let later = try await repository.notifications(userID: "carla", limit: 100).items
            #expect(later.first { $0.template == "order-placed.sms" }?.recipient == "+5511987654321")
            #expect(later.first { $0.template == "order-confirmed.sms" }?.recipient == "+5511900000000")
            #expect(later.filter { $0.template.hasPrefix("order-confirmed") }.count == 3, "\(later.map(\.template))")
        }
    }

    @Test func aChannelWithoutATemplateIsSkippedAndABadTemplateDeadLetters() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            try await prepareNotifications(store)
            let templates = try NotificationTemplates(sources: [
                "order-confirmed.email": "Assunto {{order_id}}\n\nCorpo", "order-cancelled.email": "{{nothing}}\n\nCorpo",
            ])
            let handler = NotificationEventHandler(templates: templates, logger: testLogger) {}
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            let subscription = NotificationEventHandler.subscription
            try await transport.bind(subscription: subscription.name, to: subscription.types)
            let runner = ConsumerRunner(
                subscription: subscription, transport: transport, store: store, logger: testLogger, handler: handler.handle)
            try await transport.publish([
                try Events.confirmed(order: "o-5", customer: "eva"),
                try Events.cancelled(order: "o-6", customer: "eva", reason: "timeout"),
            ])
            let deliveries = try await transport.receive(from: subscription.name, limit: 10, lease: .seconds(30))
            #expect(deliveries.count == 2)
            var outcomes: [ConsumeOutcome] = []
            for delivery in deliveries { outcomes.append(await runner.consume(delivery)) }
            #expect(outcomes == [.applied, .deadLettered])
            let rows = try await allNotifications(store)
            #expect(rows.map(\.template) == ["order-confirmed.email"], "push has no template: skipped")
            let dead = try await transport.deadLetters(subscription: subscription.name, limit: 10, after: nil)
            #expect(dead.count == 1 && dead[0].lastError.contains("order-cancelled.email"), "\(dead)")
        }
    }
}

/// A thread-safe tally for callbacks.
final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
