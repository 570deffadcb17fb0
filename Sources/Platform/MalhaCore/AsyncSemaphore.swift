import Synchronization

/// A counting semaphore for async code: at most `permits` holders at once, waiters served in order.
///
/// Used to bound CPU-heavy work (password hashing) and to give one writer at a time to SQLite.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
        /// Callers that found no permit and are waiting (counted from the moment they decide to).
        var queued = 0
    }

    /// `acquire(maxWaiting:)` found the queue full.
    public struct QueueFull: Error {}

    private let state: Mutex<State>

    public init(permits: Int) {
        precondition(permits > 0, "a semaphore needs at least one permit")
        state = Mutex(State(available: permits))
    }

    /// Runs `body` while holding one permit (`maxWaiting`: see `acquire`).
    public func withPermit<T: Sendable>(maxWaiting: Int? = nil, _ body: () async throws -> T) async throws -> T {
        try await acquire(maxWaiting: maxWaiting)
        defer { release() }
        return try await body()
    }

    /// Takes a permit, waiting for one if need be; with `maxWaiting`, throws `QueueFull` instead of
    /// waiting when that many callers already wait.
    public func acquire(maxWaiting: Int? = nil) async throws {
        let id: UInt64? = try state.withLock { state throws(QueueFull) in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            if let maxWaiting, state.queued >= maxWaiting { throw QueueFull() }
            state.queued += 1
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        defer { state.withLock { $0.queued -= 1 } }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Look again, under the lock that queues us: a release since the first look left
                // its permit in `available` (nobody was queued yet), and sleeping now would strand it.
                enum Next { case cancelled, acquired, queued }
                let next = state.withLock { state -> Next in
                    if Task.isCancelled { return .cancelled }
                    if state.available > 0 {
                        state.available -= 1
                        return .acquired
                    }
                    state.waiters.append((id, continuation))
                    return .queued
                }
                switch next {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .acquired: continuation.resume()
                case .queued: break
                }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Passes the caller's permit straight to the longest waiter and returns true; returns false,
    /// the caller keeping its permit, when nobody waits. (Group commit hands the writer on this way.)
    public func handOverIfWaited() -> Bool {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.waiters.isEmpty ? nil : state.waiters.removeFirst().continuation
        }
        next?.resume()
        return next != nil
    }

    /// How many callers wait for a permit now.
    public var waiting: Int { state.withLock { $0.queued } }

    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
