import Foundation
public import MalhaCore
public import MalhaStore

/// `audit_events` as a hash chain: every audited column, as stored, is in each record's hash.
public enum IdentityAuditTrail {
    static let trail = AuditTrail(
        table: "audit_events",
        columns: [
            .init("id", .text), .init("occurred_at", .integer), .init("event", .text), .init("subject", .text),
            .init("email", .text), .init("client_address", .text), .init("detail", .text),
        ])

    /// The chain's records and head, for `malha audit verify identity`.
    public static func snapshot(in store: any SQLStore) async throws -> AuditChainSnapshot {
        try await store.read { db in try await trail.snapshot(in: db) }
    }

    static func fields(_ entry: IdentityRepository.AuditEntry) -> [AuditField] {
        [
            AuditField("id", .text(UUID.v7(at: entry.at).lowercased)),
            AuditField("occurred_at", .integer(entry.at.epochMilliseconds)),
            AuditField("event", .text(entry.event.rawValue)), AuditField("subject", AuditValue(entry.subject)),
            AuditField("email", AuditValue(entry.email)), AuditField("client_address", AuditValue(entry.clientAddress)),
            AuditField("detail", AuditValue(entry.detail)),
        ]
    }
}
