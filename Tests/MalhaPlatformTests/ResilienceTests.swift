import Foundation
import MalhaCore
import MalhaTesting
import Synchronization
import Testing

private struct Boom: Error {}
private struct NotAFault: Error {}

@Suite("Resilience: circuit breaker, bulkhead, timeout")
struct ResilienceTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    // MARK: The state machine

    @Test func opensAfterConsecutiveFailuresAndProbesItsWayBack() {
        var machine = CircuitBreakerMachine(
            policy: CircuitBreakerPolicy(consecutiveFailures: 3, openDuration: .seconds(10), halfOpenProbes: 2))
        for _ in 0..<2 {
            #expect(machine.acquire(now: start) == .allowed)
            machine.record(.failure, now: start)
        }
        #expect(machine.state == .closed, "two failures are not three")
        #expect(machine.acquire(now: start) == .allowed)
        machine.record(.failure, now: start)
        let reopensAt = start.addingTimeInterval(10)
        #expect(machine.state == .open(until: reopensAt))
        #expect(machine.acquire(now: start.addingTimeInterval(9.9)) == .rejected(until: reopensAt))

        // Half-open: two probes at once, a third caller is refused.
        let later = start.addingTimeInterval(10)
        #expect(machine.acquire(now: later) == .allowed)
        #expect(machine.state == .halfOpen)
        #expect(machine.acquire(now: later) == .allowed)
        #expect(machine.acquire(now: later) == .rejected(until: later))
        machine.record(.success, now: later)
        #expect(machine.state == .halfOpen, "one success of two")
        machine.record(.success, now: later)
        #expect(machine.state == .closed)
    }

    @Test func aFailedProbeReopensAndAnIgnoredOneGivesItsSlotBack() {
        var machine = CircuitBreakerMachine(
            policy: CircuitBreakerPolicy(consecutiveFailures: 1, openDuration: .seconds(5), halfOpenProbes: 1))
        _ = machine.acquire(now: start)
        machine.record(.failure, now: start)
        let probeTime = start.addingTimeInterval(5)
        #expect(machine.acquire(now: probeTime) == .allowed)
        machine.record(.ignored, now: probeTime)
        #expect(machine.state == .halfOpen)
        #expect(machine.acquire(now: probeTime) == .allowed, "the ignored probe's slot is free again")
        machine.record(.failure, now: probeTime)
        #expect(machine.state == .open(until: probeTime.addingTimeInterval(5)))
    }

    @Test func aSuccessBreaksTheStreak() {
        var machine = CircuitBreakerMachine(policy: CircuitBreakerPolicy(consecutiveFailures: 3))
        for outcome in [CircuitBreakerMachine.Outcome.failure, .failure, .success, .failure, .failure, .ignored] {
            _ = machine.acquire(now: start)
            machine.record(outcome, now: start)
        }
        #expect(machine.state == .closed)
    }

    @Test func opensOnTheFailureRatioOnceTheWindowHasEnoughCalls() {
        var machine = CircuitBreakerMachine(
            policy: CircuitBreakerPolicy(consecutiveFailures: 0, failureRatio: 0.5, window: 10, minimumCalls: 6))
        // Alternating: never a streak, but half of the calls fail.
        for index in 0..<5 {
            _ = machine.acquire(now: start)
            machine.record(index.isMultiple(of: 2) ? .failure : .success, now: start)
        }
        #expect(machine.state == .closed, "five calls are fewer than the minimum of six")
        _ = machine.acquire(now: start)
        machine.record(.success, now: start)
        #expect(machine.state != .closed, "3 of 6 failed: the ratio is reached, with no streak")
    }

    // MARK: The thread-safe breaker

    @Test func theBreakerRefusesWithoutCallingWhileOpen() async throws {
        let clock = ManualClock(start)
        let breaker = CircuitBreaker(
            name: "upstream", policy: CircuitBreakerPolicy(consecutiveFailures: 2, openDuration: .seconds(30)), clock: clock)
        let calls = Mutex(0)
        let failing: @Sendable () async throws -> Int = {
            calls.withLock { $0 += 1 }
            throw Boom()
        }
        for _ in 0..<2 { await #expect(throws: Boom.self) { try await breaker.run(failing) } }
        #expect(breaker.state.gaugeValue == 2)
        await #expect(throws: BreakerOpen.self) { try await breaker.run(failing) }
        #expect(calls.withLock { $0 } == 2, "an open breaker does not call")

        clock.advance(by: .seconds(30))
        let value = try await breaker.run { 42 }
        #expect(value == 42)
        #expect(breaker.state == .closed)

        // Errors that are answers, not faults, never open it.
        for _ in 0..<5 {
            await #expect(throws: NotAFault.self) {
                try await breaker.run(isFailure: { !($0 is NotAFault) }) { () async throws -> Int in throw NotAFault() }
            }
        }
        #expect(breaker.state == .closed)
    }

    // MARK: Bulkhead

    @Test func theBulkheadQueuesUpToItsLimitAndRefusesBeyond() async throws {
        let bulkhead = Bulkhead(name: "provider", maxConcurrent: 1, maxWaiting: 1)
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                try await bulkhead.run {
                    startedContinuation.yield()
                    for await _ in release { break }
                    return 1
                }
            }
            var iterator = started.makeAsyncIterator()
            await iterator.next()
            group.addTask { try await bulkhead.run { 2 } }
            #expect(await eventually { bulkhead.occupancy == 2 }, "one running, one waiting")
            await #expect(throws: BulkheadFull.self) { try await bulkhead.run { 3 } }
            releaseContinuation.yield()
            var results: [Int] = []
            for try await value in group { results.append(value) }
            #expect(results.sorted() == [1, 2])
        }
        #expect(bulkhead.occupancy == 0)
        #expect(try await bulkhead.run { 4 } == 4)
    }

    // MARK: Timeout

    @Test func withTimeoutReturnsInTimeAndCancelsWhatIsLate() async throws {
        #expect(try await withTimeout(.seconds(5)) { 7 } == 7)
        let began = ContinuousClock.now
        await #expect(throws: OperationTimedOut.self) {
            try await withTimeout(.milliseconds(20)) { () async throws -> Int in
                try await Task.sleep(for: .seconds(60))
                return 0
            }
        }
        #expect(ContinuousClock.now - began < .seconds(5), "the late operation was cancelled, not awaited")
        await #expect(throws: Boom.self) { try await withTimeout(.seconds(5)) { () async throws -> Int in throw Boom() } }
    }
}
