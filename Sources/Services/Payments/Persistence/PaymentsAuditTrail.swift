import Foundation
public import MalhaCore
public import MalhaStore

/// `payment_events` as a hash chain: every audited column, as stored, is in each record's hash.
public enum PaymentsAuditTrail {
    static let trail = AuditTrail(
        table: "payment_events",
        columns: [
            .init("id", .text), .init("payment_id", .text), .init("refund_id", .text), .init("type", .text),
            .init("actor", .text), .init("from_state", .text), .init("to_state", .text), .init("detail", .text),
            .init("at", .integer),
        ])

    /// The chain's records and head, for `malha audit verify payments`.
    public static func snapshot(in store: any SQLStore) async throws -> AuditChainSnapshot {
        try await store.read { db in try await trail.snapshot(in: db) }
    }

    static func fields(_ event: PaymentAuditEvent) -> [AuditField] {
        [
            AuditField("id", .text(event.id)), AuditField("payment_id", .text(event.paymentID)),
            AuditField("refund_id", AuditValue(event.refundID)), AuditField("type", .text(event.type)),
            AuditField("actor", .text(event.actor)), AuditField("from_state", AuditValue(event.fromState)),
            AuditField("to_state", AuditValue(event.toState)), AuditField("detail", .text(event.detail)),
            AuditField("at", .integer(event.at.epochMilliseconds)),
        ]
    }
}
