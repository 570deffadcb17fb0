import AsyncHTTPClient
import Contracts
import Crypto
import Foundation
import Identity
import Logging
import MalhaCore
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import Testing

/// Critical events on a running `malha up`: a genuine payment capture confirms its order, forged
/// and unsigned captures written straight into the bus database are dead-lettered by orders
/// without being applied, and a role change reaches the user through notifications.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SignedEventsSystemTests {
    @Test func genuineEventsFlowAndForgedOnesAreDeadLettered() async throws {
        let shop = try await Shop.start("signed", databaseURLs: [:])
        defer { shop.up.terminate() }
        let product = try await shop.productInStock()
        let customer = try await shop.customer("ana@example.com")

        // A genuine capture, signed by payments, verified by orders: the order is confirmed.
        let bought = try await shop.buy(product.id, quantity: 1, as: customer, key: "signed-1")
        let orderID = try #require(bought.json["id"] as? String ?? bought.json["order_id"] as? String, "\(bought.text)")
        let final = try await shop.finalOrder(orderID, token: customer)
        #expect(final["status"] as? String == "confirmed", "\(final)")

        // Payments publishes its event key on its own port.
        let paymentsPort = try #require(shop.sandbox.servicePorts["payments"])
        let keys = try await TestClient(base: "http://127.0.0.1:\(paymentsPort)", http: HTTPClient.shared)
            .request(.GET, "/.well-known/event-keys")
        #expect(keys.status == 200, "\(keys.text)")
        let jwk = try #require((keys.json["keys"] as? [[String: Any]])?.first, "\(keys.text)")
        #expect(jwk["alg"] as? String == "ES256" && jwk["d"] == nil)
        let kid = try #require(jwk["kid"] as? String)

        // Written into the bus database directly: a capture signed by another key under payments'
        // real kid, and one not signed at all.
        var logger = Logger(label: "system-test")
        logger.logLevel = .warning
        let store = try await SQLiteStore.open(path: shop.sandbox.dataDir + "/bus.sqlite", logger: logger)
        let transport = SQLTransport(store: store, logger: logger)
        let capture = PaymentCaptured(orderID: "forged-order", paymentID: "pay-forged")
        let forged = try Envelope(capture, source: "payments", at: Date(), key: "forged-order")
            .signed(with: P256.Signing.PrivateKey(), kid: kid)
        let unsigned = try Envelope(capture, source: "payments", at: Date(), key: "unsigned-order")
        try await transport.publish([forged, unsigned])
        await store.close()

        let admin = try await shop.adminToken()
        let letters = try await shop.client.eventually(
            "/v1/admin/dead-letters?subscription=orders.saga-replies", token: admin, timeout: .seconds(30)
        ) { (($0.json["items"] as? [[String: Any]]) ?? []).count >= 2 }
        let items = (letters?.json["items"] as? [[String: Any]]) ?? []
        let reasons = Dictionary(
            uniqueKeysWithValues: items.compactMap { item -> (String, String)? in
                guard let id = (item["message"] as? [String: Any])?["id"] as? String else { return nil }
                return (id, item["last_error"] as? String ?? "")
            })
        #expect(reasons[forged.id]?.contains("bad signature") == true, "\(letters?.text ?? "")")
        #expect(reasons[unsigned.id]?.contains("must be signed by payments") == true, "\(letters?.text ?? "")")

        // A role change (the admin's second factor first), published by identity in the transaction
        // that makes it, signed, and told to the user by notifications.
        let me = try await shop.client.request(.GET, "/v1/auth/me", token: customer)
        let userID = try #require(me.json["id"] as? String)
        let changed = try await shop.client.request(
            .PUT, "/v1/users/\(userID)/roles", json: ["roles": ["customer", "finance"]],
            token: try await Self.secondFactorToken(shop, passwordToken: admin))
        #expect(changed.status == 200, "\(changed.text)")
        let told = try await shop.client.eventually("/v1/notifications?limit=100", token: customer, timeout: .seconds(30)) {
            (($0.json["items"] as? [[String: Any]]) ?? []).contains { $0["event_type"] as? String == RolesChanged.type }
        }
        let notes = (told?.json["items"] as? [[String: Any]]) ?? []
        let roles = try #require(notes.first { $0["event_type"] as? String == RolesChanged.type }, "\(told?.text ?? "")")
        #expect((roles["body"] as? String)?.contains("customer, finance") == true, "\(roles)")
    }

    /// Enrols the shop's admin in MFA with `passwordToken` and logs in with both steps.
    static func secondFactorToken(_ shop: Shop, passwordToken: String) async throws -> String {
        let enrolment = try await shop.client.request(.POST, "/v1/auth/mfa/enrolment", token: passwordToken)
        let secret = try #require(enrolment.json["secret"] as? String, "\(enrolment.text)")
        let totp = TOTP(secret: try #require(Base32.decode(secret)))
        let now = Date()
        let confirmed = try await shop.client.request(
            .POST, "/v1/auth/mfa/enrolment/confirm", json: ["code": totp.code(at: now)], token: passwordToken)
        try #require(confirmed.status == 200, "\(confirmed.text)")
        let challenge = try await shop.client.request(
            .POST, "/v1/auth/login", json: ["email": Shop.adminEmail, "password": Shop.adminPassword])
        // The next step's code: the drift window takes it, and the replay rule refused this step's.
        let second = try await shop.client.request(
            .POST, "/v1/auth/login/mfa",
            json: [
                "mfa_token": try #require(challenge.json["mfa_token"] as? String),
                "code": totp.code(step: totp.step(at: now) + 1),
            ])
        return try #require(second.json["access_token"] as? String, "\(second.text)")
    }
}
