import Foundation
import HTTPTypes
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaTesting
import Synchronization
import Testing

@Suite("Core")
struct CoreTests {
    @Test func backoffCeilingDoublesAndCaps() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(2))
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: 1) == .milliseconds(200))
        #expect(backoff.ceiling(attempt: 2) == .milliseconds(400))
        #expect(backoff.ceiling(attempt: 4) == .milliseconds(1600))
        #expect(backoff.ceiling(attempt: 5) == .seconds(2))
        #expect(backoff.ceiling(attempt: 1000) == .seconds(2))
        #expect(backoff.ceiling(attempt: .max) == .seconds(2))
        #expect(backoff.ceiling(attempt: -3) == .milliseconds(100))
    }

    @Test func backoffDelayIsWithinCeiling() {
        let backoff = Backoff(base: .milliseconds(50), cap: .seconds(5))
        for attempt in 0..<12 {
            let ceiling = backoff.ceiling(attempt: attempt)
            var delays: [Duration] = []
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt)
                #expect(delay >= .zero && delay <= ceiling, "attempt \(attempt): \(delay) > \(ceiling)")
                delays.append(delay)
            }
            // Full jitter: the delays spread out rather than sit at one value.
            #expect(Set(delays).count > 100)
        }
        #expect(Backoff(base: .zero, cap: .seconds(1)).delay(attempt: 3) == .zero)
    }

    @Test func semaphoreBoundsConcurrency() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        final class Counters: Sendable {
            let state = Mutex((current: 0, peak: 0, done: 0))
            func withLock<R: Sendable>(_ body: (inout (current: Int, peak: Int, done: Int)) -> R) -> R {
                state.withLock { body(&$0) }
            }
        }
        let counters = Counters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await semaphore.withPermit {
                        counters.withLock {
                            $0.current += 1; $0.peak = max($0.peak, $0.current)
                        }
                        for _ in 0..<20 { await Task.yield() }
                        counters.withLock {
                            $0.current -= 1; $0.done += 1
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = counters.withLock { $0 }
        #expect(final.peak <= 3)
        #expect(final.peak >= 1)
        #expect(final.done == 40)
        #expect(final.current == 0)
    }

    @Test func semaphoreWaitersBlockUntilRelease() async throws {
        let semaphore = AsyncSemaphore(permits: 2)
        try await semaphore.acquire()
        try await semaphore.acquire()
        final class Flag: Sendable { let value = Atomic<Bool>(false) }
        let flag = Flag()
        let waiter = Task {
            try await semaphore.acquire()
            flag.value.store(true, ordering: .sequentiallyConsistent)
        }
        for _ in 0..<100 { await Task.yield() }
        let early = flag.value.load(ordering: .sequentiallyConsistent)
        #expect(early == false)
        semaphore.release()
        try await waiter.value
        let late = flag.value.load(ordering: .sequentiallyConsistent)
        #expect(late)

        // A cancelled waiter gives up with CancellationError and takes no permit.
        let cancelled = Task { try await semaphore.acquire() }
        for _ in 0..<50 { await Task.yield() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        semaphore.release()
        semaphore.release()
        // Both permits are free again.
        try await semaphore.acquire()
        try await semaphore.acquire()
    }

    /// A release that lands while an acquirer is between "no permit free" and joining the queue
    /// must not bank the permit while the acquirer sleeps (it then waited for good when nobody else
    /// came along — what stranded the bus's acknowledgements). Many rounds of exactly that race,
    /// each with nobody else to unstick it.
    @Test func aReleaseRacingAnAcquireNeverStrandsIt() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        for round in 0..<20_000 {
            try await semaphore.acquire()
            let contender = Task {
                try await semaphore.acquire()
                semaphore.release()
            }
            if round % 2 == 0 { await Task.yield() }
            semaphore.release()
            let finished = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    (try? await contender.value) != nil
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    contender.cancel()  // a stranded contender leaves the queue, so the group can end
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            guard finished else {
                Issue.record("round \(round): the contender never got the released permit")
                return
            }
        }
    }

    @Test func uuidV7SortsByTime() {
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        let dates = (0..<500).map { start.addingTimeInterval(Double($0) * 0.005) }
        let ids = dates.map { UUID.v7(at: $0).lowercased }
        #expect(ids.sorted() == ids)
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(20) {
            let characters = Array(id)
            #expect(characters[14] == "7")
            #expect("89ab".contains(characters[19]))
            #expect(id == id.lowercased())
        }
        let later = UUID.v7(at: start.addingTimeInterval(86_400)).lowercased
        #expect(later > ids.last!)
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualClock(Date(timeIntervalSince1970: 1000))
        #expect(clock.now() == Date(timeIntervalSince1970: 1000))
        clock.advance(by: .seconds(90))
        #expect(clock.now() == Date(timeIntervalSince1970: 1090))
        clock.advance(by: .milliseconds(500))
        #expect(clock.now().epochMilliseconds == 1_090_500)
        clock.set(Date(epochMilliseconds: 42))
        #expect(clock.now().epochMilliseconds == 42)
    }
}

