import Contracts
import Foundation
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaService
import MalhaStore
import MalhaTesting
import ServiceLifecycle
import Synchronization
import Testing

@testable import Payments

/// The payments service on the real SQL bus, as the saga meets it: commands published to the
/// transport, the consumer, the processor and the outbox relay running as services, replies
/// read from a subscription of the saga's.
/// What the saga's subscription received.
final class Heard: Sendable {
    let envelopes = Mutex<[Envelope]>([])
}

@Suite("Payments on the bus", .serialized)
struct PaymentsBusTests {
    static let replyTypes: Set<String> = [
        PaymentAuthorized.type, PaymentDeclined.type, PaymentCaptured.type, PaymentVoided.type, PaymentRefunded.type,
    ]

    @Test func theSagaHearsOneAnswerPerCommand() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            try await PaymentsService.migrate(store, logger: testLogger)
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            let keys = EventKeyRing(
                service: "payments", store: store, keyEncryption: KeyEncryptionKey.generate().key, clock: SystemWallClock())
            try await keys.prepare(logger: testLogger)
            let relay = OutboxRelay(
                store: store, transport: transport, signer: keys, service: "payments", pollInterval: .milliseconds(20),
                logger: testLogger)
            let simulated = SimulatedProvider(store: store)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: PaymentsService.name), logger: testLogger)
            let configuration = PaymentsConfiguration(provider: .custom(simulated), processorInterval: .milliseconds(50))
            let processor = PaymentProcessor(
                store: store,
                provider: PaymentsService.makeProvider(
                    configuration: configuration, store: store, httpClient: .shared, clock: SystemWallClock(), runtime: runtime),
                settings: configuration.processorSettings, logger: testLogger
            ) { relay.wake() }
            let handler = PaymentCommandHandler {
                processor.wake()
                relay.wake()
            }
            let consumer = ConsumerRunner(
                subscription: PaymentCommandHandler.subscription, transport: transport, store: store, logger: testLogger,
                idleWait: .milliseconds(100), handler: handler.handle)
            try await transport.bind(
                subscription: PaymentCommandHandler.subscription.name, to: PaymentCommandHandler.subscription.types)
            try await transport.bind(subscription: "test.saga", to: Self.replyTypes)

            func send<Message: MessageContract>(_ message: Message, order: String) async throws -> Envelope {
                let envelope = try Envelope(message, source: "orders", at: Date(), key: order, correlationID: order)
                try await transport.publish([envelope])
                return envelope
            }
            let heard = Heard()
            func replies(_ type: String, order: String) -> [Envelope] {
                heard.envelopes.withLock { $0.filter { $0.type == type && $0.correlationID == order } }
            }
            func waitFor(_ what: String, _ condition: @escaping () -> Bool) async {
                #expect(await eventually(timeout: .seconds(30)) { condition() }, "\(what)")
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in [relay, consumer, processor] as [any Service] {
                    group.addTask { try await service.run() }
                }
                group.addTask {
                    while !Task.isCancelled {
                        let batch = try await transport.receive(from: "test.saga", limit: 20, lease: .seconds(30))
                        for delivery in batch {
                            heard.envelopes.withLock { $0.append(delivery.envelope) }
                            try await transport.acknowledge(delivery)
                        }
                        if batch.isEmpty { await transport.waitForMessages(on: "test.saga", timeout: .milliseconds(100)) }
                    }
                }

                _ = try await send(
                    AuthorizePayment(
                        orderID: "ok", customerID: "c1", amountCents: 12_000, currency: "BRL", paymentMethod: "pm_card_ok"),
                    order: "ok")
                _ = try await send(
                    AuthorizePayment(
                        orderID: "no", customerID: "c1", amountCents: 12_000, currency: "BRL",
                        paymentMethod: SimulatedProvider.declinedMethod), order: "no")
                await waitFor("authorized and declined") {
                    replies(PaymentAuthorized.type, order: "ok").count == 1
                        && replies(PaymentDeclined.type, order: "no").count == 1
                }
                #expect(
                    try replies(PaymentDeclined.type, order: "no").first?.decode(PaymentDeclined.self).reason == "card_declined")

                // The same capture delivered twice (deduplicated by the inbox), then asked again.
                let capture = try await send(CapturePayment(orderID: "ok"), order: "ok")
                await waitFor("captured") { replies(PaymentCaptured.type, order: "ok").count == 1 }
                try await transport.publish([capture])
                _ = try await send(CapturePayment(orderID: "ok"), order: "ok")
                await waitFor("answered again") { replies(PaymentCaptured.type, order: "ok").count == 2 }
                // A void of an order that never paid.
                _ = try await send(VoidPayment(orderID: "never"), order: "never")
                await waitFor("voided") { replies(PaymentVoided.type, order: "never").count == 1 }
                try await Task.sleep(for: .milliseconds(300))  // room for a wrong extra answer to show
                group.cancelAll()
            }
            #expect(replies(PaymentCaptured.type, order: "ok").count == 2, "two commands, two answers; the redelivery none")
            let paymentID = try #require(try await store.read { db in try await PaymentRecords.payment(orderID: "ok", in: db) })
                .id
            #expect(try await simulated.captureCount(paymentID: paymentID) == 1)
            // Every answer signed with payments' key, as its consumers verify it.
            let jwks = try await keys.jwks()
            let verifier = EventSignatureVerifier(publishers: ["payments": ClosureJWKSProvider { jwks }], logger: testLogger)
            for reply in replies(PaymentCaptured.type, order: "ok") {
                #expect(try await verifier.verify(reply).decode(PaymentCaptured.self).paymentID == paymentID)
            }
            #expect(heard.envelopes.withLock { $0 }.allSatisfy { $0.signature != nil })
            #expect(try await transport.deadLetterCounts().isEmpty)
            #expect(try await relay.pending() == 0)
        }
    }
}

