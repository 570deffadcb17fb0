import Dispatch
import Foundation
import Synchronization

/// The last guarantee that SIGTERM (or Ctrl-C) ends the process: once a stop signal arrives, a
/// timer that runs on a Dispatch queue — outside Swift Concurrency and NIO's event loops — ends
/// the process if it is still there `deadline` later.
///
/// Why: the orderly stop (ServiceLifecycle: graceful shutdown, then cancellation after 15 s, then
/// a fatal error after 5 more) runs on the very threads it stops. A deadlock there — seen on
/// 2026-11-23: swift-async-algorithms' `merge` (behind `cancelOnGracefulShutdown()` in every
/// Hummingbird application's date cache) deadlocked both event loops while the group was being
/// cancelled, apple/swift-async-algorithms#430 — leaves nothing to run that stop, and the process
/// ignores SIGTERM for good. Exiting here is no worse than a crash: every acknowledged write is
/// already durable (SQLite `synchronous=FULL`, PostgreSQL commits), and the bus redelivers what
/// was in flight.
final class ShutdownWatchdog {
    private let sources: [any DispatchSourceSignal]
    private let queue = DispatchQueue(label: "malha.shutdown-watchdog")

    /// Starts watching `signals`; `expire` runs (once) `deadline` after the first of them.
    init(
        signals: [Int32] = [SIGTERM, SIGINT], deadline: DispatchTimeInterval = .seconds(30),
        expire: @escaping @Sendable () -> Void = ShutdownWatchdog.exitNow
    ) {
        let queue = self.queue
        let armed = OnceFlag()
        sources = signals.map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
            source.setEventHandler {
                guard armed.setOnce() else { return }
                queue.asyncAfter(deadline: .now() + deadline, execute: expire)
            }
            source.resume()
            return source
        }
    }

    /// Writes why to standard error and exits with status 70 (EX_SOFTWARE): the stop did not finish.
    static let exitNow: @Sendable () -> Void = {
        FileHandle.standardError.write(
            Data("malha: the orderly stop did not finish in time; exiting now\n".utf8))
        exit(70)
    }

    deinit {
        for source in sources { source.cancel() }
    }
}

/// A flag that can be set once, from any thread.
private final class OnceFlag: Sendable {
    private let value = Atomic<Bool>(false)

    /// True for the first caller only.
    func setOnce() -> Bool {
        value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
