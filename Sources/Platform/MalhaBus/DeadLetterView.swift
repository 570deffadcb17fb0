public import Foundation
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

        enum CodingKeys: String, CodingKey {
            case id, type, source, traceparent, key, payload
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
            payloadText: payload == nil ? String(decoding: envelope.payload, as: UTF8.self) : nil)
        attempts = letter.attempts
        lastError = letter.lastError
        deadAt = letter.deadAt
    }
}

/// Any JSON value, for showing payloads whose contract the reader does not know.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
