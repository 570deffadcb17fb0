public import Foundation
public import Logging
public import MalhaCore
public import MalhaStore
import Metrics
public import SQLKit
public import ServiceLifecycle
import Synchronization

/// The idempotent inbox: a consumer records each message id in the same transaction as the
/// message's effect, so a redelivered message changes nothing.
public enum Inbox {
    public static let component = "inbox"

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "inbox",
            [
                """
                CREATE TABLE inbox (
                    subscription TEXT NOT NULL, message_id TEXT NOT NULL, processed_at BIGINT NOT NULL,
                    PRIMARY KEY (subscription, message_id))
                """
            ])
    ]

    public static func migrate(_ store: some SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, component: component, logger: logger)
    }

    /// Records `messageID` for `subscription` in the caller's transaction. False when it was
    /// already recorded: the effect was applied before and must not be applied again.
    public static func record(
        _ messageID: String, subscription: String, at date: Date, in db: any SQLDatabase
    ) async throws -> Bool {
        let rows = try await db.raw(
            """
            INSERT INTO inbox (subscription, message_id, processed_at)
            VALUES (\(bind: subscription), \(bind: messageID), \(bind: date.epochMilliseconds))
            ON CONFLICT (subscription, message_id) DO NOTHING RETURNING message_id
            """
        ).all()
        return !rows.isEmpty
    }
}

/// What a handler works with: the transaction's database, and a place for work that must wait
/// until the transaction commits (invalidating a cache, waking the outbox relay).
public final class HandlerContext: Sendable {
    public let database: any SQLDatabase
    private let actions = Mutex<[@Sendable () async -> Void]>([])

    /// Made by the consumer runner for each message (and by tests that call a handler directly).
    public init(database: any SQLDatabase) {
        self.database = database
    }

    /// Runs `action` once the effect is committed (never when it rolls back).
    public func afterCommit(_ action: @escaping @Sendable () async -> Void) {
        actions.withLock { $0.append(action) }
    }

    /// Runs the after-commit work; the runner calls it once the transaction has committed.
    public func runAfterCommit() async {
        for action in actions.withLock({ $0 }) { await action() }
    }
}

/// How a subscription retries: exponential backoff with full jitter between attempts, and the
/// dead letters after `maxAttempts` (a lease that lapsed counts as an attempt).
public struct RetryPolicy: Sendable, Hashable {
    public var backoff: Backoff
    public var maxAttempts: Int

    public init(base: Duration = .milliseconds(200), cap: Duration = .seconds(60), maxAttempts: Int = 8) {
        self.backoff = Backoff(base: base, cap: cap)
        self.maxAttempts = max(1, maxAttempts)
    }

    /// What to do with a delivery that is not to be handled now, decided from its attempt number
    /// and how its handling ended. Pure: the consumer carries the decision out.
    public enum Decision: Sendable, Hashable {
        /// Wait this long (jittered from the backoff's ceiling for this attempt), then redeliver.
        case retry(after: Duration)
        /// Never again: keep it as a dead letter with this reason.
        case deadLetter(reason: String)
    }

    /// How a handler run ended, as the policy needs to know it.
    public enum Failure: Sendable, Hashable {
        /// Retrying cannot help (a `PermanentMessageError`: malformed, or refused by the rules).
        case permanent(String)
        /// It may work next time (a store that was down, a timeout).
        case transient(String)
    }

    /// Before handling: a delivery past the last attempt got there through lapsed leases (a
    /// handler that crashed the process or hung), so it is not handled again.
    /// Nil: hand it to the handler.
    public func beforeHandling(attempt: Int) -> Decision? {
        attempt > maxAttempts ? .deadLetter(reason: "attempt \(attempt) exceeds \(maxAttempts): lease lapsed") : nil
    }

    /// After a failed handling of delivery `attempt` (1-based).
    public func afterFailure<G: RandomNumberGenerator>(
        _ failure: Failure, attempt: Int, using generator: inout G
    ) -> Decision {
        switch failure {
        case .permanent(let reason):
            return .deadLetter(reason: reason)
        case .transient(let reason) where attempt >= maxAttempts:
            return .deadLetter(reason: reason)
        case .transient:
            return .retry(after: backoff.delay(attempt: attempt - 1, using: &generator))
        }
    }

    public func afterFailure(_ failure: Failure, attempt: Int) -> Decision {
        var generator = SystemRandomNumberGenerator()
        return afterFailure(failure, attempt: attempt, using: &generator)
    }
}

