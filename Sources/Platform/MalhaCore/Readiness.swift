import Synchronization

/// A condition a service must meet before it reports ready. A type, not a string: a misspelt
/// condition would never be met (or never be required) without anyone noticing.
public struct ReadinessCondition: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The service's database is migrated (and seeded, where it seeds).
    public static let migrations = Self(rawValue: "migrations")
    /// Every consumer of the service is bound to its subscription: nothing published from now on is missed.
    public static let subscription = Self(rawValue: "subscription")
    /// The gateway has read the registry once (it knows where to route).
    public static let registry = Self(rawValue: "registry")
    /// The instance is registered with the registry.
    public static let registered = Self(rawValue: "registered")
    /// The store answers (a service whose only dependency is its database).
    public static let store = Self(rawValue: "store")
    /// In `up`: every other service is ready and routable through the gateway.
    public static let services = Self(rawValue: "services")
}

/// Named readiness conditions. `/health/ready` answers 200 only when there is at least one and all hold.
public final class Readiness: Sendable {
    private let conditions = Mutex<[String: Bool]>([:])

    public init() {}

    /// Declares a condition that starts unmet.
    public func require(_ condition: ReadinessCondition) {
        conditions.withLock { if $0[condition.rawValue] == nil { $0[condition.rawValue] = false } }
    }

    public func set(_ condition: ReadinessCondition, _ met: Bool) {
        conditions.withLock { $0[condition.rawValue] = met }
    }

    public func snapshot() -> [String: Bool] { conditions.withLock { $0 } }

    public var isReady: Bool {
        let checks = snapshot()
        return !checks.isEmpty && checks.values.allSatisfy { $0 }
    }

    /// Suspends until condition `name` holds (or the task is cancelled): background work that
    /// needs the schema (a consumer) waits for `migrations`.
    public func wait(for condition: ReadinessCondition, pollEvery interval: Duration = .milliseconds(20)) async {
        while !Task.isCancelled, conditions.withLock({ $0[condition.rawValue] }) != true {
            try? await Task.sleep(for: interval)
        }
    }
}
