import Foundation
public import MalhaCore
public import MalhaStore
import SQLKit
import Synchronization

/// A payment provider that runs inside the payments service, so checkout works with nothing else
/// installed. It behaves like a real one where it matters: it remembers every idempotency key (in
/// `provider_simulated_operations`, in the payments database — the stand-in for a real provider's
/// own records, so it survives a restart) and answers a repeated key as it did the first time; it
/// refuses to capture what it never authorized; it can be slow and it can fail.
///
/// Rules: payment method `pm_card_declined` → `card_declined`; `pm_card_insufficient_funds`, or an
/// amount above `declineAboveCents` → `insufficient_funds`; `pm_card_unavailable` → always a
/// transient failure (to watch retries and the circuit breaker); anything else is approved.
public final class SimulatedProvider: PaymentProvider {
    /// `malha.payments.provider.simulated.*`.
    public struct Settings: Sendable, Hashable {
        /// How long each call takes.
        public var latency: Duration
        /// The share of calls, 0…1, that fail transiently: half before the operation is recorded
        /// (the request was lost), half after (the response was lost — the retry must not repeat it).
        public var failureRate: Double
        /// Authorizations above this amount are declined `insufficient_funds` (nil: no limit).
        public var declineAboveCents: Int64?

        public init(latency: Duration = .zero, failureRate: Double = 0, declineAboveCents: Int64? = nil) {
            self.latency = latency
            self.failureRate = min(1, max(0, failureRate))
            self.declineAboveCents = declineAboveCents
        }
    }

    public static let declinedMethod = "pm_card_declined"
    public static let insufficientFundsMethod = "pm_card_insufficient_funds"
    public static let unavailableMethod = "pm_card_unavailable"

    public let settings: Settings
    let store: any SQLStore
    let clock: any WallClock
    let random: @Sendable () -> Double
    private let callsByKey = Mutex<[String: Int]>([:])

    /// `store` is the payments database (migrated with `PaymentsService.migrations`). `random`
    /// draws the failure injection (tests pass a fixed sequence).
    public init(
        settings: Settings = Settings(), store: any SQLStore, clock: any WallClock = SystemWallClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.settings = settings
        self.store = store
        self.clock = clock
        self.random = random
    }

    public func authorize(_ request: AuthorizationRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        if request.paymentMethod == Self.unavailableMethod {
            count(idempotencyKey)
            throw ProviderUnavailable("simulated provider: the card network does not answer")
        }
        return try await perform("authorize", paymentID: request.paymentID, amount: request.amountCents, key: idempotencyKey) {
            _ in
            switch request.paymentMethod {
            case Self.declinedMethod: return .declined(reason: "card_declined")
            case Self.insufficientFundsMethod: return .declined(reason: "insufficient_funds")
            default:
                if let limit = self.settings.declineAboveCents, request.amountCents > limit {
                    return .declined(reason: "insufficient_funds")
                }
                return .approved(reference: "sim_auth_" + UUID.v7().lowercased)
            }
        }
    }

    public func capture(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await perform("capture", paymentID: request.paymentID, amount: request.amountCents, key: idempotencyKey) { db in
            let done = try await Self.approved(paymentID: request.paymentID, in: db)
            guard done["authorize"] != nil else { return .declined(reason: "authorization_not_found") }
            guard done["void"] == nil else { return .declined(reason: "authorization_voided") }
            return .approved(reference: "sim_cap_" + UUID.v7().lowercased)
        }
    }

    public func void(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await perform("void", paymentID: request.paymentID, amount: request.amountCents, key: idempotencyKey) { db in
            let done = try await Self.approved(paymentID: request.paymentID, in: db)
            guard done["capture"] == nil else { return .declined(reason: "already_captured") }
            // Voiding an authorization that never happened leaves nothing held: that is a success.
            return .approved(reference: "sim_void_" + UUID.v7().lowercased)
        }
    }