/// A named, durable subscription to message types, with its own retry policy and limits.
public struct Subscription: Sendable, Hashable {
    public var name: String
    public var types: Set<String>
    public var retry: RetryPolicy
    /// Messages handled at once.
    public var concurrency: Int
    /// How long a received message stays leased; longer than the slowest handler.
    public var lease: Duration
    /// One message at a time per key, in publish order (the default). A consumer whose effect
    /// does not depend on the order turns it off and takes every ready message at once.
    public var keyOrder: Bool

    public init(
        name: String, types: Set<String>, retry: RetryPolicy = RetryPolicy(), concurrency: Int = 8,
        lease: Duration = .seconds(30), keyOrder: Bool = true
    ) {
        self.name = name
        self.types = types
        self.retry = retry
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.keyOrder = keyOrder
    }
}

/// What happened to one delivery.
public enum ConsumeOutcome: String, Sendable, Hashable {
    /// The effect was applied and the message acknowledged.
    case applied
    /// The inbox had it already: acknowledged without applying.
    case duplicate
    /// The handler failed; the message will be delivered again later.
    case retried
    /// Permanent failure, or attempts exhausted: in the dead letters.
    case deadLettered = "dead_lettered"
}

/// Runs a subscription: receives from the transport, applies each message with its inbox record in
/// one transaction on the service's database, and acknowledges, retries or dead-letters it.
/// Nothing is acknowledged on failure; nothing is dropped.
public final class ConsumerRunner: Service {
    /// Applies a message's effect through `context.database`, inside the transaction that records
    /// it in the inbox.
    public typealias Handler = @Sendable (Envelope, HandlerContext) async throws -> Void

    let subscription: Subscription
    let transport: any MessageTransport
    let store: any SQLStore
    let handler: Handler
    let verifier: (any EnvelopeVerifier)?
    let clock: any WallClock
    let logger: Logger
    let idleWait: Duration
    let metricsFactory: any MetricsFactory
    let inFlight: Gauge
    private let running = Atomic<Int>(0)
    private let slotFreed = WakeUpSignal()
    private let acknowledgements: AcknowledgementBatcher

    public init(
        subscription: Subscription, transport: any MessageTransport, store: any SQLStore,
        verifier: (any EnvelopeVerifier)? = nil, clock: any WallClock = SystemWallClock(),
        logger: Logger, idleWait: Duration = .seconds(1), metricsFactory: any MetricsFactory = MetricsSystem.factory,
        handler: @escaping Handler
    ) {
        self.subscription = subscription
        self.transport = transport
        self.store = store
        self.handler = handler
        self.verifier = verifier
        self.clock = clock
        self.logger = logger
        self.idleWait = idleWait
        self.metricsFactory = metricsFactory
        self.inFlight = Gauge(label: "bus_in_flight", dimensions: [("subscription", subscription.name)], factory: metricsFactory)
        self.acknowledgements = AcknowledgementBatcher { [transport, logger] deliveries in
            do {
                try await transport.acknowledge(deliveries)
            } catch {
                logger.warning(
                    "could not acknowledge deliveries; they return when their leases lapse",
                    metadata: [
                        "subscription": "\(subscription.name)", "messages": "\(deliveries.count)", "error": "\(error)",
                    ])
            }
        }
    }

