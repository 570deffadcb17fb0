import Synchronization

/// Named readiness conditions. `/health/ready` answers 200 only when there is at least one and all hold.
public final class Readiness: Sendable {
    private let conditions = Mutex<[String: Bool]>([:])

    public init() {}

    /// Declares a condition that starts unmet.
    public func require(_ name: String) {
        conditions.withLock { if $0[name] == nil { $0[name] = false } }
    }

    public func set(_ name: String, _ met: Bool) {
        conditions.withLock { $0[name] = met }
    }

    public func snapshot() -> [String: Bool] { conditions.withLock { $0 } }

    public var isReady: Bool {
        let checks = snapshot()
        return !checks.isEmpty && checks.values.allSatisfy { $0 }
    }

    /// Suspends until condition `name` holds (or the task is cancelled): background work that
    /// needs the schema (a consumer) waits for `migrations`.
    public func wait(for name: String, pollEvery interval: Duration = .milliseconds(20)) async {
        while !Task.isCancelled, conditions.withLock({ $0[name] }) != true {
            try? await Task.sleep(for: interval)
        }
    }
}
