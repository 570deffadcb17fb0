import HummingbirdBcrypt
import MalhaCore
import NIOPosix

/// bcrypt password hashing off the event loops, with a bound on concurrent hashes.
///
/// A hash at cost 12 takes a few hundred milliseconds of one core; unbounded, a burst of logins
/// would starve every other request. Callers queue on the semaphore instead.
public struct PasswordHasher: Sendable {
    public let cost: UInt8
    private let permits: AsyncSemaphore
    private let threadPool: NIOThreadPool

    public init(cost: UInt8 = 12, maxConcurrent: Int = 2, threadPool: NIOThreadPool = .singleton) {
        precondition((4...31).contains(cost), "bcrypt cost must be between 4 and 31")
        self.cost = cost
        self.permits = AsyncSemaphore(permits: maxConcurrent)
        self.threadPool = threadPool
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await permits.withPermit {
            try await threadPool.runIfActive { Bcrypt.hash(password, cost: cost) }
        }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await permits.withPermit {
            try await threadPool.runIfActive { Bcrypt.verify(password, hash: hash) }
        }
    }
}
