import Synchronization

/// A call refused because the bulkhead's slots and its waiting line are both full.
public struct BulkheadFull: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var description: String { "bulkhead \(name) is full" }
}

/// Caps the calls in flight to one dependency (`maxConcurrent`) and the callers queued behind
/// them (`maxWaiting`); beyond that, calls are refused at once with `BulkheadFull`. A slow
/// dependency then ties up a bounded number of tasks instead of all of them.
///
/// Built on `AsyncSemaphore` (fair, cancellable waits); the admission count is a separate
/// `Mutex` so that "how many are here" is decided before anyone queues.
public final class Bulkhead: Sendable {
    public let name: String
    public let maxConcurrent: Int
    public let maxWaiting: Int
    private let slots: AsyncSemaphore
    private let admitted = Mutex(0)

    public init(name: String, maxConcurrent: Int, maxWaiting: Int = 0) {
        self.name = name
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxWaiting = max(0, maxWaiting)
        self.slots = AsyncSemaphore(permits: max(1, maxConcurrent))
    }

    /// Calls in flight plus callers waiting for a slot.
    public var occupancy: Int { admitted.withLock { $0 } }

    /// Runs `operation` in a slot, waiting for one if the line is not full.
    public func run<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        let limit = maxConcurrent + maxWaiting
        let admittedNow = admitted.withLock { count -> Bool in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admittedNow else { throw BulkheadFull(name: name) }
        defer { admitted.withLock { $0 -= 1 } }
        return try await slots.withPermit(operation)
    }
}

// MARK: - Timeouts

/// An operation that did not finish within its time limit (it was cancelled).
public struct OperationTimedOut: Error, Sendable, Hashable, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "the operation did not finish within \(limit)" }
}

/// Runs `operation` and cancels it after `limit`, throwing `OperationTimedOut`.
///
/// The operation runs in a child task and must honour cancellation for the timeout to return
/// promptly (AsyncHTTPClient requests and `Task.sleep` do). Lives next to `Bulkhead` because the
/// two are always used together around an outbound call.
public func withTimeout<T: Sendable>(
    _ limit: Duration, operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: TimeoutRace<T>.self) { group in
        group.addTask { .finished(try await operation()) }
        group.addTask {
            try await Task.sleep(for: limit)
            return .timedOut
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        switch first {
        case .finished(let value): return value
        case .timedOut: throw OperationTimedOut(limit: limit)
        }
    }
}

private enum TimeoutRace<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
}
