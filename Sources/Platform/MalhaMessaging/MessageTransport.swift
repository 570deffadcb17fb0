public import Foundation

/// One delivery of an envelope to one subscription, held under a lease until it is acknowledged,
/// scheduled for a retry or dead-lettered. A lease that lapses (the consumer crashed) makes the
/// message deliverable again, counted as another attempt.
public struct Delivery: Sendable, Hashable {
    public var subscription: String
    /// `envelope.attempt` is this delivery's attempt number (1 for the first).
    public var envelope: Envelope
    /// The transport's handle for this delivery (only the lease holder can settle it).
    public var receipt: String
    /// Every earlier failed attempt, oldest first.
    public var history: [AttemptRecord]

    public init(subscription: String, envelope: Envelope, receipt: String, history: [AttemptRecord]) {
        self.subscription = subscription
        self.envelope = envelope
        self.receipt = receipt
        self.history = history
    }
}

/// One failed attempt: when, and why.
public struct AttemptRecord: Codable, Sendable, Hashable {
    public var attempt: Int
    public var at: Date
    public var error: String

    public init(attempt: Int, at: Date, error: String) {
        self.attempt = attempt
        self.at = at
        self.error = error
    }
}

/// A message that will not be retried any more, kept with everything needed to understand and
/// replay it.
public struct DeadLetter: Sendable, Hashable {
    public var subscription: String
    public var envelope: Envelope
    /// Every attempt's time and error, the last one included.
    public var attempts: [AttemptRecord]
    public var deadAt: Date

    public var lastError: String { attempts.last?.error ?? "" }

    public init(subscription: String, envelope: Envelope, attempts: [AttemptRecord], deadAt: Date) {
        self.subscription = subscription
        self.envelope = envelope
        self.attempts = attempts
        self.deadAt = deadAt
    }
}

/// Moves envelopes from publishers to subscriptions, at least once.
///
/// A subscription is a named durable queue bound to message types; every subscription bound to a
/// type gets its own copy. Transports: SQL (SQLite embedded, PostgreSQL) and, later, RabbitMQ —
/// all held to the same conformance suite (`MalhaTesting.TransportConformance`).
public protocol MessageTransport: Sendable {
    /// Declares (idempotently) that `subscription` receives every message whose type is in `types`.
    /// Messages published before the binding existed are not delivered to it.
    func bind(subscription: String, to types: Set<String>) async throws

    /// Stores each envelope durably for every subscription bound to its type; when this returns,
    /// the messages survive a crash. Republishing an envelope id a subscription still holds is a
    /// no-op for that subscription (the outbox relay may republish after a crash).
    func publish(_ envelopes: [Envelope]) async throws

    /// Up to `limit` deliverable messages of `subscription`, oldest first, leased for `lease`.
    /// Never two messages with the same key at once, nor one while an older one with its key waits.
    func receive(from subscription: String, limit: Int, lease: Duration) async throws -> [Delivery]

    /// With `keyOrder` false, every ready message is deliverable, whatever its key: for consumers
    /// whose effect does not depend on the order (a commutative projection that orders by its own
    /// sequence numbers), so one busy key does not hold the others back. True is the call above.
    func receive(from subscription: String, limit: Int, lease: Duration, keyOrder: Bool) async throws -> [Delivery]

    /// Suspends until a message may be available for `subscription` or `timeout` passes.
    func waitForMessages(on subscription: String, timeout: Duration) async

    /// Settles a delivery as done. Returns false when the lease had already lapsed and someone
    /// else holds the message (the effect is then deduplicated by the inbox).
    @discardableResult
    func acknowledge(_ delivery: Delivery) async throws -> Bool

    /// Settles several deliveries as done in one write. Returns how many were still held (the
    /// others' leases had lapsed; see `acknowledge(_:)`).
    @discardableResult
    func acknowledge(_ deliveries: [Delivery]) async throws -> Int

    /// Puts the message back, deliverable again after `delay`, recording the failed attempt.
    @discardableResult
    func retry(_ delivery: Delivery, after delay: Duration, error: String) async throws -> Bool

    /// Moves the message to the dead letters with the failed attempt recorded.
    @discardableResult
    func deadLetter(_ delivery: Delivery, error: String) async throws -> Bool
}

extension MessageTransport {
    /// One at a time, for transports without a batched acknowledgement.
    @discardableResult
    /// A transport that always keeps the key order (stronger than asked) serves both calls.
    public func receive(
        from subscription: String, limit: Int, lease: Duration, keyOrder: Bool
    ) async throws
        -> [Delivery]
    {
        try await receive(from: subscription, limit: limit, lease: lease)
    }

    public func acknowledge(_ deliveries: [Delivery]) async throws -> Int {
        var held = 0
        for delivery in deliveries where try await acknowledge(delivery) { held += 1 }
        return held
    }
}

/// Dead letters for people: list, inspect, replay, purge.
public protocol DeadLetterStore: Sendable {
    /// Dead letters, oldest first, optionally of one subscription; `after` is the id of the last
    /// one of the previous page.
    func deadLetters(subscription: String?, limit: Int, after: String?) async throws -> [DeadLetter]

    func deadLetter(id: String, subscription: String) async throws -> DeadLetter?

    /// Puts dead letters back on their subscription as new deliveries (attempt count reset,
    /// history kept). `ids` nil: every dead letter of the subscription. Returns how many.
    func replay(subscription: String, ids: [String]?) async throws -> Int

    /// Deletes dead letters for good. `ids` nil: every dead letter of the subscription.
    func purge(subscription: String, ids: [String]?) async throws -> Int

    /// How many dead letters each subscription holds.
    func deadLetterCounts() async throws -> [String: Int]
}
