public import Foundation
import MalhaCore
public import SQLKit

/// How SQL tables that hold envelopes (the outbox, the bus's messages and dead letters) store one:
/// the same columns everywhere, so each table reads and writes them one way (the signature too:
/// a dead letter, and its replay, keep the publisher's signature).
extension Envelope {
    /// The envelope's columns, in `sqlBinds` order (the delivery attempt is each table's own business).
    public static let sqlColumns =
        "message_id, message_type, source, occurred_at, correlation_id, causation_id, traceparent, message_key, payload, signature"

    /// Values for `sqlColumns`, for `\(binds:)`.
    public var sqlBinds: [any Encodable & Sendable] {
        [
            id, type, source, occurredAt.epochMilliseconds, correlationID, causationID, traceparent, key,
            String(decoding: payload, as: UTF8.self), signature,
        ]
    }

    /// Reads the `sqlColumns` of a row.
    public init(sqlRow row: any SQLRow) throws {
        self.init(
            id: try row.decode(column: "message_id", as: String.self),
            type: try row.decode(column: "message_type", as: String.self),
            source: try row.decode(column: "source", as: String.self),
            occurredAt: Date(epochMilliseconds: try row.decode(column: "occurred_at", as: Int64.self)),
            correlationID: try row.decode(column: "correlation_id", as: String.self),
            causationID: try row.decode(column: "causation_id", as: String?.self),
            traceparent: try row.decode(column: "traceparent", as: String?.self),
            key: try row.decode(column: "message_key", as: String?.self),
            payload: Data(try row.decode(column: "payload", as: String.self).utf8),
            signature: try row.decode(column: "signature", as: String?.self))
    }
}
