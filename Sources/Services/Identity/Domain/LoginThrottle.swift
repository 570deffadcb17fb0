import Foundation
import MalhaCore
import Synchronization

/// Counts failed logins per key (`account:<email>`, `address:<ip>`) in a sliding window and says
/// when a key is locked out.
///
/// State is in memory, on purpose: it is short-lived (one window), losing it on restart only
/// gives an attacker one fresh window, and keeping it out of the database means a password-spraying
/// burst costs no writes. The price: each replica counts on its own, so with N replicas the
/// effective limit is N× — a shared counter belongs in Redis when the platform grows one.
public struct LoginThrottlePolicy: Sendable, Hashable {
    public var window: Duration
    public var maxFailuresPerAccount: Int
    public var maxFailuresPerAddress: Int

    public init(window: Duration = .seconds(15 * 60), maxFailuresPerAccount: Int = 5, maxFailuresPerAddress: Int = 20) {
        self.window = window
        self.maxFailuresPerAccount = maxFailuresPerAccount
        self.maxFailuresPerAddress = maxFailuresPerAddress
    }
}

/// The pure part: failure timestamps per key, pruned to the window.
struct FailureLedger: Sendable {
    var failures: [String: [Date]] = [:]
    /// Bound on tracked keys: beyond it, keys with no failure inside the window are dropped first.
    var capacity = 100_000

    /// Seconds until `key` may try again, or nil when it is not locked out.
    mutating func retryAfter(_ key: String, limit: Int, window: TimeInterval, now: Date) -> Int? {
        let recent = prune(key, window: window, now: now)
        guard recent.count >= limit, let oldest = recent.first else { return nil }
        // The window slides: the key is free again once the oldest counted failure leaves it.
        let unlock = oldest.addingTimeInterval(window)
        return max(1, Int(unlock.timeIntervalSince(now).rounded(.up)))
    }

    mutating func record(_ key: String, window: TimeInterval, now: Date) {
        if failures[key] == nil, failures.count >= capacity {
            failures = failures.filter { $0.value.last.map { now.timeIntervalSince($0) < window } ?? false }
        }
        var recent = prune(key, window: window, now: now)
        recent.append(now)
        failures[key] = recent
    }

    mutating func reset(_ key: String) {
        failures[key] = nil
    }

    private mutating func prune(_ key: String, window: TimeInterval, now: Date) -> [Date] {
        guard let dates = failures[key] else { return [] }
        let recent = dates.filter { now.timeIntervalSince($0) < window }
        failures[key] = recent.isEmpty ? nil : recent
        return recent
    }
}

/// The shared, thread-safe throttle used by the login route.
public final class LoginThrottle: Sendable {
    public let policy: LoginThrottlePolicy
    private let clock: any WallClock
    private let ledger = Mutex(FailureLedger())

    public init(policy: LoginThrottlePolicy = .init(), clock: any WallClock) {
        self.policy = policy
        self.clock = clock
    }

    private var windowSeconds: TimeInterval { policy.window.seconds }

    /// Seconds to wait when either the account or the address is locked out, else nil.
    public func retryAfter(account: String, address: String) -> Int? {
        let now = clock.now()
        let window = windowSeconds
        return ledger.withLock { ledger in
            let byAccount = ledger.retryAfter("account:" + account, limit: policy.maxFailuresPerAccount, window: window, now: now)
            let byAddress = ledger.retryAfter("address:" + address, limit: policy.maxFailuresPerAddress, window: window, now: now)
            return [byAccount, byAddress].compactMap { $0 }.max()
        }
    }

    public func recordFailure(account: String, address: String) {
        let now = clock.now()
        let window = windowSeconds
        ledger.withLock { ledger in
            ledger.record("account:" + account, window: window, now: now)
            ledger.record("address:" + address, window: window, now: now)
        }
    }

    /// A successful login clears the account's count (not the address's: one good password from
    /// an address does not excuse its other guesses).
    public func recordSuccess(account: String) {
        ledger.withLock { $0.reset("account:" + account) }
    }
}
