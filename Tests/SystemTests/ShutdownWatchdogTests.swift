import Dispatch
import Foundation
import Synchronization
import Testing

@testable import malha

@Suite("Shutdown watchdog")
struct ShutdownWatchdogTests {
    final class Expired: Sendable {
        let count = Atomic<Int>(0)
    }

    /// The stop signal arms it once; it fires after its deadline, on a Dispatch queue (no Swift
    /// Concurrency or event loop involved), however many signals follow.
    @Test func firesOnceTheDeadlineAfterTheFirstSignal() async throws {
        let expired = Expired()
        let watchdog = ShutdownWatchdog(signals: [SIGUSR2], deadline: .milliseconds(300)) {
            expired.count.add(1, ordering: .relaxed)
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(expired.count.load(ordering: .relaxed) == 0, "nothing before a signal")
        kill(getpid(), SIGUSR2)
        try await Task.sleep(for: .milliseconds(100))
        kill(getpid(), SIGUSR2)
        #expect(expired.count.load(ordering: .relaxed) == 0, "not before the deadline")
        try await Task.sleep(for: .milliseconds(700))
        #expect(expired.count.load(ordering: .relaxed) == 1, "once, after the deadline")
        withExtendedLifetime(watchdog) {}
    }
}
