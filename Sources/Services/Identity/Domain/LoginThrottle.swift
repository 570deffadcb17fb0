import Foundation
import MalhaCore
import Synchronization

/// Counts failed logins in a sliding window, per account *from one address* and per address, and
/// says when a login is locked out.
///
/// An account is locked only for the address its failures came from: anyone could otherwise
/// lock an admin out by failing five times against the admin's e-mail, from anywhere. The price
/// is that an attacker with many addresses gets `maxFailuresPerAccount` guesses per account from
/// each (and `maxFailuresPerAddress` across accounts); bcrypt's cost and MFA carry the rest.
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

    /// Seconds to wait when the account is locked for this address, or the address is, else nil.
    public func retryAfter(account: String, address: String) -> Int? {
        let now = clock.now()
        let window = windowSeconds
        return ledger.withLock { ledger in
            let byAccount = ledger.retryAfter(
                Self.pair(account, address), limit: policy.maxFailuresPerAccount, window: window, now: now)
            let byAddress = ledger.retryAfter("address:" + address, limit: policy.maxFailuresPerAddress, window: window, now: now)
            return [byAccount, byAddress].compactMap { $0 }.max()
        }
    }

    public func recordFailure(account: String, address: String) {
        let now = clock.now()
        let window = windowSeconds
        ledger.withLock { ledger in
            ledger.record(Self.pair(account, address), window: window, now: now)
            ledger.record("address:" + address, window: window, now: now)
        }
    }

    /// A successful login clears the account's count from that address (not the address's: one
    /// good password from an address does not excuse its other guesses).
    public func recordSuccess(account: String, address: String) {
        ledger.withLock { $0.reset(Self.pair(account, address)) }
    }

    /// The key of one account's failures from one address (`\n` appears in neither).
    static func pair(_ account: String, _ address: String) -> String { "account:\(account)\n\(address)" }
}

/// How many attempts a key may make in a window.
public struct AttemptLimit: Sendable, Hashable {
    public var limit: Int
    public var window: Duration

    public init(_ limit: Int, per window: Duration) {
        self.limit = limit
        self.window = window
    }
}

/// Counts attempts (not only failures) per key in a sliding window: registrations per address,
/// refreshes per address. In memory for the reasons `LoginThrottle` gives.
public final class AttemptThrottle: Sendable {
    private let clock: any WallClock
    private let ledger = Mutex(FailureLedger())

    public init(clock: any WallClock) {
        self.clock = clock
    }

    /// Counts one attempt under `key` and returns nil; or, when `key` already made `limit.limit`
    /// attempts in the window, counts nothing and returns the seconds to wait.
    public func admit(_ key: String, _ limit: AttemptLimit) -> Int? {
        let now = clock.now()
        let window = limit.window.seconds
        return ledger.withLock { ledger in
            if let wait = ledger.retryAfter(key, limit: limit.limit, window: window, now: now) { return wait }
            ledger.record(key, window: window, now: now)
            return nil
        }
    }
}