    /// Binds the subscription, retrying with backoff while the bus is starting or down; false when
    /// the service stops first. A subscription receives only what is published after it is bound,
    /// so a service whose consumer must see every event binds before it reports ready.
    @discardableResult
    public func bind() async -> Bool {
        var attempt = 0
        while true {
            do {
                try await transport.bind(subscription: subscription.name, to: subscription.types)
                return true
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return false }
                if attempt >= 5 {
                    logger.warning(
                        "cannot bind the subscription yet",
                        metadata: ["subscription": "\(subscription.name)", "error": "\(error)"])
                }
                let delay = Backoff(base: .milliseconds(50), cap: .seconds(5)).delay(attempt: attempt)
                attempt += 1
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    public func run() async throws {
        // The bus may still be starting (or briefly down): bind with backoff until it answers.
        guard await bind() else { return }
        let limit = subscription.concurrency
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                let free = limit - running.load(ordering: .relaxed)
                if free <= 0 {
                    await cancelWhenGracefulShutdown { await self.slotFreed.wait(timeout: self.idleWait) }
                    continue
                }
                let deliveries: [Delivery]
                do {
                    deliveries = try await transport.receive(
                        from: subscription.name, limit: free, lease: subscription.lease, keyOrder: subscription.keyOrder)
                } catch {
                    logger.warning("receive failed", metadata: ["subscription": "\(subscription.name)", "error": "\(error)"])
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.idleWait) }
                    continue
                }
                if deliveries.isEmpty {
                    await cancelWhenGracefulShutdown {
                        await self.transport.waitForMessages(on: self.subscription.name, timeout: self.idleWait)
                    }
                    continue
                }
                for delivery in deliveries {
                    inFlight.record(running.wrappingAdd(1, ordering: .relaxed).newValue)
                    group.addTask {
                        await self.consume(delivery)
                        self.inFlight.record(self.running.wrappingSubtract(1, ordering: .relaxed).newValue)
                        self.slotFreed.signal()
                    }
                }
            }
            // Graceful shutdown: the discarding group waits for the handlers in flight, which
            // settle their messages.
        }
    }

    /// Applies one delivery and settles it. Exposed for tests that drive a transport by hand.
    @discardableResult
    public func consume(_ delivery: Delivery) async -> ConsumeOutcome {
        let outcome = await settle(delivery)
        Counter(
            label: "bus_messages_total", dimensions: [("subscription", subscription.name), ("outcome", outcome.rawValue)],
            factory: metricsFactory
        ).increment()
        return outcome
    }

    private func settle(_ delivery: Delivery) async -> ConsumeOutcome {
        var envelope = delivery.envelope
        let metadata: Logger.Metadata = [
            "subscription": "\(subscription.name)", "message_id": "\(envelope.id)", "type": "\(envelope.type)",
            "attempt": "\(envelope.attempt)", "correlation_id": "\(envelope.correlationID)",
        ]
        if case .deadLetter(let reason)? = subscription.retry.beforeHandling(attempt: envelope.attempt) {
            await settleSafely(delivery) { try await self.transport.deadLetter(delivery, error: reason) }
            logger.error("message dead-lettered: its leases lapsed", metadata: metadata)
            return .deadLettered
        }
        do {
            // A signature is checked before anything is applied: a bad one is permanent (dead
            // letters), keys that cannot be fetched now are transient (retried). Without a verifier
            // the envelope stays unverified, and a critical contract then refuses to decode.
            if let verifier, envelope.signature != nil { envelope = try await verifier.verify(envelope) }
            let context = try await store.transaction { [envelope] db -> HandlerContext? in
                guard try await Inbox.record(envelope.id, subscription: self.subscription.name, at: self.clock.now(), in: db)
                else { return nil }
                let context = HandlerContext(database: db)
                try await self.handler(envelope, context)
                return context
            }
            let applied = context != nil
            await context?.runAfterCommit()
            await acknowledgements.acknowledge(delivery)
            return applied ? .applied : .duplicate
        } catch {
            let description = String(describing: error)
            let failure: RetryPolicy.Failure =
                error is any PermanentMessageError ? .permanent(description) : .transient(description)
            switch subscription.retry.afterFailure(failure, attempt: envelope.attempt) {
            case .retry(let delay):
                await settleSafely(delivery) { try await self.transport.retry(delivery, after: delay, error: description) }
                logger.warning(
                    "message failed; retrying",
                    metadata: metadata.merging(["error": "\(description)", "delay": "\(delay)"]) { $1 })
                return .retried
            case .deadLetter(let reason):
                await settleSafely(delivery) { try await self.transport.deadLetter(delivery, error: reason) }
                logger.error("message dead-lettered", metadata: metadata.merging(["error": "\(reason)"]) { $1 })
                return .deadLettered
            }
        }
    }

    /// Settling can fail (the transport is down): the lease then lapses and the message comes back.
    private func settleSafely(_ delivery: Delivery, _ body: () async throws -> Bool) async {
        do {
            _ = try await body()
        } catch {
            logger.warning(
                "could not settle a delivery; it returns when its lease lapses",
                metadata: ["subscription": "\(subscription.name)", "message_id": "\(delivery.envelope.id)", "error": "\(error)"])
        }
    }
}

/// Runs a consumer once its service is migrated, binding its subscription first; readiness
/// `subscription` (declared here, unmet) holds from the bind on.
///
/// A subscription receives only what is published after it is bound. Binding before the service
/// reports ready closes the window in which a publisher — another service that `malha up` or a
/// load balancer considers ready — could publish an event this one would never see. The binding
/// is durable: once made, events wait on the bus across this service's restarts and outages.
public struct SubscribesWhenReady: Service {
    let consumer: ConsumerRunner
    let readiness: Readiness
    let condition: ReadinessCondition

    public init(_ consumer: ConsumerRunner, readiness: Readiness, after condition: ReadinessCondition = .migrations) {
        self.consumer = consumer
        self.readiness = readiness
        self.condition = condition
        readiness.require(.subscription)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await readiness.wait(for: condition) }
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        guard await consumer.bind() else { return }
        readiness.set(.subscription, true)
        try await consumer.run()
    }
}
