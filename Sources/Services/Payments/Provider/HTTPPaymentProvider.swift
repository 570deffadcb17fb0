public import AsyncHTTPClient
import Foundation
import MalhaHTTP
import NIOCore

/// A real payment service over HTTP (`malha.payments.provider.http.*`).
///
/// `POST <base>/authorizations | /captures | /voids | /refunds` with a JSON body and the
/// `Idempotency-Key` header; a 2xx answers `{"status": "approved"|"declined"|"pending",
/// "reason"?, "reference"?}`. Timeouts, connection errors, 408, 429 and 5xx are transient
/// (`ProviderUnavailable`: the call is repeated later with the same key); any other 4xx is the
/// provider refusing the operation, a decline. A `pending` answer is settled by the provider's
/// signed webhook (`WebhookSignature`).
public struct HTTPPaymentProvider: PaymentProvider {
    public let baseURL: String
    let httpClient: HTTPClient
    let timeout: Duration

    public init(baseURL: String, httpClient: HTTPClient, timeout: Duration = .seconds(5)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// What the provider answers.
    struct Answer: Decodable {
        var status: String
        var reason: String?
        var reference: String?
    }

    public func authorize(_ request: AuthorizationRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await post("/authorizations", request, idempotencyKey: idempotencyKey)
    }

    public func capture(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await post("/captures", request, idempotencyKey: idempotencyKey)
    }

    public func void(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await post("/voids", request, idempotencyKey: idempotencyKey)
    }

    public func refund(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await post("/refunds", request, idempotencyKey: idempotencyKey)
    }

    func post(_ path: String, _ body: some Encodable, idempotencyKey: String) async throws -> ProviderOutcome {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        request.body = .bytes(ByteBuffer(bytes: try JSONCoding.encoder.encode(body)))
        let status: Int
        let buffer: ByteBuffer
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            status = Int(response.status.code)
            buffer = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw ProviderUnavailable("\(path): \(error)")
        }
        let answer = try? JSONCoding.decoder.decode(Answer.self, from: Data(buffer.readableBytesView))
        return try Self.outcome(status: status, answer: answer, path: path)
    }

    /// The outcome an HTTP answer means.
    static func outcome(status: Int, answer: Answer?, path: String) throws -> ProviderOutcome {
        switch status {
        case 200..<300:
            switch (answer?.status, answer?.reference) {
            case ("approved", let reference): return .approved(reference: reference ?? "")
            case ("declined", _): return .declined(reason: answer?.reason ?? "declined")
            case ("pending", let reference?) where !reference.isEmpty: return .pending(reference: reference)
            default: throw ProviderUnavailable("\(path): a \(status) answer the service cannot read")
            }
        case 408, 429, 500...:
            throw ProviderUnavailable("\(path): HTTP \(status)")
        default:
            return .declined(reason: answer?.reason ?? "provider_rejected")
        }
    }
}
