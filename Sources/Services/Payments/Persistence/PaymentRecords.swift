import Foundation
import MalhaCore
import MalhaMessaging
import MalhaStore
import SQLKit

/// Rows of the payments database, read and written inside the caller's transaction (or read).
/// No decisions here: `PaymentWorkflow` decides, this file only maps rows.
enum PaymentRecords {
    static let paymentColumns = """
        id, order_id, customer_id, amount_cents, currency, payment_method, state, decline_reason, fraud_verdict, \
        fraud_reasons, provider_reference, refunded_cents, created_at, updated_at
        """
    static let operationColumns = """
        id, payment_id, refund_id, kind, idempotency_key, state, attempts, next_attempt_at, claim_token, claimed_until, \
        provider_reference, outcome_reason, reply_to, created_at, updated_at
        """
    static let refundColumns =
        "id, payment_id, amount_cents, reason, state, failure_reason, requested_by, created_at, updated_at"

    /// On PostgreSQL, reads that precede a write lock the row (SQLite's `BEGIN IMMEDIATE` already
    /// serialises writers).
    static func lock(_ db: any SQLDatabase, _ forUpdate: Bool) -> String {
        forUpdate ? RowLock.forUpdate.clause(in: db) : ""
    }

    // MARK: Payments

    static func payment(id: String, forUpdate: Bool = false, in db: any SQLDatabase) async throws -> Payment? {
        try await db.raw(
            "SELECT \(unsafeRaw: paymentColumns) FROM payments WHERE id = \(bind: id)\(unsafeRaw: lock(db, forUpdate))"
        ).first().map(decodePayment)
    }

    static func payment(orderID: String, forUpdate: Bool = false, in db: any SQLDatabase) async throws -> Payment? {
        try await db.raw(
            "SELECT \(unsafeRaw: paymentColumns) FROM payments WHERE order_id = \(bind: orderID)\(unsafeRaw: lock(db, forUpdate))"
        ).first().map(decodePayment)
    }

