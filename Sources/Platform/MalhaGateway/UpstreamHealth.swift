import Foundation
import Synchronization

/// What the gateway knows about each upstream's health, keyed by base URL (so it survives table
/// rebuilds). Two independent signals, either of which keeps an upstream out of rotation:
///
/// - **passive ejection**: a refused connection while proxying skips the upstream until a deadline
///   (or until it answers again) — a stopped instance costs one failed connect, not a timeout per
///   request;
/// - **active checks**: `UpstreamHealthChecker` probes each upstream's health URL; after
///   `unhealthyThreshold` consecutive failures the upstream is out until `healthyThreshold`
///   consecutive successes bring it back. This catches what passive ejection cannot: an instance
///   that accepts connections but hangs, or one that reports itself not ready (its database down).
///
/// An upstream never probed is routable (registration happens only once an instance serves).
/// When every upstream of a route fails its active checks, the route ignores them (Envoy's "panic
/// mode"): a broken health endpoint, or probes starved by load, must not take a whole service
/// down; refused connections still eject.
public final class UpstreamHealth: Sendable {
    public struct Thresholds: Sendable {
        public var unhealthy: Int
        public var healthy: Int
        public init(unhealthy: Int = 2, healthy: Int = 1) {
            self.unhealthy = max(1, unhealthy)
            self.healthy = max(1, healthy)
        }
    }

    private struct Probe {
        var failing = false
        var consecutiveFailures = 0
        var consecutiveSuccesses = 0
    }

    private struct State {
        var ejectedUntil: [String: Date] = [:]
        var probes: [String: Probe] = [:]
    }

    private let state = Mutex(State())
    private let ejectionSeconds: TimeInterval
    private let thresholds: Thresholds

    public init(ejectionDuration: Duration, thresholds: Thresholds = Thresholds()) {
        self.ejectionSeconds = ejectionDuration.seconds
        self.thresholds = thresholds
    }

    /// Whether requests may go to `baseURL` now (`ignoringChecks`: on passive ejection alone).
    func isRoutable(_ baseURL: String, now: Date, ignoringChecks: Bool = false) -> Bool {
        state.withLock { state in
            if !ignoringChecks, state.probes[baseURL]?.failing == true { return false }
            guard let until = state.ejectedUntil[baseURL] else { return true }
            if until > now { return false }
            state.ejectedUntil[baseURL] = nil
            return true
        }
    }

    /// Passive: the connection to `baseURL` was refused.
    func eject(_ baseURL: String, now: Date) {
        state.withLock { $0.ejectedUntil[baseURL] = now.addingTimeInterval(ejectionSeconds) }
    }

    /// Passive: a live answer readmits an ejected upstream at once.
    func readmit(_ baseURL: String) {
        state.withLock { state in
            if !state.ejectedUntil.isEmpty { state.ejectedUntil[baseURL] = nil }
        }
    }

    /// Active: the outcome of one probe. Returns the upstream's failing state when it changed.
    @discardableResult
    func record(probeOf baseURL: String, succeeded: Bool) -> Bool? {
        state.withLock { state in
            var probe = state.probes[baseURL] ?? Probe()
            let wasFailing = probe.failing
            if succeeded {
                probe.consecutiveFailures = 0
                probe.consecutiveSuccesses += 1
                if probe.failing && probe.consecutiveSuccesses >= thresholds.healthy {
                    probe.failing = false
                    // A passing check is as good as a live answer.
                    state.ejectedUntil[baseURL] = nil
                }
            } else {
                probe.consecutiveSuccesses = 0
                probe.consecutiveFailures += 1
                if probe.consecutiveFailures >= thresholds.unhealthy { probe.failing = true }
            }
            state.probes[baseURL] = probe
            return probe.failing == wasFailing ? nil : probe.failing
        }
    }

    /// Forgets probe history of upstreams no longer known (an instance that left and came back
    /// under the same URL starts afresh).
    func retainProbes(of baseURLs: Set<String>) {
        state.withLock { state in
            state.probes = state.probes.filter { baseURLs.contains($0.key) }
        }
    }

    /// Upstreams currently failing their active checks (for logs and tests).
    public func failingUpstreams() -> Set<String> {
        state.withLock { Set($0.probes.filter(\.value.failing).keys) }
    }
}
