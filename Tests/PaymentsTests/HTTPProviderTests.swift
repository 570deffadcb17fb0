import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaStore
import MalhaTesting
import Synchronization
import Testing

@testable import Payments

/// A throwaway payment provider on 127.0.0.1: answers by payment method, remembers idempotency
/// keys (a repeated key gets the first answer), and records the requests it got.
final class FakeProvider: Sendable {
    let seen = Mutex<[(path: String, key: String?)]>([])
    let answers = Mutex<[String: String]>([:])

    func application() -> some ApplicationProtocol {
        let router = Router()
        for path in ["/authorizations", "/captures", "/voids", "/refunds"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let key = request.headers[HTTPField.Name("Idempotency-Key")!]
                self.seen.withLock { $0.append((path, key)) }
                let body = try await request.body.collect(upTo: 1 << 16)
                let fields = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
                if let key, let previous = self.answers.withLock({ $0[key] }) { return Self.json(200, previous) }
                let paymentID = fields["payment_id"] as? String ?? "?"
                let (status, answer): (Int, String) =
                    switch fields["payment_method"] as? String {
                    case "pm_pending": (202, #"{"status":"pending","reference":"ref-\#(paymentID)"}"#)
                    case "pm_refused": (402, #"{"status":"declined","reason":"card_declined"}"#)
                    case "pm_broken": (503, #"{"error":"maintenance"}"#)
                    default: (200, #"{"status":"approved","reference":"auth-\#(paymentID)"}"#)
                    }
                if status < 500, let key { self.answers.withLock { $0[key] = answer } }
                return Self.json(status, answer)
            }
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func json(_ status: Int, _ body: String) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

@Suite("HTTP payment provider and webhooks", .serialized)
struct HTTPProviderTests {
    static let secret = "whsec_test"

    static func request(_ method: String?, id: String = UUID().uuidString) -> AuthorizationRequest {
        AuthorizationRequest(
            paymentID: id, orderID: "o", customerID: "c", amountCents: 100, currency: "BRL", paymentMethod: method)
    }

    @Test func talksToARealServer() async throws {
        let fake = FakeProvider()
        try await fake.application().test(.live) { client in
            let provider = HTTPPaymentProvider(baseURL: "http://127.0.0.1:\(client.port!)/", httpClient: .shared)
            let approved = try await provider.authorize(Self.request("pm_card_ok", id: "p1"), idempotencyKey: "authorize:p1")
            #expect(approved == .approved(reference: "auth-p1"))
            #expect(
                try await provider.authorize(Self.request("pm_refused"), idempotencyKey: "k2")
                    == .declined(reason: "card_declined"))
            #expect(
                try await provider.authorize(Self.request("pm_pending", id: "p3"), idempotencyKey: "k3")
                    == .pending(reference: "ref-p3"))
            await #expect(throws: ProviderUnavailable.self) {
                try await provider.authorize(Self.request("pm_broken"), idempotencyKey: "k4")
            }
            let settlement = SettlementRequest(
                paymentID: "p1", authorizationReference: "auth-p1", amountCents: 100, currency: "BRL")
            #expect(try await provider.capture(settlement, idempotencyKey: "capture:p1") == .approved(reference: "auth-p1"))
            let seen = fake.seen.withLock { $0 }
            #expect(seen.first?.path == "/authorizations" && seen.first?.key == "authorize:p1")
            #expect(seen.last?.path == "/captures" && seen.last?.key == "capture:p1")
        }
        // Nobody listening: transient, not a decline.
        let closed = HTTPPaymentProvider(baseURL: "http://127.0.0.1:1", httpClient: .shared, timeout: .seconds(2))
        await #expect(throws: ProviderUnavailable.self) { try await closed.authorize(Self.request(nil), idempotencyKey: "k") }
    }

    @Test func aPendingAuthorizationIsSettledByTheSignedWebhook() async throws {
        let fake = FakeProvider()
        try await fake.application().test(.live) { providerClient in
            try await TestDatabases.withEachBackend { store in
                let configuration = PaymentsConfiguration(
                    provider: .http(baseURL: "http://127.0.0.1:\(providerClient.port!)", webhookSecret: Self.secret))
                let harness = try await PaymentsHarness.make(store: store, configuration: configuration)
                try await harness.authorize("o1", method: "pm_pending", customer: "alice")
                try await harness.authorize("o2", method: "pm_refused", customer: "alice")
                try await harness.processor.processDue()
                let payment = try #require(try await harness.payment(order: "o1"))
                #expect(payment.state == .pending)
                let operation = try #require(try await harness.operations(order: "o1").first)
                #expect(operation.state == .waiting && operation.providerReference == "ref-\(payment.id)")
                #expect(
                    try await harness.replies(PaymentDeclined.self) == [PaymentDeclined(orderID: "o2", reason: "card_declined")])

                let tokens = await TestTokens.make()
                let router = PaymentsHTTPTests.router(harness, tokens: tokens)
                try await Application(router: router).test(.router) { client in
                    func notify(_ body: String, signedAt: Date? = nil, secret: String = Self.secret) async throws -> TestResponse
                    {
                        let signature = WebhookSignature.sign(
                            body: Data(body.utf8), secret: secret, timestamp: signedAt ?? harness.clock.now())
                        return try await client.execute(
                            uri: "/v1/payments/webhooks/provider", method: .post,
                            headers: [.contentType: "application/json", .malhaSignature: signature],
                            body: ByteBuffer(string: body)
                        ) { $0 }
                    }
                    let approved = #"{"reference":"ref-\#(payment.id)","status":"approved"}"#
                    let forged = try await notify(approved, secret: "guess")
                    #expect(forged.status == .unauthorized && forged.problem?.code == "invalid_signature")
                    let stale = try await notify(approved, signedAt: harness.clock.now().addingTimeInterval(-301))
                    #expect(stale.status == .unauthorized && stale.problem?.code == "invalid_signature")
                    let unsigned = try await client.execute(
                        uri: "/v1/payments/webhooks/provider", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: approved)
                    ) { $0 }
                    #expect(unsigned.status == .unauthorized)
                    #expect(try await harness.payment(order: "o1")?.state == .pending, "nothing changed on a bad signature")

                    let first = try await notify(approved)
                    #expect(first.status == .ok)
                    #expect(try first.decode([String: String].self)["status"] == "processed")
                    let repeated = try await notify(approved)
                    #expect(repeated.status == .ok)
                    #expect(try repeated.decode([String: String].self)["status"] == "duplicate")
                    let unknown = try await notify(#"{"reference":"ref-nobody","status":"approved"}"#)
                    #expect(unknown.status == .notFound && unknown.problem?.code == "unknown_reference")
                    let garbage = try await notify(#"{"reference":"ref-\#(payment.id)","status":"maybe"}"#)
                    #expect(garbage.status == .unprocessableContent)
                }
                let settled = try #require(try await harness.payment(order: "o1"))
                #expect(settled.state == .authorized && settled.providerReference == "ref-\(payment.id)")
                #expect(
                    try await harness.replies(PaymentAuthorized.self) == [PaymentAuthorized(orderID: "o1", paymentID: payment.id)]
                )
                #expect(
                    try await harness.events(order: "o1").contains { $0.type == "webhook_received" && $0.actor == "provider" })

                // Capture over HTTP, then a provider outage: retried, not declined.
                try await harness.deliver(harness.command(CapturePayment(orderID: "o1"), order: "o1"))
                try await harness.processor.processDue()
                #expect(try await harness.payment(order: "o1")?.state == .captured)
                #expect(fake.seen.withLock { $0 }.contains { $0.path == "/captures" && $0.key == "capture:\(payment.id)" })
            }
        }
    }

    @Test func webhooksAreRefusedWhenTheProviderSendsNone() async throws {
        try await TestDatabases.withSQLite { store in
            let harness = try await PaymentsHarness.make(store: store)
            let router = PaymentsHTTPTests.router(harness, tokens: await TestTokens.make())
            try await Application(router: router).test(.router) { client in
                let response = try await client.send(
                    .post, "/v1/payments/webhooks/provider", json: ["reference": "r", "status": "approved"])
                #expect(response.status == .notFound)
            }
        }
    }
}
