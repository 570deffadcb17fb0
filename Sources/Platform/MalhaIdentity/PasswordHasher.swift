public import HTTPTypes
import HummingbirdBcrypt
import MalhaCore
public import MalhaHTTP
import NIOPosix

/// bcrypt password hashing off the event loops, with a bound on concurrent hashes and on the
/// queue behind them.
///
/// A hash at cost 12 takes a few hundred milliseconds of one core; unbounded, a burst of logins
/// would starve every other request. Callers queue on the semaphore instead — at most
/// `maxQueued` of them: past that a flood of registrations would make every login wait behind it,
/// so the newcomer is answered 503 with `Retry-After` at once (`Busy`).
public struct PasswordHasher: Sendable {
    public let cost: UInt8
    public let maxQueued: Int
    private let permits: AsyncSemaphore
    private let threadPool: NIOThreadPool

    /// The queue is full: answered 503 `password_hasher_busy`, `Retry-After: 1`.
    public struct Busy: Error, ProblemConvertible {
        public init() {}

        public var problem: Problem {
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            return Problem(
                .serviceUnavailable, code: "password_hasher_busy",
                detail: "too many password checks are waiting; retry in a moment", headers: headers)
        }
    }

    public init(cost: UInt8 = 12, maxConcurrent: Int = 2, maxQueued: Int = 64, threadPool: NIOThreadPool = .singleton) {
        precondition((4...31).contains(cost), "bcrypt cost must be between 4 and 31")
        self.cost = cost
        self.maxQueued = maxQueued
        self.permits = AsyncSemaphore(permits: maxConcurrent)
        self.threadPool = threadPool
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await withPermit { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await withPermit { Bcrypt.verify(password, hash: hash) }
    }

    /// How many wait for a hash now.
    public var queued: Int { permits.waiting }

    /// Runs `work` on the thread pool under a permit, or throws `Busy` when the queue is full.
    private func withPermit<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        do {
            try await permits.acquire(maxWaiting: maxQueued)
        } catch is AsyncSemaphore.QueueFull {
            throw Busy()
        }
        defer { permits.release() }
        return try await threadPool.runIfActive(work)
    }
}
