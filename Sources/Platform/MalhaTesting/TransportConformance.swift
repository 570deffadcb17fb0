public import Foundation
import Logging
public import MalhaCore
public import MalhaMessaging
public import MalhaStore
import SQLKit
import Synchronization

/// The conformance suite every message transport passes (SQL on SQLite and PostgreSQL today,
/// RabbitMQ later). Each check builds what it needs on the transport it is given and throws
/// `ConformanceFailure` when the transport breaks a promise of `MessageTransport`.
///
/// `Subject` bundles a fresh transport (nothing bound, nothing stored), the manual clock it reads
/// time from, and a consumer database (migrated with `Inbox`) for the checks that run consumers.
public struct TransportConformance: Sendable {
    public struct Subject: Sendable {
        public var transport: any MessageTransport & DeadLetterStore
        public var clock: ManualClock
        public var consumerStore: any SQLStore

        public init(transport: any MessageTransport & DeadLetterStore, clock: ManualClock, consumerStore: any SQLStore) {
            self.transport = transport
            self.clock = clock
            self.consumerStore = consumerStore
        }
    }

    public struct ConformanceFailure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String, file: StaticString = #fileID, line: UInt = #line) {
            self.description = "\(description) (\(file):\(line))"
        }
    }

    /// Every check, by name, for parameterised tests.
    public static let checks: [String: @Sendable (Subject) async throws -> Void] = [
        "fan-out and acknowledgement": fanOutAndAcknowledgement,
        "redelivery after a lapsed lease": redeliveryAfterLapsedLease,
        "a batched acknowledgement settles only held leases": batchedAcknowledgementSettlesOnlyHeldLeases,
        "retry waits for its delay": retryWaitsForItsDelay,
        "dead letter after N attempts, then replay applied once": deadLetterAfterAttemptsThenReplayOnce,
        "permanent errors dead-letter at once": permanentErrorsDeadLetterAtOnce,
        "competing consumers never share a message": competingConsumersNeverShare,
        "per-key order": perKeyOrder,
        "without key order every ready message is deliverable": withoutKeyOrder,
        "republish is not duplicated": republishIsNotDuplicated,
        "a publish wakes a waiting receiver": publishWakesWaitingReceiver,
        "dead letters list, page and purge": deadLettersListPageAndPurge,
        "a signature travels through delivery, dead letter and replay": signatureTravels,
    ]

    struct Ping: MessageContract {
        static let type = "conformance.ping.v1"
        var n: Int
    }

    struct Pong: MessageContract {
        static let type = "conformance.pong.v1"
        var n: Int
    }

    static func envelope(_ n: Int, key: String? = nil, at date: Date) throws -> Envelope {
        try Envelope(Ping(n: n), source: "conformance", at: date, key: key)
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) throws {
        if !condition { throw ConformanceFailure(message(), line: line) }
    }

    static let logger: Logger = {
        var logger = Logger(label: "malha.test.bus")
        logger.logLevel = .critical
        return logger
    }()

    // MARK: Checks

    static func fanOutAndAcknowledgement(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "a", to: [Ping.type])
        try await transport.bind(subscription: "b", to: [Ping.type, Pong.type])
        try await transport.bind(subscription: "b", to: [Ping.type])  // idempotent
        let ping = try envelope(1, at: subject.clock.now())
        let pong = try Envelope(Pong(n: 2), source: "conformance", at: subject.clock.now())
        let unbound = Envelope(
            type: "conformance.nobody.v1", source: "x", occurredAt: subject.clock.now(), correlationID: "c",
            payload: Data("{}".utf8))
        try await transport.publish([ping, pong, unbound])

        let a = try await transport.receive(from: "a", limit: 10, lease: .seconds(30))
        try expect(a.map(\.envelope.id) == [ping.id], "a gets the ping only, got \(a.map(\.envelope.type))")
        try expect(
            a[0].envelope
                == Envelope(
                    id: ping.id, type: ping.type, source: ping.source, occurredAt: ping.occurredAt,
                    correlationID: ping.correlationID,
                    causationID: ping.causationID, traceparent: ping.traceparent, key: ping.key, payload: ping.payload, attempt: 1
                ),
            "the envelope arrives whole, attempt 1: \(a[0].envelope)")
        try expect(try a[0].envelope.decode(Ping.self).n == 1, "the payload decodes")
        let b = try await transport.receive(from: "b", limit: 10, lease: .seconds(30))
        try expect(b.map(\.envelope.id) == [ping.id, pong.id], "b gets both, in publish order")
        try expect(
            try await transport.receive(from: "a", limit: 10, lease: .seconds(30)).isEmpty,
            "a leased message is not handed out twice")
        try expect(try await transport.acknowledge(a[0]), "the lease holder acknowledges")
        subject.clock.advance(by: .seconds(60))
        try expect(
            try await transport.receive(from: "a", limit: 10, lease: .seconds(30)).isEmpty,
            "an acknowledged message never returns")
        let again = try await transport.receive(from: "b", limit: 10, lease: .seconds(30))
        try expect(
            again.count == 2 && again.allSatisfy { $0.envelope.attempt == 2 }, "b's unacknowledged messages return, attempt 2")
    }

    static func redeliveryAfterLapsedLease(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        try await transport.publish([try envelope(1, at: subject.clock.now())])
        let first = try await transport.receive(from: "s", limit: 1, lease: .seconds(10))
        try expect(first.count == 1, "delivered")
        subject.clock.advance(by: .seconds(9))
        try expect(try await transport.receive(from: "s", limit: 1, lease: .seconds(10)).isEmpty, "still leased at 9 s")
        subject.clock.advance(by: .seconds(1))
        // The consumer crashed: the lease lapses and the message comes back as another attempt.
        let second = try await transport.receive(from: "s", limit: 1, lease: .seconds(10))
        try expect(second.map(\.envelope.id) == first.map(\.envelope.id), "redelivered after the lease")
        try expect(second[0].envelope.attempt == 2, "attempt 2, got \(second[0].envelope.attempt)")
        try expect(!(try await transport.acknowledge(first[0])), "the lapsed lease cannot settle it")
        try expect(try await transport.acknowledge(second[0]), "the new holder can")
    }

    static func batchedAcknowledgementSettlesOnlyHeldLeases(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        try await transport.publish((1...3).map { try envelope($0, at: subject.clock.now()) })
        let first = try await transport.receive(from: "s", limit: 3, lease: .seconds(10))
        try expect(first.count == 3, "all three delivered")
        subject.clock.advance(by: .seconds(10))
        let again = try await transport.receive(from: "s", limit: 1, lease: .seconds(10))
        try expect(again.map(\.envelope.id) == [first[0].envelope.id], "the first comes back after its lease")
        try expect(try await transport.acknowledge(first) == 2, "only the two still held are settled")
        subject.clock.advance(by: .seconds(10))
        let left = try await transport.receive(from: "s", limit: 10, lease: .seconds(10))
        try expect(
            left.map(\.envelope.id) == [first[0].envelope.id] && left[0].envelope.attempt == 3,
            "the stale acknowledgement did not remove the message another holder had: \(left.map(\.envelope.attempt))")
        try expect(try await transport.acknowledge(left) == 1, "its holder settles it")
        subject.clock.advance(by: .seconds(60))
        try expect(try await transport.receive(from: "s", limit: 10, lease: .seconds(10)).isEmpty, "nothing left")
    }

    static func retryWaitsForItsDelay(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        try await transport.publish([try envelope(1, at: subject.clock.now())])
        let first = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
        try expect(try await transport.retry(first[0], after: .seconds(5), error: "boom"), "retry accepted")
        subject.clock.advance(by: .milliseconds(4_900))
        try expect(try await transport.receive(from: "s", limit: 1, lease: .seconds(30)).isEmpty, "not before its delay")
        subject.clock.advance(by: .milliseconds(100))
        let second = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
        try expect(second.count == 1 && second[0].envelope.attempt == 2, "delivered again after 5 s as attempt 2")
        try expect(
            second[0].history.map(\.error) == ["boom"] && second[0].history[0].attempt == 1, "history kept: \(second[0].history)")
    }

    static func effects(_ store: any SQLStore, _ id: String) async throws -> Int {
        try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM conformance_effects WHERE message_id = \(bind: id)").first()?
                .decode(column: "n", as: Int.self) ?? 0
        }
    }

    static func prepareEffects(_ store: any SQLStore) async throws {
        try await store.transaction { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS conformance_effects (message_id TEXT NOT NULL)").run()
        }
    }

    static func deadLetterAfterAttemptsThenReplayOnce(_ subject: Subject) async throws {
        let transport = subject.transport
        try await prepareEffects(subject.consumerStore)
        let broken = FailSwitch(failing: true)
        let committed = Collected()
        let runner = ConsumerRunner(
            subscription: Subscription(
                name: "s", types: [Ping.type], retry: RetryPolicy(base: .seconds(1), cap: .seconds(4), maxAttempts: 3)),
            transport: transport, store: subject.consumerStore, clock: subject.clock, logger: logger
        ) { envelope, context in
            try await context.database.raw("INSERT INTO conformance_effects (message_id) VALUES (\(bind: envelope.id))").run()
            context.afterCommit { committed.append([envelope.id]) }
            if broken.failing { throw ConformanceFailure("handler is broken") }
        }
        try await transport.bind(subscription: "s", to: [Ping.type])
        let message = try envelope(1, at: subject.clock.now())
        try await transport.publish([message])
        var outcomes: [ConsumeOutcome] = []
        for _ in 0..<10 {
            for delivery in try await transport.receive(from: "s", limit: 1, lease: .seconds(30)) {
                outcomes.append(await runner.consume(delivery))
            }
            // Full jitter: attempt n waits at most min(cap, base·2ⁿ⁻¹); 4 s covers every wait.
            subject.clock.advance(by: .seconds(4))
        }
        try expect(outcomes == [.retried, .retried, .deadLettered], "retried twice then dead-lettered: \(outcomes)")
        try expect(try await effects(subject.consumerStore, message.id) == 0, "a failed handler's effect is rolled back")
        guard let letter = try await transport.deadLetter(id: message.id, subscription: "s") else {
            throw ConformanceFailure("the dead letter is kept")
        }
        try expect(letter.attempts.map(\.attempt) == [1, 2, 3], "every attempt recorded: \(letter.attempts)")
        try expect(letter.attempts.allSatisfy { $0.error.contains("handler is broken") }, "with its error")
        try expect(letter.envelope.payload == message.payload && letter.envelope.type == message.type, "with its envelope")
        try expect(try await transport.deadLetterCounts()["s"] == 1, "counted")

        broken.failing = false
        try expect(try await transport.replay(subscription: "s", ids: [message.id]) == 1, "replayed")
        try expect(try await transport.replay(subscription: "s", ids: [message.id]) == 0, "a replayed letter is gone")
        let replayed = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
        try expect(replayed.count == 1 && replayed[0].envelope.attempt == 1, "back as a fresh delivery")
        try expect(replayed[0].history.count == 3, "its history kept")
        try expect(await runner.consume(replayed[0]) == .applied, "applied after the fix")
        // A duplicate of the same message (say, replayed from a stale copy) changes nothing.
        try await transport.publish([message])
        for delivery in try await transport.receive(from: "s", limit: 1, lease: .seconds(30)) {
            try expect(await runner.consume(delivery) == .duplicate, "the inbox refuses it")
        }
        try expect(try await effects(subject.consumerStore, message.id) == 1, "applied exactly once")
        try expect(committed.values == [message.id], "after-commit work ran once, for the applied attempt only")
    }

    /// A transport stores the publisher's signature with the message and hands it back unchanged,
    /// from a dead letter and its replay too (consumers verify it; the transport never does).
    static func signatureTravels(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        var message = try envelope(1, at: subject.clock.now())
        message.signature = "kid-1.c2lnbmF0dXJl"
        try await transport.publish([message, try envelope(2, at: subject.clock.now())])
        let deliveries = try await transport.receive(from: "s", limit: 2, lease: .seconds(30))
        try expect(deliveries.map(\.envelope.signature) == [message.signature, nil], "delivered as published")
        try await transport.deadLetter(deliveries[0], error: "refused")
        let letter = try await transport.deadLetter(id: message.id, subscription: "s")
        try expect(letter?.envelope.signature == message.signature, "kept in the dead letter")
        try expect(try await transport.replay(subscription: "s", ids: [message.id]) == 1, "replayed")
        let replayed = try await transport.receive(from: "s", limit: 2, lease: .seconds(30))
        try expect(replayed.map(\.envelope.signature) == [message.signature], "and the replay keeps it")
    }

    static func permanentErrorsDeadLetterAtOnce(_ subject: Subject) async throws {
        let transport = subject.transport
        let runner = ConsumerRunner(
            subscription: Subscription(name: "s", types: [Ping.type]), transport: transport, store: subject.consumerStore,
            clock: subject.clock, logger: logger
        ) { envelope, _ in
            _ = try envelope.decode(Ping.self)
        }
        try await transport.bind(subscription: "s", to: [Ping.type])
        let garbage = Envelope(
            type: Ping.type, source: "x", occurredAt: subject.clock.now(), correlationID: "c", payload: Data("{\"n\":\"x\"}".utf8)
        )
        try await transport.publish([garbage])
        let delivery = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
        try expect(await runner.consume(delivery[0]) == .deadLettered, "undecodable: dead letter at once")
        let letter = try await transport.deadLetter(id: garbage.id, subscription: "s")
        try expect(
            letter?.attempts.count == 1 && letter?.lastError.contains("does not decode") == true,
            "one attempt, the decoding error: \(String(describing: letter))")
    }

    static func competingConsumersNeverShare(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        let messages = try (0..<120).map { try envelope($0, at: subject.clock.now()) }
        try await transport.publish(messages)
        let seen = Collected()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    while true {
                        let batch = try await transport.receive(from: "s", limit: 7, lease: .seconds(300))
                        if batch.isEmpty { return }
                        seen.append(batch.map(\.envelope.id))
                        for delivery in batch { try await transport.acknowledge(delivery) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let ids = seen.values
        try expect(ids.count == messages.count, "every message delivered once: \(ids.count) deliveries for \(messages.count)")
        try expect(Set(ids) == Set(messages.map(\.id)), "and every one delivered")
    }

    static func withoutKeyOrder(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        let now = subject.clock.now()
        let k1 = try (1...3).map { try envelope($0, key: "k1", at: now) }
        let k2 = try envelope(10, key: "k2", at: now)
        try await transport.publish([k1[0], k1[1], k2, k1[2]])
        let batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30), keyOrder: false)
        try expect(
            batch.map(\.envelope.id) == [k1[0].id, k1[1].id, k2.id, k1[2].id],
            "every message at once, oldest first: \(batch.map { try! $0.envelope.decode(Ping.self).n })")
        try expect(
            try await transport.receive(from: "s", limit: 10, lease: .seconds(30), keyOrder: false).isEmpty,
            "leased ones are still not delivered twice")
        try await transport.retry(batch[0], after: .seconds(1), error: "later")
        subject.clock.advance(by: .seconds(1))
        let again = try await transport.receive(from: "s", limit: 10, lease: .seconds(30), keyOrder: false)
        try expect(again.map(\.envelope.id) == [k1[0].id], "a retried message comes back after its delay")
        try expect(try await transport.acknowledge(batch.dropFirst() + again) == 4, "all settled")
    }

    static func perKeyOrder(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        let now = subject.clock.now()
        let k1 = try (1...3).map { try envelope($0, key: "k1", at: now) }
        let k2 = try envelope(10, key: "k2", at: now)
        let free = try envelope(20, at: now)
        try await transport.publish([k1[0], k1[1], k2, k1[2], free])
        var batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30))
        try expect(
            batch.map(\.envelope.id) == [k1[0].id, k2.id, free.id],
            "one per key at a time: \(batch.map { try! $0.envelope.decode(Ping.self).n })")
        try await transport.retry(batch[0], after: .seconds(1), error: "later")
        subject.clock.advance(by: .milliseconds(500))
        try expect(
            try await transport.receive(from: "s", limit: 10, lease: .seconds(30)).isEmpty,
            "a retrying message holds back its key")
        subject.clock.advance(by: .milliseconds(500))
        batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30))
        try expect(batch.map(\.envelope.id) == [k1[0].id], "the same head again")
        try await transport.acknowledge(batch[0])
        batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30))
        try expect(batch.map(\.envelope.id) == [k1[1].id], "then the next of the key")
        try await transport.deadLetter(batch[0], error: "poison")
        batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30))
        try expect(batch.map(\.envelope.id) == [k1[2].id], "a dead letter does not block its key")
    }

    static func republishIsNotDuplicated(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        let message = try envelope(1, at: subject.clock.now())
        try await transport.publish([message])
        try await transport.publish([message])  // the outbox relay crashed after publishing
        let batch = try await transport.receive(from: "s", limit: 10, lease: .seconds(30))
        try expect(batch.count == 1, "one copy, got \(batch.count)")
    }

    static func publishWakesWaitingReceiver(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        let start = ContinuousClock.now
        async let waited: Void = transport.waitForMessages(on: "s", timeout: .seconds(20))
        try await Task.sleep(for: .milliseconds(100))
        try await transport.publish([try envelope(1, at: subject.clock.now())])
        await waited
        let elapsed = ContinuousClock.now - start
        try expect(elapsed < .seconds(10), "woken by the publish, not the 20 s timeout (\(elapsed))")
    }

    static func deadLettersListPageAndPurge(_ subject: Subject) async throws {
        let transport = subject.transport
        try await transport.bind(subscription: "s", to: [Ping.type])
        try await transport.bind(subscription: "t", to: [Ping.type])
        var ids: [String] = []
        for n in 0..<5 {
            let message = try envelope(n, at: subject.clock.now())
            ids.append(message.id)
            try await transport.publish([message])
            for subscription in ["s", "t"] {
                let delivery = try await transport.receive(from: subscription, limit: 1, lease: .seconds(30))
                try await transport.deadLetter(delivery[0], error: "dead \(n)")
            }
            subject.clock.advance(by: .seconds(1))
        }
        let first = try await transport.deadLetters(subscription: "s", limit: 2, after: nil)
        try expect(first.map(\.envelope.id) == Array(ids[0..<2]), "oldest first")
        let second = try await transport.deadLetters(subscription: "s", limit: 2, after: first.last?.envelope.id)
        try expect(second.map(\.envelope.id) == Array(ids[2..<4]), "next page")
        try expect(try await transport.deadLetters(subscription: nil, limit: 100, after: nil).count == 10, "all subscriptions")
        try expect(try await transport.purge(subscription: "s", ids: [ids[0], "missing"]) == 1, "purge one")
        try expect(try await transport.purge(subscription: "s", ids: nil) == 4, "purge the rest of s")
        try expect(try await transport.deadLetterCounts() == ["t": 5], "t untouched")
    }
}

/// A handler switch a check flips.
final class FailSwitch: Sendable {
    private let flag: Atomic<Bool>
    init(failing: Bool = false) { flag = Atomic(failing) }
    var failing: Bool {
        get { flag.load(ordering: .relaxed) }
        set { flag.store(newValue, ordering: .relaxed) }
    }
}

/// Ids collected by concurrent receivers.
final class Collected: Sendable {
    private let ids = Mutex<[String]>([])
    func append(_ new: [String]) { ids.withLock { $0.append(contentsOf: new) } }
    var values: [String] { ids.withLock { $0 } }
}