@Suite("JSON dates")
struct JSONDateTests {
    @Test("Dates go out with milliseconds in UTC and come back from either precision")
    func milliseconds() throws {
        struct Stamp: Codable, Equatable { var at: Date }
        let date = Date(timeIntervalSince1970: 1_790_000_000.125)
        let json = String(decoding: try JSONCoding.encoder.encode(Stamp(at: date)), as: UTF8.self)
        #expect(json == #"{"at":"2026-09-21T14:13:20.125Z"}"#)
        let back = try JSONCoding.decoder.decode(Stamp.self, from: Data(json.utf8))
        #expect(back.at == date)
        let whole = try JSONCoding.decoder.decode(Stamp.self, from: Data(#"{"at":"2026-09-21T14:13:20Z"}"#.utf8))
        #expect(whole.at == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(throws: DecodingError.self) { try JSONCoding.decoder.decode(Stamp.self, from: Data(#"{"at":"yesterday"}"#.utf8)) }
    }
}

@Suite("Password hasher queue")
struct PasswordHasherQueueTests {
    /// Those admitted complete; a refusal is a 503 with Retry-After.
    @Test func aFullQueueRefusesNewcomersAtOnce() async throws {
        let hasher = PasswordHasher(cost: 10, maxConcurrent: 1, maxQueued: 2)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<12 {
                group.addTask {
                    do {
                        _ = try await hasher.hash("password-\(index)")
                        return true
                    } catch is PasswordHasher.Busy {
                        return false
                    } catch {
                        return false
                    }
                }
            }
            var outcomes: [Bool] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.filter { $0 }.count >= 3, "one hashing and two queued are always admitted")
        let problem = PasswordHasher.Busy().problem
        #expect(problem.status == .serviceUnavailable)
        #expect(problem.code == "password_hasher_busy")
        #expect(problem.headers[.retryAfter] == "1")
        #expect(hasher.queued == 0)
    }
}

@Suite("Semaphore queue bound")
struct SemaphoreQueueBoundTests {
    /// Past `maxWaiting` waiters a newcomer is refused at once instead of joining the queue.
    @Test func aFullQueueRefusesAtOnce() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let first = Task { try await semaphore.acquire(maxWaiting: 2) }
        let second = Task { try await semaphore.acquire(maxWaiting: 2) }
        for _ in 0..<200 where semaphore.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(semaphore.waiting == 2)
        await #expect(throws: AsyncSemaphore.QueueFull.self) { try await semaphore.acquire(maxWaiting: 2) }
        #expect(semaphore.waiting == 2, "the refused caller took no place")
        semaphore.release()
        semaphore.release()
        try await first.value
        try await second.value
        #expect(semaphore.waiting == 0)
        semaphore.release()
        try await semaphore.acquire(maxWaiting: 0)  // a free permit needs no queue
    }
}

@Suite("Key-encryption key")
struct KeyEncryptionKeyTests {
    @Test func sealsForOneRecordUnderOneKey() throws {
        let (key, text) = KeyEncryptionKey.generate()
        let sealed = try key.seal("-----BEGIN PRIVATE KEY-----\nabc\n", context: "kid-1")
        #expect(KeyEncryptionKey.isSealed(sealed) && !sealed.contains("PRIVATE KEY"))
        #expect(try key.open(sealed, context: "kid-1") == "-----BEGIN PRIVATE KEY-----\nabc\n")
        #expect(try KeyEncryptionKey(text: text)?.open(sealed, context: "kid-1") == "-----BEGIN PRIVATE KEY-----\nabc\n")
        #expect(throws: (any Error).self, "moved to another record") { try key.open(sealed, context: "kid-2") }
        #expect(throws: (any Error).self, "under another key") {
            try KeyEncryptionKey.generate().key.open(sealed, context: "kid-1")
        }
        var tampered = Array(sealed)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        #expect(throws: (any Error).self, "altered") { try key.open(String(tampered), context: "kid-1") }
        #expect(try key.seal("x", context: "k") != key.seal("x", context: "k"), "a fresh nonce each time")
        #expect(KeyEncryptionKey(text: "short") == nil)
        #expect(KeyEncryptionKey(text: String(repeating: "ab", count: 32)) != nil)
        #expect(KeyEncryptionKey(text: Data(repeating: 7, count: 32).base64EncodedString()) != nil)
    }

    @Test func aKeyFileIsCreatedPrivateAndRefusedWhenOthersCanReadIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kek-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let created = try KeyEncryptionKey.loadOrCreate(path: path)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let sealed = try created.seal("secret", context: "c")
        #expect(try KeyEncryptionKey.loadOrCreate(path: path).open(sealed, context: "c") == "secret", "the same key again")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: SecretFile.Refusal.self) { try KeyEncryptionKey.loadOrCreate(path: path) }
    }
}
