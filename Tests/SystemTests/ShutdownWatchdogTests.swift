import Dispatch
import Foundation
import Synchronization
import Testing

@testable import malha

@Suite("Shutdown watchdog")
struct ShutdownWatchdogTests {
    /// When each expiry ran.
    final class Expiries: Sendable {
        let instants = Mutex<[ContinuousClock.Instant]>([])
        var all: [ContinuousClock.Instant] { instants.withLock { $0 } }
    }

    /// The stop signal arms it once; it fires after its deadline, on a Dispatch queue (no Swift
    /// Concurrency or event loop involved), however many signals follow.
    ///
    /// Timed by when it fired, not by sleeping and looking: a sleep that overslept on a loaded
    /// machine made "not yet" fail while the watchdog was right.
    @Test func firesOnceTheDeadlineAfterTheFirstSignal() async throws {
        let expiries = Expiries()
        let watchdog = ShutdownWatchdog(signals: [SIGUSR2], deadline: .milliseconds(300)) {
            expiries.instants.withLock { $0.append(.now) }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(expiries.all.isEmpty, "nothing before a signal")
        let signalled = ContinuousClock.now
        kill(getpid(), SIGUSR2)
        try await Task.sleep(for: .milliseconds(100))
        kill(getpid(), SIGUSR2)
        for _ in 0..<500 where expiries.all.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        // Long enough for a second expiry, had the second signal armed one.
        try await Task.sleep(for: .milliseconds(700))
        let fired = expiries.all
        #expect(fired.count == 1, "once")
        if let first = fired.first {
            #expect(first - signalled >= .milliseconds(300), "not before the deadline: \(first - signalled)")
        }
        withExtendedLifetime(watchdog) {}
    }
}
