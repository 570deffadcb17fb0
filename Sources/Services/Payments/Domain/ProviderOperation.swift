public import Foundation
public import MalhaCore

/// A call the payments service owes the provider. Each is a row of `payment_operations` (the
/// processor's work queue) with an idempotency key that names it for life, so a call repeated
/// after a crash or a timeout is the same call to the provider.
public enum OperationKind: String, Codable, Sendable, Hashable, CaseIterable {
    case authorize
    case capture
    case void
    case refund
    /// Gives back an authorization the service stopped waiting for (authorize attempts ran out,
    /// yet one of them may have reached the provider). Nobody waits for its answer.
    case release

    /// The provider's idempotency key for this operation on `subject` (a payment id; a refund id
    /// for refunds). A release is the void of the same authorization, hence the same key.
    public func idempotencyKey(subject: String) -> String {
        switch self {
        case .release: "void:\(subject)"
        default: "\(rawValue):\(subject)"
        }
    }

    /// Whether the service may stop trying. An authorization may: the customer has not paid yet,
    /// and the saga hears `provider_unavailable`. A capture, void, refund or release may not:
    /// money is already held or owed, so they keep retrying with the wait capped.
    public var mayGiveUp: Bool { self == .authorize }
}

/// Where an operation stands.
public enum OperationState: String, Codable, Sendable, Hashable {
    /// Waiting for the processor (at `next_attempt_at`).
    case due
    /// Waiting for another operation first (a void while the authorization is still out), or for
    /// an admin's review.
    case blocked
    /// The provider said "pending": its webhook settles it (and the processor asks again later).
    case waiting
    case succeeded
    case failed

    public var isSettled: Bool { self == .succeeded || self == .failed }
}

/// When the processor tries again after a transient failure.
public struct RetrySchedule: Sendable, Hashable {
    public enum Decision: Sendable, Hashable {
        case retry(after: Duration)
        case giveUp
    }

    public var backoff: Backoff
    public var maxAttempts: Int

    public init(backoff: Backoff = Backoff(base: .milliseconds(200), cap: .seconds(30)), maxAttempts: Int = 5) {
        self.backoff = backoff
        self.maxAttempts = max(1, maxAttempts)
    }

    /// After `attempts` calls of `kind` (1-based, this one included) ended in a transient failure.
    public func decide<G: RandomNumberGenerator>(
        kind: OperationKind, attempts: Int, using generator: inout G
    ) -> Decision {
        if kind.mayGiveUp && attempts >= maxAttempts { return .giveUp }
        return .retry(after: backoff.delay(attempt: attempts - 1, using: &generator))
    }

    public func decide(kind: OperationKind, attempts: Int) -> Decision {
        var generator = SystemRandomNumberGenerator()
        return decide(kind: kind, attempts: attempts, using: &generator)
    }
}

/// One provider call owed (a row of the processor's work queue).
public struct PaymentOperation: Sendable, Hashable {
    public var id: String
    public var paymentID: String
    public var refundID: String?
    public var kind: OperationKind
    public var idempotencyKey: String
    public var state: OperationState
    /// Calls started (counted when claimed, so a call cut short by a crash counts too).
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var claimToken: String?
    public var claimedUntil: Date?
    public var providerReference: String?
    public var outcomeReason: String?
    /// The commands waiting for this operation's answer.
    public var replyTo: [ReplyAddress]
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, paymentID: String, refundID: String? = nil, kind: OperationKind, subject: String, state: OperationState,
        nextAttemptAt: Date?, replyTo: [ReplyAddress], now: Date
    ) {
        self.id = id
        self.paymentID = paymentID
        self.refundID = refundID
        self.kind = kind
        self.idempotencyKey = kind.idempotencyKey(subject: subject)
        self.state = state
        self.attempts = 0
        self.nextAttemptAt = nextAttemptAt
        self.replyTo = replyTo
        self.createdAt = now
        self.updatedAt = now
    }

    /// Whether nothing of it can have reached the provider: never claimed.
    public var neverSent: Bool { attempts == 0 }
}
