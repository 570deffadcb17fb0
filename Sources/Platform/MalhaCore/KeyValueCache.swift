public import Foundation
import Synchronization

/// A byte cache with per-entry time to live: what services put in front of hot reads.
///
/// Values are opaque bytes so that one protocol fits an in-process dictionary and Redis alike;
/// callers choose the encoding. A cache is never the source of truth: every method may forget.
public protocol KeyValueCache: Sendable {
    func get(_ key: String) async -> [UInt8]?
    func set(_ key: String, _ value: [UInt8], ttl: Duration) async
    func delete(_ key: String) async
    /// Removes every key that starts with `prefix`.
    func delete(prefix: String) async
}

/// A process-local `KeyValueCache`: a dictionary behind a mutex, expiry read from an injected
/// clock (so tests move time instead of sleeping), and at most `capacity` entries.
///
/// Eviction is deliberately simple: when full, expired entries go first, then the entry closest
/// to expiry. That is O(n) on a full insert, acceptable for the few thousand hot keys a service
/// keeps; a real LRU belongs in Redis.
public final class InMemoryCache: KeyValueCache {
    private struct Entry {
        var value: [UInt8]
        var expiresAt: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let clock: any WallClock
    public let capacity: Int

    public init(capacity: Int = 10_000, clock: any WallClock = SystemWallClock()) {
        self.capacity = max(1, capacity)
        self.clock = clock
    }

    public func get(_ key: String) async -> [UInt8]? {
        let now = clock.now()
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if entry.expiresAt <= now {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration) async {
        let now = clock.now()
        let seconds = ttl.seconds
        guard seconds > 0 else {
            await delete(key)
            return
        }
        let capacity = self.capacity
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                Self.evict(from: &entries, now: now, capacity: capacity)
            }
            entries[key] = Entry(value: value, expiresAt: now.addingTimeInterval(seconds))
        }
    }

    public func delete(_ key: String) async {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    public func delete(prefix: String) async {
        entries.withLock { entries in
            for key in entries.keys where key.hasPrefix(prefix) { entries[key] = nil }
        }
    }

    /// The number of entries held, expired ones included until touched or evicted.
    public var count: Int { entries.withLock { $0.count } }

    private static func evict(from entries: inout [String: Entry], now: Date, capacity: Int) {
        for (key, entry) in entries where entry.expiresAt <= now { entries[key] = nil }
        while entries.count >= capacity, let soonest = entries.min(by: { $0.value.expiresAt < $1.value.expiresAt }) {
            entries[soonest.key] = nil
        }
    }
}
