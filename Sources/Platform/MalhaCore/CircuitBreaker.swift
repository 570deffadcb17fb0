public import Foundation
import Synchronization

/// When a circuit breaker opens, how long it stays open, and how it probes its way back.
public struct CircuitBreakerPolicy: Sendable, Hashable {
    /// Opens after this many failures in a row (0: never on a streak alone).
    public var consecutiveFailures: Int
    /// Opens when at least this fraction of the last `window` calls failed (nil: no ratio rule)…
    public var failureRatio: Double?
    public var window: Int
    /// …once at least this many calls are in the window (a ratio over three calls says nothing).
    public var minimumCalls: Int
    /// How long an open breaker refuses calls before it lets probes through.
    public var openDuration: Duration
    /// Calls let through at once while half-open; this many successes in a row close the breaker.
    public var halfOpenProbes: Int

    public init(
        consecutiveFailures: Int = 5, failureRatio: Double? = nil, window: Int = 20, minimumCalls: Int = 10,
        openDuration: Duration = .seconds(30), halfOpenProbes: Int = 1
    ) {
        self.consecutiveFailures = max(0, consecutiveFailures)
        self.failureRatio = failureRatio.map { min(1, max(0, $0)) }
        self.window = max(1, window)
        self.minimumCalls = max(1, minimumCalls)
        self.openDuration = openDuration
        self.halfOpenProbes = max(1, halfOpenProbes)
    }
}

/// The circuit breaker's logic as a value: no locks, no clock of its own, no I/O. `CircuitBreaker`
/// wraps it for concurrent use; tests drive it directly with whatever `now` they like.
///
/// closed ──(failures reach the policy)──▶ open ──(openDuration passes)──▶ half-open
/// half-open ──(probes all succeed)──▶ closed;  half-open ──(a probe fails)──▶ open
public struct CircuitBreakerMachine: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case closed
        case open(until: Date)
        case halfOpen

        /// 0 closed, 1 half-open, 2 open: the value a state gauge reports.
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }

        public var name: String {
            switch self {
            case .closed: "closed"
            case .halfOpen: "half_open"
            case .open: "open"
            }
        }
    }

    /// What a caller may do now.
    public enum Permission: Sendable, Hashable {
        case allowed
        /// Refused without calling; the breaker lets probes through again at `until`.
        case rejected(until: Date)
    }

    /// How a permitted call ended.
    public enum Outcome: Sendable, Hashable {
        case success
        case failure
        /// Neither (cancelled, or an error that says nothing about the dependency's health): the
        /// call's probe slot is given back and nothing is counted.
        case ignored
    }

    public let policy: CircuitBreakerPolicy
    public private(set) var state: State = .closed
    private var streak = 0
    /// The last `policy.window` outcomes while closed, true for a failure (ring buffer).
    private var recent: [Bool] = []
    private var recentNext = 0
    private var probesInFlight = 0
    private var probeSuccesses = 0

    public init(policy: CircuitBreakerPolicy) {
        self.policy = policy
    }

    /// Asks to make a call at `now`. An allowed call must be followed by one `record`.
    public mutating func acquire(now: Date) -> Permission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .rejected(until: until) }
            state = .halfOpen
            probesInFlight = 0
            probeSuccesses = 0
            return acquire(now: now)
        case .halfOpen:
            guard probesInFlight < policy.halfOpenProbes else {
                // Probes are out; callers beyond them wait as if open, briefly.
                return .rejected(until: now)
            }
            probesInFlight += 1
            return .allowed
        }
    }

    /// Records how an allowed call ended, at `now`.
    public mutating func record(_ outcome: Outcome, now: Date) {
        switch state {
        case .closed:
            guard outcome != .ignored else { return }
            let failed = outcome == .failure
            streak = failed ? streak + 1 : 0
            remember(failed)
            if shouldOpen() { trip(now: now) }
        case .halfOpen:
            probesInFlight = max(0, probesInFlight - 1)
            switch outcome {
            case .ignored:
                return
            case .failure:
                trip(now: now)
            case .success:
                probeSuccesses += 1
                if probeSuccesses >= policy.halfOpenProbes { reset() }
            }
        case .open:
            // A call allowed before the breaker opened, ending late: its verdict is already in.
            return
        }
    }

    private mutating func remember(_ failed: Bool) {
        guard policy.failureRatio != nil else { return }
        if recent.count < policy.window {
            recent.append(failed)
        } else {
            recent[recentNext] = failed
        }
        recentNext = (recentNext + 1) % policy.window
    }

    private func shouldOpen() -> Bool {
        if policy.consecutiveFailures > 0, streak >= policy.consecutiveFailures { return true }
        guard let ratio = policy.failureRatio, recent.count >= policy.minimumCalls else { return false }
        let failures = recent.lazy.filter { $0 }.count
        return Double(failures) / Double(recent.count) >= ratio
    }

    private mutating func trip(now: Date) {
        let seconds = policy.openDuration.seconds
        state = .open(until: now.addingTimeInterval(seconds))
        streak = 0
        recent = []
        recentNext = 0
        probesInFlight = 0
        probeSuccesses = 0
    }

    private mutating func reset() {
        state = .closed
        streak = 0
        recent = []
        recentNext = 0
        probesInFlight = 0
        probeSuccesses = 0
    }
}

/// A call refused because the circuit breaker is open (or its half-open probes are taken).
public struct BreakerOpen: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// When the breaker lets probes through again.
    public var retryAt: Date
    public var description: String { "circuit breaker \(name) is open until \(retryAt)" }
}

/// A circuit breaker around one dependency: stops calling it while it keeps failing, so that a
/// broken upstream costs a fast `BreakerOpen` instead of a timeout per call, and probes it back.
///
/// Thread-safe (a `Mutex` around `CircuitBreakerMachine`); time comes from the injected clock.
public final class CircuitBreaker: Sendable {
    public let name: String
    private let machine: Mutex<CircuitBreakerMachine>
    private let clock: any WallClock

    public init(name: String, policy: CircuitBreakerPolicy = CircuitBreakerPolicy(), clock: any WallClock = SystemWallClock()) {
        self.name = name
        self.machine = Mutex(CircuitBreakerMachine(policy: policy))
        self.clock = clock
    }

    /// The state now (an open breaker whose time is up reads as open until the next call probes).
    public var state: CircuitBreakerMachine.State { machine.withLock { $0.state } }

    /// Runs `operation` if the breaker allows it, and records how it ended. `isFailure` says which
    /// errors count against the dependency (a declined payment, say, is an answer, not a fault);
    /// cancellation never counts.
    public func run<T: Sendable>(
        isFailure: (any Error) -> Bool = { _ in true }, _ operation: () async throws -> T
    ) async throws -> T {
        let permission = machine.withLock { $0.acquire(now: clock.now()) }
        if case .rejected(let until) = permission { throw BreakerOpen(name: name, retryAt: until) }
        do {
            let value = try await operation()
            record(.success)
            return value
        } catch {
            record(error is CancellationError || !isFailure(error) ? .ignored : .failure)
            throw error
        }
    }

    private func record(_ outcome: CircuitBreakerMachine.Outcome) {
        let now = clock.now()
        machine.withLock { $0.record(outcome, now: now) }
    }
}
