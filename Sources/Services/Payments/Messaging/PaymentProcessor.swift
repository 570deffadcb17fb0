import Foundation
public import Logging
public import MalhaCore
import MalhaMessaging
public import MalhaStore
public import Metrics
import SQLKit
public import ServiceLifecycle

/// Talks to the provider — never inside a database transaction. It claims due operations (a
/// lease per operation, so two replicas, or a process restarted while its lease runs, never call
/// for the same one at once), screens new authorizations with antifraud, calls the provider with
/// the operation's idempotency key, and records the answer, its audit event and the saga's reply
/// in one transaction.
///
/// A crash between the call and the record leaves the lease to lapse; the next claim repeats the
/// call with the same key, and the provider answers as it did the first time.
public final class PaymentProcessor: Service {
    /// How the processor runs (`malha.payments.processor.*`).
    public struct Settings: Sendable, Hashable {
        /// How often it looks for due work when nothing wakes it.
        public var interval: Duration
        /// Operations claimed per pass.
        public var batchSize: Int
        /// How long a claim holds: longer than the provider timeout plus the bulkhead's wait.
        public var lease: Duration
        /// Retries for transient failures.
        public var retry: RetrySchedule
        /// When to ask again about a `pending` answer whose webhook has not come.
        public var pendingRecheck: Duration

        public init(
            interval: Duration = .milliseconds(500), batchSize: Int = 16, lease: Duration = .seconds(30),
            retry: RetrySchedule = RetrySchedule(), pendingRecheck: Duration = .seconds(30)
        ) {
            self.interval = interval
            self.batchSize = max(1, batchSize)
            self.lease = lease
            self.retry = retry
            self.pendingRecheck = pendingRecheck
        }
    }

    let store: any SQLStore
    let provider: GuardedProvider
    let antifraud: AntifraudPolicy
    let settings: Settings
    let clock: any WallClock
    let logger: Logger
    let metricsFactory: any MetricsFactory
    let wakeRelay: @Sendable () -> Void
    private let wakeUps = WakeUpSignal()

    public init(
        store: any SQLStore, provider: GuardedProvider, antifraud: AntifraudPolicy = AntifraudPolicy(),
        settings: Settings = Settings(), clock: any WallClock = SystemWallClock(), logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory, wakeRelay: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.provider = provider
        self.antifraud = antifraud
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.wakeRelay = wakeRelay
    }

