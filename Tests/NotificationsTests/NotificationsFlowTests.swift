import AsyncHTTPClient
import Contracts
import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import Testing

@testable import Notifications

@Suite("Notifications on the bus", .serialized)
struct NotificationsFlowTests {
    @Test func aCancelledOrderReachesItsCustomerOnlyOnce() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            // Bound before anything is published, as the deployed consumer would be.
            let subscription = NotificationEventHandler.subscription
            try await transport.bind(subscription: subscription.name, to: subscription.types)
            let tokens = await TestTokens.make()
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: NotificationsService.name), logger: testLogger)
            let app = try await NotificationsService.buildApplication(
                configuration: NotificationsConfiguration(dispatchInterval: .milliseconds(50)), runtime: runtime, store: store,
                verifier: tokens.verifier, transport: transport, httpClient: .shared, services: [transport])
            let ana = try await tokens.headers(subject: "ana")
            let bia = try await tokens.headers(subject: "bia")
            let cancelled = try Events.cancelled(order: "o-77", customer: "ana", reason: "payment_declined")

            try await app.test(.router) { client in
                // Ready once migrated and subscribed: from then on nothing published is missed.
                let ready = await eventually { (try? await client.send(.get, "/health/ready").status) == .ok }
                #expect(ready)
                try await transport.publish([cancelled])
                let delivered = await eventually(timeout: .seconds(30)) {
                    let page = try? await client.send(.get, "/v1/notifications", headers: ana).decode(NotificationPage.self)
                    return page?.items.count == 2 && page?.items.allSatisfy { $0.status == .sent } == true
                }
                #expect(delivered, "recorded by the consumer, sent by the dispatcher")
                let page = try await client.send(.get, "/v1/notifications", headers: ana).decode(NotificationPage.self)
                let email = try #require(page.items.first { $0.channel == .email })
                #expect(email.subject == "TechStore: pedido o-77 cancelado")
                #expect(email.body.contains("Seu pedido o-77 foi cancelado. O pagamento não foi aprovado."), "\(email.body)")
                #expect(email.eventType == OrderCancelled.type && email.providerMessageID == "local-\(email.id)")
                #expect(page.items.first { $0.channel == .push }?.body == "O pagamento não foi aprovado.")

                // Another customer sees nothing; nobody without a token sees anything.
                let other = try await client.send(.get, "/v1/notifications", headers: bia).decode(NotificationPage.self)
                #expect(other.items.isEmpty)
                #expect(try await client.send(.get, "/v1/notifications").status == .unauthorized)

                // The bus delivers the same event again: acknowledged, no second notification.
                try await transport.publish([cancelled])
                let drained = await eventually(timeout: .seconds(30)) {
                    (try? await transport.depths()[subscription.name] ?? 0) == 0
                }
                #expect(drained)
                let after = try await client.send(.get, "/v1/notifications", headers: ana).decode(NotificationPage.self)
                #expect(after.items.map(\.id).sorted() == page.items.map(\.id).sorted())

                let metrics = String(buffer: try await client.send(.get, "/metrics").body)
                for line in [
                    #"notifications_recorded_total{channel="email"} 1"#, #"notifications_recorded_total{channel="push"} 1"#,
                    #"notifications_sent_total{channel="email"} 1"#,
                ] {
                    #expect(metrics.contains(line), "\(line)")
                }
            }
            #expect(try await transport.deadLetterCounts().isEmpty)
        }
    }
}
