import Foundation
import Logging
import MalhaCore
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@Suite("Idempotency keys")
struct IdempotencyKeysTests {
    static let logger: Logger = {
        var logger = Logger(label: "test.idempotency")
        logger.logLevel = .warning
        return logger
    }()

    @Test func sameRequestReplaysOtherRequestMismatchesRunningOneConflicts() async throws {
        try await TestDatabases.withEachBackend { store in
            try await IdempotencyKeys.migrate(store, logger: Self.logger)
            let now = Date()
            let claim = { (key: String, hash: String, at: Date) in
                try await IdempotencyKeys.claim(scope: "c1", key: key, requestHash: hash, now: at, in: store)
            }
            #expect(try await claim("k1", "h1", now) == .claimed)
            #expect(try await claim("k1", "h1", now) == .inProgress, "the first is still running")
            #expect(try await claim("k1", "h2", now) == .mismatch)
            #expect(
                try await IdempotencyKeys.claim(scope: "c2", key: "k1", requestHash: "h9", now: now, in: store) == .claimed,
                "keys are scoped")
            try await store.transaction { db in
                try await IdempotencyKeys.complete(scope: "c1", key: "k1", status: 201, response: #"{"id":"o1"}"#, in: db)
            }
            #expect(try await claim("k1", "h1", now) == .replay(status: 201, response: #"{"id":"o1"}"#))
            #expect(try await claim("k1", "h2", now) == .mismatch)

            // A failed attempt releases its key; an abandoned one (its process died) is taken over.
            #expect(try await claim("k2", "h1", now) == .claimed)
            try await IdempotencyKeys.release(scope: "c1", key: "k2", in: store)
            #expect(try await claim("k2", "h1", now) == .claimed)
            #expect(try await claim("k2", "h1", now.addingTimeInterval(30)) == .inProgress)
            #expect(try await claim("k2", "h1", now.addingTimeInterval(61)) == .claimed, "abandoned after 60 s")

            #expect(IdempotencyKeys.isValid("order-2026-11-23-0001"))
            #expect(
                !IdempotencyKeys.isValid("") && !IdempotencyKeys.isValid("has space")
                    && !IdempotencyKeys.isValid(String(repeating: "k", count: 256)))
        }
    }

    /// Ten concurrent first requests with one key: exactly one owns it.
    @Test func concurrentClaimsHaveOneWinner() async throws {
        try await TestDatabases.withEachBackend { store in
            try await IdempotencyKeys.migrate(store, logger: Self.logger)
            let outcomes = try await withThrowingTaskGroup(of: IdempotencyKeys.Claim.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await IdempotencyKeys.claim(scope: "c", key: "same", requestHash: "h", now: Date(), in: store)
                    }
                }
                var outcomes: [IdempotencyKeys.Claim] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == .claimed }.count == 1)
            #expect(outcomes.filter { $0 == .inProgress }.count == 9)
        }
    }
}
