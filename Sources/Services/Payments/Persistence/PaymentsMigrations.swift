import MalhaStore

/// The payments schema. Portable SQL: TEXT ids, BIGINT epoch-ms timestamps and cents, JSON in TEXT.
enum PaymentsMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "payments") { backend in
            let seq = backend == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                // One payment per order: `order_id UNIQUE` is what makes a repeated authorize idempotent.
                """
                CREATE TABLE payments (
                    id TEXT PRIMARY KEY,
                    order_id TEXT NOT NULL UNIQUE,
                    customer_id TEXT NOT NULL,
                    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
                    currency TEXT NOT NULL,
                    payment_method TEXT,
                    state TEXT NOT NULL,
                    decline_reason TEXT,
                    fraud_verdict TEXT,
                    fraud_reasons TEXT NOT NULL,
                    provider_reference TEXT,
                    refunded_cents BIGINT NOT NULL CHECK (refunded_cents >= 0),
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    CHECK (refunded_cents <= amount_cents))
                """,
                "CREATE INDEX payments_by_customer ON payments (customer_id, created_at)",
                """
                CREATE TABLE payment_refunds (
                    id TEXT PRIMARY KEY,
                    payment_id TEXT NOT NULL REFERENCES payments(id),
                    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
                    reason TEXT NOT NULL,
                    state TEXT NOT NULL,
                    failure_reason TEXT,
                    requested_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX payment_refunds_by_payment ON payment_refunds (payment_id, created_at)",
                // The processor's work queue: one row per provider call owed. `idempotency_key UNIQUE`
                // means one capture (one void, one authorization) per payment, ever.
                """
                CREATE TABLE payment_operations (
                    id TEXT PRIMARY KEY,
                    payment_id TEXT NOT NULL REFERENCES payments(id),
                    refund_id TEXT REFERENCES payment_refunds(id),
                    kind TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_at BIGINT,
                    claim_token TEXT,
                    claimed_until BIGINT,
                    provider_reference TEXT,
                    outcome_reason TEXT,
                    reply_to TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX payment_operations_due ON payment_operations (state, next_attempt_at)",
                "CREATE INDEX payment_operations_by_payment ON payment_operations (payment_id)",
                "CREATE INDEX payment_operations_by_reference ON payment_operations (provider_reference)",
                """
                CREATE TABLE payment_events (
                    seq \(seq),
                    id TEXT NOT NULL UNIQUE,
                    payment_id TEXT NOT NULL,
                    refund_id TEXT,
                    type TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    from_state TEXT,
                    to_state TEXT,
                    detail TEXT NOT NULL,
                    at BIGINT NOT NULL)
                """,
                "CREATE INDEX payment_events_by_payment ON payment_events (payment_id, seq)",
                """
                CREATE TABLE provider_simulated_operations (
                    idempotency_key TEXT PRIMARY KEY,
                    operation TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount_cents BIGINT NOT NULL,
                    outcome TEXT NOT NULL,
                    reason TEXT,
                    reference TEXT,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX provider_simulated_by_payment ON provider_simulated_operations (payment_id)",
            ] + AuditTrail.appendOnly(table: "payment_events", backend)
        },
        // The audit trail becomes a hash chain. Rows from before this migration stay unchained
        // (NULL chain columns; `malha audit verify` counts them apart): the chain starts at
        // sequence 1 with the first event after it. `seq` stays the insertion order the
        // per-payment reads use; `sequence` is the chain's order.
        Migration(version: 2, name: "payment_events hash chain") { backend in
            PaymentsAuditTrail.trail.chainMigration(backend)
        },
    ]
}
