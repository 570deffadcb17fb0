public import Foundation
public import MalhaCore
public import MalhaMessaging

/// A dead letter as people read it (admin API and `malha dlq`): the envelope with its payload as
/// JSON, and every attempt's time and error.
public struct DeadLetterView: Codable, Sendable, Equatable {
    public struct Message: Codable, Sendable, Equatable {
        public var id: String
        public var type: String
        public var source: String
        public var occurredAt: Date
        public var correlationID: String
        public var causationID: String?
        public var traceparent: String?
        public var key: String?
        /// The payload as JSON; `payload_text` instead when it is not valid JSON (why it died, often).
        public var payload: JSONValue?
        public var payloadText: String?
        /// The publisher's signature, as it arrived (a replay keeps it, and is verified again).
        public var signature: String?

        enum CodingKeys: String, CodingKey {
            case id, type, source, traceparent, key, payload, signature
            case occurredAt = "occurred_at"
            case correlationID = "correlation_id"
            case causationID = "causation_id"
            case payloadText = "payload_text"
        }
    }

    public var subscription: String
    public var message: Message
    public var attempts: [AttemptRecord]
    public var lastError: String
    public var deadAt: Date

    enum CodingKeys: String, CodingKey {
        case subscription, message, attempts
        case lastError = "last_error"
        case deadAt = "dead_at"
    }

    public init(_ letter: DeadLetter) {
        let envelope = letter.envelope
        let payload = try? JSONDecoder().decode(JSONValue.self, from: envelope.payload)
        subscription = letter.subscription
        message = Message(
            id: envelope.id, type: envelope.type, source: envelope.source, occurredAt: envelope.occurredAt,
            correlationID: envelope.correlationID, causationID: envelope.causationID, traceparent: envelope.traceparent,
            key: envelope.key, payload: payload,
            payloadText: payload == nil ? String(decoding: envelope.payload, as: UTF8.self) : nil,
            signature: envelope.signature)
        attempts = letter.attempts
        lastError = letter.lastError
        deadAt = letter.deadAt
    }
}
