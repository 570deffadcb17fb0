public import Foundation
import MalhaCore

/// A message as it travels: the payload plus what every consumer needs to know about it.
///
/// The payload is kept as the JSON bytes the publisher wrote; consumers decode it into the
/// contract type they expect (`decode(_:)`), so a transport never needs to know the types.
public struct Envelope: Sendable, Hashable {
    /// UUIDv7 (time-ordered), lowercased. The inbox deduplicates on it.
    public var id: String
    /// Versioned wire name, `<context>.<event-name>.v<n>`, e.g. `orders.order-placed.v1`.
    public var type: String
    /// The publishing service.
    public var source: String
    /// Millisecond precision (what every transport stores); the initialiser truncates.
    public var occurredAt: Date
    /// The id that ties every message of one business flow together (an order's saga).
    public var correlationID: String
    /// The id of the message (or request) that caused this one.
    public var causationID: String?
    /// W3C trace context, so traces cross the bus.
    public var traceparent: String?
    /// Ordering key: messages with the same key reach a subscription one at a time, in publish order.
    public var key: String?
    /// The contract, as JSON.
    public var payload: Data
    /// Delivery attempt, 1-based, as counted by the transport (0 before the first delivery).
    public var attempt: Int
    /// The publisher's signature, `<kid>.<base64url(ES256 r||s)>`, over `signingInput` (see
    /// Envelope+Signature.swift); nil when unsigned. Every transport stores it with the envelope.
    public var signature: String?
    /// Whether a consumer checked `signature` against the key its publisher publishes (never
    /// stored: each consumer verifies for itself). `decode` refuses a `SignedMessageContract`
    /// whose envelope is not verified.
    public package(set) var isSignatureVerified = false

    public init(
        id: String = UUID.v7().lowercased, type: String, source: String, occurredAt: Date, correlationID: String,
        causationID: String? = nil, traceparent: String? = nil, key: String? = nil, payload: Data, attempt: Int = 0,
        signature: String? = nil
    ) {
        self.id = id
        self.type = type
        self.source = source
        self.occurredAt = Date(epochMilliseconds: occurredAt.epochMilliseconds)
        self.correlationID = correlationID
        self.causationID = causationID
        self.traceparent = traceparent
        self.key = key
        self.payload = payload
        self.attempt = attempt
        self.signature = signature
    }
}

/// An event or command with an explicit, versioned wire name. Every contract lives in the
/// `Contracts` target; a breaking change is a new type (`.v2`), never an edit of the old one.
public protocol MessageContract: Codable, Sendable {
    static var type: String { get }
}

/// A critical contract (money moved, privileges changed): its publisher signs it, and a consumer
/// acts on it only once the signature is verified against the key of the service that owns the
/// type (the part of `type` before the first dot) — `Envelope.decode` refuses it otherwise, so no
/// handler can read one that is unsigned, forged or re-attributed, whatever its subscription says.
public protocol SignedMessageContract: MessageContract {}

extension MessageContract {
    /// The service that owns this contract, and so publishes it: `payments` for `payments.….v1`.
    public static var owner: Substring { Envelope.owner(ofType: type) }
}

extension Envelope {
    /// An envelope for `message`. Without a correlation id the message starts a new flow (its
    /// own id correlates it).
    public init<Message: MessageContract>(
        _ message: Message, source: String, at date: Date, key: String? = nil, correlationID: String? = nil,
        causationID: String? = nil, traceparent: String? = nil
    ) throws {
        let id = UUID.v7(at: date).lowercased
        self.init(
            id: id, type: Message.type, source: source, occurredAt: date, correlationID: correlationID ?? id,
            causationID: causationID, traceparent: traceparent, key: key, payload: try MessageCoding.encoder.encode(message))
    }

    /// An envelope for a message caused by this one: same correlation and trace, this one as cause.
    public func caused<Message: MessageContract>(
        _ message: Message, source: String, at date: Date, key: String? = nil
    ) throws -> Envelope {
        try Envelope(
            message, source: source, at: date, key: key, correlationID: correlationID, causationID: id,
            traceparent: traceparent)
    }

    /// The payload as `Message`. Throws `MessageDecodingError` (a permanent failure: retrying
    /// cannot make bytes decode) when the type or the payload does not match.
    public func decode<Message: MessageContract>(_: Message.Type) throws -> Message {
        guard type == Message.type else {
            throw MessageDecodingError(messageID: id, reason: "type is \(type), expected \(Message.type)")
        }
        if Message.self is any SignedMessageContract.Type, !isSignatureVerified {
            throw EnvelopeSignatureRejected(
                messageID: id,
                reason: signature == nil
                    ? "\(type) must be signed by \(Message.owner) and is not"
                    : "\(type) carries a signature no verifier checked")
        }
        do {
            return try MessageCoding.decoder.decode(Message.self, from: payload)
        } catch {
            throw MessageDecodingError(messageID: id, reason: "payload does not decode as \(Message.type): \(error)")
        }
    }
}

/// The payload of a message cannot be read as its contract. Permanent: straight to dead letters.
public struct MessageDecodingError: Error, PermanentMessageError, CustomStringConvertible {
    public var messageID: String
    public var reason: String
    public var description: String { "message \(messageID): \(reason)" }
}

/// Marks an error that retrying cannot fix (undecodable or invalid message): the consumer runner
/// sends the message to the dead letters at once instead of retrying it.
public protocol PermanentMessageError: Error {}

/// A handler's way to say "this message is invalid" without defining an error type.
public struct InvalidMessage: PermanentMessageError, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// JSON settings every contract is written and read with.
public enum MessageCoding {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}