@Suite("Payments application", .serialized)
struct PaymentsApplicationTests {
    @Test func migratesServesAndTakesCommandsFromTheBus() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            try await transport.bind(subscription: "test.saga", to: PaymentsBusTests.replyTypes)
            // Bound before publishing, as a deployed consumer's subscription already is.
            try await transport.bind(
                subscription: PaymentCommandHandler.subscription.name, to: PaymentCommandHandler.subscription.types)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: PaymentsService.name), logger: testLogger)
            let tokens = await TestTokens.make()
            let app = try await PaymentsService.buildApplication(
                configuration: PaymentsConfiguration(processorInterval: .milliseconds(50)), runtime: runtime, store: store,
                verifier: tokens.verifier, transport: transport, keyEncryption: KeyEncryptionKey.generate().key,
                httpClient: .shared)
            try await app.test(.router) { client in
                // Ready once migrated and subscribed: from then on nothing published is missed.
                let ready = await eventually { (try? await client.send(.get, "/health/ready").status) == .ok }
                #expect(ready)
                let authorize = try Envelope(
                    AuthorizePayment(orderID: "o1", customerID: "alice", amountCents: 990, currency: "BRL"), source: "orders",
                    at: Date(), key: "o1", correlationID: "o1")
                try await transport.publish([authorize])
                var answer: Envelope?
                _ = await eventually(timeout: .seconds(30)) {
                    let batch = (try? await transport.receive(from: "test.saga", limit: 1, lease: .seconds(30))) ?? []
                    answer = batch.first?.envelope
                    return answer != nil
                }
                let reply = try #require(answer)
                #expect(reply.type == PaymentAuthorized.type && reply.causationID == authorize.id)
                let paymentID = try reply.decode(PaymentAuthorized.self).paymentID
                // Signed, and the key that verifies it is the one payments publishes.
                let keys = try await client.send(.get, "/.well-known/event-keys")
                #expect(keys.status == .ok)
                let jwks = try JSONDecoder().decode(JWKSDocument.self, from: Data(keys.body.readableBytesView))
                let verifier = EventSignatureVerifier(
                    publishers: ["payments": ClosureJWKSProvider { jwks }], logger: testLogger)
                #expect(try await verifier.verify(reply).isSignatureVerified)
                let response = try await client.send(
                    .get, "/v1/payments/\(paymentID)", headers: try await tokens.headers(subject: "alice"))
                #expect(response.status == .ok)
                let metrics = String(buffer: try await client.send(.get, "/metrics").body)
                #expect(metrics.contains("payments_provider_breaker_state"))
                #expect(metrics.contains("payments_provider_calls_total"))
            }
        }
    }
}