    static func insert(_ payment: Payment, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO payments (\(unsafeRaw: paymentColumns))
            VALUES (\(bind: payment.id), \(bind: payment.orderID), \(bind: payment.customerID), \(bind: payment.amountCents),
                \(bind: payment.currency), \(bind: payment.paymentMethod), \(bind: payment.state.rawValue),
                \(bind: payment.declineReason), \(bind: payment.fraudVerdict), \(bind: json(payment.fraudReasons ?? [])),
                \(bind: payment.providerReference), \(bind: payment.refundedCents), \(bind: payment.createdAt.epochMilliseconds),
                \(bind: payment.updatedAt.epochMilliseconds))
            """
        ).run()
    }

    /// Writes the mutable columns.
    static func update(_ payment: Payment, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE payments SET state = \(bind: payment.state.rawValue), decline_reason = \(bind: payment.declineReason),
                fraud_verdict = \(bind: payment.fraudVerdict), fraud_reasons = \(bind: json(payment.fraudReasons ?? [])),
                provider_reference = \(bind: payment.providerReference), refunded_cents = \(bind: payment.refundedCents),
                updated_at = \(bind: payment.updatedAt.epochMilliseconds)
            WHERE id = \(bind: payment.id)
            """
        ).run()
    }

    static func payments(orderID: String, in db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw("SELECT \(unsafeRaw: paymentColumns) FROM payments WHERE order_id = \(bind: orderID)").all()
            .map(decodePayment)
    }

    /// The customer's other payments started since `since`: how many, and with which methods.
    static func velocity(
        customerID: String, since: Date, excluding paymentID: String, in db: any SQLDatabase
    ) async throws -> (count: Int, methods: Set<String>) {
        let rows = try await db.raw(
            """
            SELECT payment_method FROM payments
            WHERE customer_id = \(bind: customerID) AND created_at >= \(bind: since.epochMilliseconds)
                AND id <> \(bind: paymentID)
            """
        ).all()
        let methods = try rows.compactMap { try $0.decode(column: "payment_method", as: String?.self) }
        return (rows.count, Set(methods))
    }

    static func decodePayment(_ row: any SQLRow) throws -> Payment {
        Payment(
            id: try row.decode(column: "id", as: String.self),
            orderID: try row.decode(column: "order_id", as: String.self),
            customerID: try row.decode(column: "customer_id", as: String.self),
            amountCents: try row.decode(column: "amount_cents", as: Int64.self),
            currency: try row.decode(column: "currency", as: String.self),
            paymentMethod: try row.decode(column: "payment_method", as: String?.self),
            state: try decodeEnum(PaymentState.self, row, "state"),
            declineReason: try row.decode(column: "decline_reason", as: String?.self),
            fraudVerdict: try row.decode(column: "fraud_verdict", as: String?.self),
            fraudReasons: try MessageCoding.decoder.decode(
                [String].self, from: Data(try row.decode(column: "fraud_reasons", as: String.self).utf8)),
            providerReference: try row.decode(column: "provider_reference", as: String?.self),
            refundedCents: try row.decode(column: "refunded_cents", as: Int64.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Date(epochMilliseconds: try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Refunds

    static func refunds(paymentID: String, in db: any SQLDatabase) async throws -> [Refund] {
        try await db.raw(
            "SELECT \(unsafeRaw: refundColumns) FROM payment_refunds WHERE payment_id = \(bind: paymentID) ORDER BY created_at, id"
        ).all().map(decodeRefund)
    }

    static func refund(id: String, in db: any SQLDatabase) async throws -> Refund? {
        try await db.raw("SELECT \(unsafeRaw: refundColumns) FROM payment_refunds WHERE id = \(bind: id)").first()
            .map(decodeRefund)
    }

    static func insert(_ refund: Refund, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO payment_refunds (\(unsafeRaw: refundColumns))
            VALUES (\(bind: refund.id), \(bind: refund.paymentID), \(bind: refund.amountCents), \(bind: refund.reason),
                \(bind: refund.state.rawValue), \(bind: refund.failureReason), \(bind: refund.requestedBy),
                \(bind: refund.createdAt.epochMilliseconds), \(bind: refund.updatedAt.epochMilliseconds))
            """
        ).run()
    }

    static func update(_ refund: Refund, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE payment_refunds SET state = \(bind: refund.state.rawValue), failure_reason = \(bind: refund.failureReason),
                updated_at = \(bind: refund.updatedAt.epochMilliseconds)
            WHERE id = \(bind: refund.id)
            """
        ).run()
    }

    static func decodeRefund(_ row: any SQLRow) throws -> Refund {
        Refund(
            id: try row.decode(column: "id", as: String.self),
            paymentID: try row.decode(column: "payment_id", as: String.self),
            amountCents: try row.decode(column: "amount_cents", as: Int64.self),
            reason: try row.decode(column: "reason", as: String.self),
            state: try decodeEnum(Refund.State.self, row, "state"),
            failureReason: try row.decode(column: "failure_reason", as: String?.self),
            requestedBy: try row.decode(column: "requested_by", as: String.self),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Date(epochMilliseconds: try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Operations

    static func operations(paymentID: String, in db: any SQLDatabase) async throws -> [PaymentOperation] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: operationColumns) FROM payment_operations WHERE payment_id = \(bind: paymentID)
            ORDER BY created_at, id
            """
        ).all().map(decodeOperation)
    }

    static func operation(id: String, forUpdate: Bool = false, in db: any SQLDatabase) async throws -> PaymentOperation? {
        try await db.raw(
            "SELECT \(unsafeRaw: operationColumns) FROM payment_operations WHERE id = \(bind: id)\(unsafeRaw: lock(db, forUpdate))"
        ).first().map(decodeOperation)
    }

    static func operation(reference: String, in db: any SQLDatabase) async throws -> PaymentOperation? {
        try await db.raw(
            "SELECT \(unsafeRaw: operationColumns) FROM payment_operations WHERE provider_reference = \(bind: reference)"
        ).first().map(decodeOperation)
    }

    static func insert(_ operation: PaymentOperation, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO payment_operations (\(unsafeRaw: operationColumns))
            VALUES (\(bind: operation.id), \(bind: operation.paymentID), \(bind: operation.refundID),
                \(bind: operation.kind.rawValue), \(bind: operation.idempotencyKey), \(bind: operation.state.rawValue),
                \(bind: operation.attempts), \(bind: operation.nextAttemptAt?.epochMilliseconds), \(bind: operation.claimToken),
                \(bind: operation.claimedUntil?.epochMilliseconds), \(bind: operation.providerReference),
                \(bind: operation.outcomeReason), \(bind: json(operation.replyTo)), \(bind: operation.createdAt.epochMilliseconds),
                \(bind: operation.updatedAt.epochMilliseconds))
            """
        ).run()
    }

    /// Writes the mutable columns (the kind may change once: a blocked void becomes a release).
    static func update(_ operation: PaymentOperation, in db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE payment_operations SET kind = \(bind: operation.kind.rawValue), state = \(bind: operation.state.rawValue),
                attempts = \(bind: operation.attempts), next_attempt_at = \(bind: operation.nextAttemptAt?.epochMilliseconds),
                claim_token = \(bind: operation.claimToken), claimed_until = \(bind: operation.claimedUntil?.epochMilliseconds),
                provider_reference = \(bind: operation.providerReference), outcome_reason = \(bind: operation.outcomeReason),
                reply_to = \(bind: json(operation.replyTo)), updated_at = \(bind: operation.updatedAt.epochMilliseconds)
            WHERE id = \(bind: operation.id)
            """
        ).run()
    }

    /// Leases up to `limit` due operations to `token` until `until`, counting an attempt on each.
    /// An operation is due when its time has come and nobody holds a live lease on it — a lease
    /// left by a process that died lapses, and the next claim repeats its call with the same key.
    /// PostgreSQL replicas skip each other's locked rows (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer.
    static func claimDue(
        now: Date, until: Date, token: String, limit: Int, in db: any SQLDatabase
    ) async throws -> [PaymentOperation] {
        let skipLocked = RowLock.forUpdateSkipLocked.clause(in: db)
        let nowMS = now.epochMilliseconds
        return try await db.raw(
            """
            UPDATE payment_operations
            SET claim_token = \(bind: token), claimed_until = \(bind: until.epochMilliseconds), attempts = attempts + 1,
                updated_at = \(bind: nowMS)
            WHERE id IN (
                SELECT id FROM payment_operations
                WHERE state IN ('due', 'waiting') AND next_attempt_at <= \(bind: nowMS)
                    AND (claimed_until IS NULL OR claimed_until <= \(bind: nowMS))
                ORDER BY next_attempt_at, id LIMIT \(bind: limit) \(unsafeRaw: skipLocked))
            RETURNING \(unsafeRaw: operationColumns)
            """
        ).all().map(decodeOperation)
    }

    static func decodeOperation(_ row: any SQLRow) throws -> PaymentOperation {
        let createdAt = Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self))
        var operation = PaymentOperation(
            id: try row.decode(column: "id", as: String.self),
            paymentID: try row.decode(column: "payment_id", as: String.self),
            refundID: try row.decode(column: "refund_id", as: String?.self),
            kind: try decodeEnum(OperationKind.self, row, "kind"), subject: "",
            state: try decodeEnum(OperationState.self, row, "state"),
            nextAttemptAt: try row.decode(column: "next_attempt_at", as: Int64?.self).map(Date.init(epochMilliseconds:)),
            replyTo: try MessageCoding.decoder.decode(
                [ReplyAddress].self, from: Data(try row.decode(column: "reply_to", as: String.self).utf8)),
            now: createdAt)
        operation.idempotencyKey = try row.decode(column: "idempotency_key", as: String.self)
        operation.attempts = try row.decode(column: "attempts", as: Int.self)
        operation.claimToken = try row.decode(column: "claim_token", as: String?.self)
        operation.claimedUntil = try row.decode(column: "claimed_until", as: Int64?.self).map(Date.init(epochMilliseconds:))
        operation.providerReference = try row.decode(column: "provider_reference", as: String?.self)
        operation.outcomeReason = try row.decode(column: "outcome_reason", as: String?.self)
        operation.updatedAt = Date(epochMilliseconds: try row.decode(column: "updated_at", as: Int64.self))
        return operation
    }

    // MARK: Audit trail

    /// Appends `event` to the hash chain (locking its head until the caller's transaction ends).
    static func append(_ event: PaymentAuditEvent, in db: any SQLDatabase) async throws {
        try await PaymentsAuditTrail.trail.append(PaymentsAuditTrail.fields(event), in: db)
    }

    static func events(paymentID: String, in db: any SQLDatabase) async throws -> [PaymentAuditEvent] {
        try await db.raw(
            """
            SELECT id, payment_id, refund_id, type, actor, from_state, to_state, detail, at FROM payment_events
            WHERE payment_id = \(bind: paymentID) ORDER BY seq
            """
        ).all().map { row in
            PaymentAuditEvent(
                id: try row.decode(column: "id", as: String.self),
                paymentID: try row.decode(column: "payment_id", as: String.self),
                refundID: try row.decode(column: "refund_id", as: String?.self),
                type: try row.decode(column: "type", as: String.self),
                actor: try row.decode(column: "actor", as: String.self),
                fromState: try row.decode(column: "from_state", as: String?.self),
                toState: try row.decode(column: "to_state", as: String?.self),
                detail: try row.decode(column: "detail", as: String.self),
                at: Date(epochMilliseconds: try row.decode(column: "at", as: Int64.self)))
        }
    }

    // MARK: -

    static func decodeEnum<T: RawRepresentable<String>>(_: T.Type, _ row: any SQLRow, _ column: String) throws -> T {
        let raw = try row.decode(column: column, as: String.self)
        guard let value = T(rawValue: raw) else { throw CorruptRow(column: column, value: raw) }
        return value
    }

    static func json(_ value: some Encodable) -> String {
        String(decoding: (try? MessageCoding.encoder.encode(value)) ?? Data("[]".utf8), as: UTF8.self)
    }
}

/// A stored value this version does not know (written by a newer one, or by hand).
struct CorruptRow: Error, CustomStringConvertible {
    var column: String
    var value: String
    var description: String { "unexpected \(column) '\(value)' in the payments database" }
}