    public func refund(_ request: SettlementRequest, idempotencyKey: String) async throws -> ProviderOutcome {
        try await perform("refund", paymentID: request.paymentID, amount: request.amountCents, key: idempotencyKey) { db in
            let done = try await Self.approved(paymentID: request.paymentID, in: db)
            guard let captured = done["capture"] else { return .declined(reason: "not_captured") }
            guard (done["refund"] ?? 0) + request.amountCents <= captured else {
                return .declined(reason: "refund_exceeds_capture")
            }
            return .approved(reference: "sim_ref_" + UUID.v7().lowercased)
        }
    }

    // MARK: Inspection (tests, demos)

    /// Captures the provider performed for `paymentID` (not calls: a repeated key is one capture).
    public func captureCount(paymentID: String) async throws -> Int {
        try await store.read { db in
            try await db.raw(
                """
                SELECT COUNT(*) AS n FROM provider_simulated_operations
                WHERE payment_id = \(bind: paymentID) AND operation = 'capture' AND outcome = 'approved'
                """
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// Calls received with `idempotencyKey` since this instance started (repeats included).
    public func calls(idempotencyKey: String) -> Int { callsByKey.withLock { $0[idempotencyKey] ?? 0 } }

    // MARK: -

    private func count(_ key: String) {
        callsByKey.withLock { $0[key, default: 0] += 1 }
    }

    /// Looks the key up, or decides with `decide` and records the decision, in one transaction.
    private func perform(
        _ operation: String, paymentID: String, amount: Int64, key: String,
        decide: @escaping @Sendable (any SQLDatabase) async throws -> ProviderOutcome
    ) async throws -> ProviderOutcome {
        count(key)
        let draw = random()
        if draw < settings.failureRate / 2 { throw ProviderUnavailable("simulated provider: request lost") }
        if settings.latency > .zero { try await Task.sleep(for: settings.latency) }
        let now = clock.now()
        let outcome = try await store.transaction { db -> ProviderOutcome in
            if let row = try await db.raw(
                "SELECT operation, outcome, reason, reference FROM provider_simulated_operations WHERE idempotency_key = \(bind: key)"
            ).first() {
                guard try row.decode(column: "operation", as: String.self) == operation else {
                    return .declined(reason: "idempotency_key_reused")
                }
                return try Self.outcome(
                    row.decode(column: "outcome", as: String.self), reason: row.decode(column: "reason", as: String?.self),
                    reference: row.decode(column: "reference", as: String?.self))
            }
            let outcome = try await decide(db)
            let (name, reason, reference): (String, String?, String?) =
                switch outcome {
                case .approved(let reference): ("approved", nil, reference)
                case .declined(let reason): ("declined", reason, nil)
                case .pending(let reference): ("pending", nil, reference)
                }
            try await db.raw(
                """
                INSERT INTO provider_simulated_operations
                    (idempotency_key, operation, payment_id, amount_cents, outcome, reason, reference, created_at)
                VALUES (\(bind: key), \(bind: operation), \(bind: paymentID), \(bind: amount), \(bind: name), \(bind: reason),
                    \(bind: reference), \(bind: now.epochMilliseconds))
                """
            ).run()
            return outcome
        }
        if draw < settings.failureRate { throw ProviderUnavailable("simulated provider: response lost") }
        return outcome
    }

    private static func outcome(_ name: String, reason: String?, reference: String?) -> ProviderOutcome {
        switch name {
        case "approved": .approved(reference: reference ?? "")
        case "pending": .pending(reference: reference ?? "")
        default: .declined(reason: reason ?? "declined")
        }
    }

    /// Approved amounts per operation for `paymentID` (refunds summed).
    private static func approved(paymentID: String, in db: any SQLDatabase) async throws -> [String: Int64] {
        var totals: [String: Int64] = [:]
        for row in try await db.raw(
            """
            SELECT operation, amount_cents FROM provider_simulated_operations
            WHERE payment_id = \(bind: paymentID) AND outcome = 'approved'
            """
        ).all() {
            totals[try row.decode(column: "operation", as: String.self), default: 0] += try row.decode(
                column: "amount_cents", as: Int64.self)
        }
        return totals
    }
}
