public import AsyncHTTPClient
import Crypto
import Foundation
public import MalhaCore
import NIOCore

/// Delivers through an HTTP API: one `POST` of JSON per notification to the URL configured for its
/// channel — `{"id", "channel", "to", "subject"?, "title"?, "body"}` — which an e-mail, SMS or push
/// vendor's API (or a small adapter in front of one) turns into a real message.
///
/// Headers: `Idempotency-Key: <notification id>` (a retry after a lost answer is the same
/// message); with a secret, `X-Malha-Timestamp: <unix seconds>` and
/// `X-Malha-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>`, which the
/// receiver recomputes (and whose timestamp it checks for freshness) to know the call is ours.
///
/// Outcomes: 2xx → sent, the provider's id read from a JSON body's `id` or `message_id` (else the
/// notification id); 408, 429 and 5xx, timeouts and connection errors → transient (retried);
/// any other status → permanent. A notification without a recipient address fails permanently
/// with `no_address` and nothing is sent.
public struct WebhookNotificationProvider: NotificationProvider {
    let url: String
    let secret: String?
    let httpClient: HTTPClient
    let timeout: Duration
    let clock: any WallClock

    /// The most of a response body read (for the provider's message id).
    static let maxResponseBytes = 64 * 1024

    public init(
        url: String, secret: String?, httpClient: HTTPClient, timeout: Duration = .seconds(10),
        clock: any WallClock = SystemWallClock()
    ) {
        self.url = url
        self.secret = secret
        self.httpClient = httpClient
        self.timeout = timeout
        self.clock = clock
    }

    struct Payload: Encodable {
        var id: String
        var channel: String
        var to: String
        var subject: String?
        var title: String?
        var body: String
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public func send(_ notification: OutgoingNotification, to recipient: NotificationRecipient) async throws -> String {
        guard let address = recipient.address, !address.isEmpty else {
            throw DeliveryFailure.permanent(
                "no_address", "the user has no \(notification.channel.rawValue) address in their preferences")
        }
        let content = notification.content
        let body = try Self.encoder.encode(
            Payload(
                id: notification.id, channel: notification.channel.rawValue, to: address, subject: content.subject,
                title: content.title, body: content.body))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: notification.id)
        if let secret {
            let timestamp = String(clock.now().epochMilliseconds / 1000)
            request.headers.add(name: "X-Malha-Timestamp", value: timestamp)
            request.headers.add(
                name: "X-Malha-Signature", value: Self.signature(body: body, timestamp: timestamp, secret: secret))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let responseBody: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            status = Int(response.status.code)
            responseBody = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw DeliveryFailure.transient("timeout", "no answer from \(url) within \(timeout)")
        } catch {
            throw DeliveryFailure.transient("connection", "\(url): \(error)")
        }
        switch status {
        case 200..<300:
            return Self.messageID(in: responseBody) ?? notification.id
        case 408, 429, 500...:
            throw DeliveryFailure.transient("http_\(status)", "\(url) answered \(status)")
        default:
            throw DeliveryFailure.permanent("http_\(status)", "\(url) answered \(status)")
        }
    }

    /// `sha256=<hex>` of HMAC-SHA256(`secret`, `<timestamp>.<body>`).
    public static func signature(body: some DataProtocol, timestamp: String, secret: String) -> String {
        var message = Data(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    static func messageID(in body: ByteBuffer) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            return nil
        }
        for key in ["id", "message_id"] {
            if let id = object[key] as? String, !id.isEmpty, id.count <= 200 { return id }
        }
        return nil
    }
}