    /// Work was just committed: look now instead of at the next interval.
    public func wake() { wakeUps.signal() }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                if try await processDue() == settings.batchSize { continue }
            } catch {
                logger.warning("payment processing pass failed", metadata: ["error": "\(error)"])
            }
            await cancelWhenGracefulShutdown { await self.wakeUps.wait(timeout: self.settings.interval) }
        }
    }

    /// One pass: claims up to `batchSize` due operations and processes them concurrently (the
    /// bulkhead bounds the provider calls). Returns how many were claimed.
    @discardableResult
    public func processDue() async throws -> Int {
        let claimed = try await claim()
        await withDiscardingTaskGroup { group in
            for operation in claimed {
                group.addTask { await self.process(operation) }
            }
        }
        return claimed.count
    }

    func claim() async throws -> [PaymentOperation] {
        let now = clock.now()
        let token = UUID.v7(at: now).lowercased
        return try await store.transaction { db in
            try await PaymentRecords.claimDue(
                now: now, until: now.adding(self.settings.lease), token: token, limit: self.settings.batchSize, in: db)
        }
    }

    /// Screens (new authorizations), calls the provider and records the answer. Failures to record
    /// are logged: the claim lapses and the operation comes back.
    func process(_ claimed: PaymentOperation) async {
        let metadata: Logger.Metadata = [
            "payment_id": "\(claimed.paymentID)", "operation": "\(claimed.kind.rawValue)", "attempt": "\(claimed.attempts)",
        ]
        do {
            guard let (payment, refund) = try await load(claimed) else { return }
            if claimed.kind == .authorize, payment.fraudVerdict == nil {
                guard try await screen(claimed) else { return }
            }
            let result: Result<ProviderOutcome, any Error>
            do {
                result = .success(try await callProvider(claimed, payment: payment, refund: refund))
            } catch {
                result = .failure(error)
            }
            let outcome = try await recordResult(result, for: claimed)
            if let outcome {
                count(outcome)
                if outcome == "provider_unavailable" || outcome == "capture_failed" {
                    logger.error(
                        "payment operation failed for good", metadata: metadata.merging(["outcome": "\(outcome)"]) { $1 })
                }
            }
        } catch {
            logger.warning(
                "payment operation not recorded; it will be retried", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    private func load(_ operation: PaymentOperation) async throws -> (Payment, Refund?)? {
        try await store.read { db in
            guard let payment = try await PaymentRecords.payment(id: operation.paymentID, in: db) else { return nil }
            let refund = try await operation.refundID.asyncMap { try await PaymentRecords.refund(id: $0, in: db) } ?? nil
            return (payment, refund)
        }
    }

    /// Antifraud on a new authorization, decided and recorded in one transaction with the
    /// velocity it counted. True when the authorization goes on to the provider.
    private func screen(_ claimed: PaymentOperation) async throws -> Bool {
        let now = clock.now()
        let (proceed, outcome) = try await store.transaction { db -> (Bool, String?) in
            guard var (payment, operation) = try await Self.stillClaimed(claimed, in: db) else { return (false, nil) }
            let velocity = try await PaymentRecords.velocity(
                customerID: payment.customerID, since: now.adding(.zero - self.antifraud.velocityWindow),
                excluding: payment.id, in: db)
            let verdict = Antifraud.evaluate(
                AntifraudInput(
                    amountCents: payment.amountCents, currency: payment.currency, paymentMethod: payment.paymentMethod,
                    recentAuthorizations: velocity.count, recentPaymentMethods: velocity.methods),
                policy: self.antifraud)
            let workflow = PaymentWorkflow(db: db, now: now, pendingRecheck: self.settings.pendingRecheck)
            let proceed = try await workflow.screen(&payment, &operation, verdict: verdict)
            return (proceed, proceed ? nil : (verdict == .approve ? nil : "fraud_\(verdict.name)"))
        }
        if let outcome {
            count(outcome)
            wakeRelay()
        }
        return proceed
    }

    private func callProvider(
        _ operation: PaymentOperation, payment: Payment, refund: Refund?
    ) async throws
        -> ProviderOutcome
    {
        let key = operation.idempotencyKey
        switch operation.kind {
        case .authorize:
            let request = AuthorizationRequest(
                paymentID: payment.id, orderID: payment.orderID, customerID: payment.customerID,
                amountCents: payment.amountCents, currency: payment.currency, paymentMethod: payment.paymentMethod)
            return try await provider.call(.authorize) { try await $0.authorize(request, idempotencyKey: key) }
        case .capture, .void, .release:
            let request = SettlementRequest(
                paymentID: payment.id, authorizationReference: payment.providerReference, amountCents: payment.amountCents,
                currency: payment.currency)
            if operation.kind == .capture {
                return try await provider.call(.capture) { try await $0.capture(request, idempotencyKey: key) }
            }
            return try await provider.call(operation.kind) { try await $0.void(request, idempotencyKey: key) }
        case .refund:
            guard let refund else { throw CorruptRow(column: "refund_id", value: operation.refundID ?? "nil") }
            let request = SettlementRequest(
                paymentID: payment.id, authorizationReference: payment.providerReference, amountCents: refund.amountCents,
                currency: payment.currency, refundID: refund.id)
            return try await provider.call(.refund) { try await $0.refund(request, idempotencyKey: key) }
        }
    }

    /// Records the provider's answer (or the transient failure) if the claim still holds.
    private func recordResult(
        _ result: Result<ProviderOutcome, any Error>, for claimed: PaymentOperation
    ) async throws
        -> String?
    {
        let now = clock.now()
        let outcome = try await store.transaction { db -> String? in
            guard var (payment, operation) = try await Self.stillClaimed(claimed, in: db) else { return nil }
            let workflow = PaymentWorkflow(db: db, now: now, pendingRecheck: self.settings.pendingRecheck)
            switch result {
            case .success(let answer):
                return try await workflow.record(answer, for: &operation, payment: &payment, actor: Actor.provider)
            case .failure(let error):
                let (decision, sent) = self.retryDecision(after: error, operation: operation, now: now)
                return try await workflow.recordFailure(
                    error, decision: decision, sent: sent, for: &operation, payment: &payment)
            }
        }
        if outcome != nil { wakeRelay() }
        return outcome
    }

    /// When to try again after `error`. A call the breaker or the bulkhead refused was never sent:
    /// it does not use up an attempt (an open breaker must not turn a short outage into declined
    /// payments), and waits for the breaker's probe time.
    func retryDecision(after error: any Error, operation: PaymentOperation, now: Date) -> (RetrySchedule.Decision, sent: Bool) {
        switch error {
        case let open as BreakerOpen:
            return (.retry(after: max(.milliseconds(100), .seconds(open.retryAt.timeIntervalSince(now)))), false)
        case is BulkheadFull:
            return (.retry(after: settings.retry.backoff.delay(attempt: 0)), false)
        default:
            return (settings.retry.decide(kind: operation.kind, attempts: operation.attempts), true)
        }
    }

    /// The payment (locked) and the operation, if this process's claim still holds and nobody
    /// (a webhook, another replica after the lease lapsed) settled it meanwhile.
    static func stillClaimed(
        _ claimed: PaymentOperation, in db: any SQLDatabase
    ) async throws -> (
        Payment, PaymentOperation
    )? {
        guard let payment = try await PaymentRecords.payment(id: claimed.paymentID, forUpdate: true, in: db),
            let operation = try await PaymentRecords.operation(id: claimed.id, forUpdate: true, in: db),
            operation.claimToken == claimed.claimToken, operation.state == .due || operation.state == .waiting
        else { return nil }
        return (payment, operation)
    }

    private func count(_ outcome: String) {
        Counter(label: "payments_outcomes_total", dimensions: [("outcome", outcome)], factory: metricsFactory).increment()
    }
}

extension Optional {
    fileprivate func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
