import Foundation
public import Logging
public import MalhaCore
import Metrics
public import ServiceLifecycle

/// What a transport can tell about its queues, for metrics and people.
public protocol BusStatistics: Sendable {
    /// Messages waiting or in flight, per subscription.
    func depths() async throws -> [String: Int]
    /// Dead letters kept, per subscription.
    func deadLetterCounts() async throws -> [String: Int]
    /// When the oldest message waiting (or in flight) on each subscription occurred: how far
    /// behind its consumer is. Subscriptions with nothing waiting are absent.
    func oldestWaiting() async throws -> [String: Date]
}

/// Samples queue depth, dead letters and lag per subscription into gauges (`bus_queue_depth`,
/// `bus_dead_letters`, `bus_oldest_message_age_seconds`) every `interval`. A subscription that
/// empties reads 0, not its last value.
public struct BusMetricsSampler: Service {
    let statistics: any BusStatistics
    let interval: Duration
    let logger: Logger
    let metricsFactory: any MetricsFactory
    let clock: any WallClock

    public init(
        statistics: any BusStatistics, interval: Duration = .seconds(5), logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory, clock: any WallClock = SystemWallClock()
    ) {
        self.clock = clock
        self.statistics = statistics
        self.interval = interval
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    public func run() async throws {
        var known: Set<String> = []
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            // Sleep first: the transport's tables may still be migrating when the service starts.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            known = await sampleOnce(known: known)
        }
    }

    /// Records one sample; returns every subscription seen so far.
    @discardableResult
    public func sampleOnce(known: Set<String> = []) async -> Set<String> {
        do {
            let depths = try await statistics.depths()
            let dead = try await statistics.deadLetterCounts()
            let oldest = try await statistics.oldestWaiting()
            let now = clock.now()
            let all = known.union(depths.keys).union(dead.keys)
            for subscription in all {
                Gauge(label: "bus_queue_depth", dimensions: [("subscription", subscription)], factory: metricsFactory)
                    .record(depths[subscription] ?? 0)
                Gauge(label: "bus_dead_letters", dimensions: [("subscription", subscription)], factory: metricsFactory)
                    .record(dead[subscription] ?? 0)
                Gauge(
                    label: "bus_oldest_message_age_seconds", dimensions: [("subscription", subscription)], factory: metricsFactory
                )
                .record(oldest[subscription].map { max(0, now.timeIntervalSince($0)) } ?? 0)
            }
            return all
        } catch {
            logger.warning("bus statistics unavailable", metadata: ["error": "\(error)"])
            return known
        }
    }
}
