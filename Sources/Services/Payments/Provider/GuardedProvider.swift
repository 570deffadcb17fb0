import Foundation
public import MalhaCore
public import Metrics

/// The provider behind its defences, in the order a call meets them: the bulkhead (a bounded
/// number of calls in flight, a bounded line behind them), the circuit breaker (a provider that
/// keeps failing is not called until it has had time to recover), the timeout (no call waits
/// forever). Anything thrown here is transient to the processor — `BulkheadFull` and
/// `BreakerOpen` included: the operation stays owed and is tried again later.
///
/// Metrics: `payments_provider_calls_total{operation,outcome}`,
/// `payments_provider_duration_seconds{operation}` and `payments_provider_breaker_state`
/// (0 closed, 1 half-open, 2 open).
public final class GuardedProvider: Sendable {
    public let provider: any PaymentProvider
    public let breaker: CircuitBreaker
    public let bulkhead: Bulkhead
    public let timeout: Duration
    let metricsFactory: any MetricsFactory
    let breakerState: Gauge

    public init(
        _ provider: any PaymentProvider, breaker: CircuitBreaker, bulkhead: Bulkhead, timeout: Duration,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.provider = provider
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.timeout = timeout
        self.metricsFactory = metricsFactory
        self.breakerState = Gauge(label: "payments_provider_breaker_state", factory: metricsFactory)
        breakerState.record(breaker.state.gaugeValue)
    }

    /// Calls the provider for `operation` through the bulkhead, the breaker and the timeout.
    public func call(
        _ operation: OperationKind, _ body: @escaping @Sendable (any PaymentProvider) async throws -> ProviderOutcome
    ) async throws -> ProviderOutcome {
        let start = ContinuousClock.now
        let (provider, breaker, timeout) = (self.provider, self.breaker, self.timeout)
        defer { breakerState.record(breaker.state.gaugeValue) }
        do {
            let outcome = try await bulkhead.run {
                try await breaker.run {
                    try await withTimeout(timeout) { try await body(provider) }
                }
            }
            observe(operation, outcome: Self.label(outcome), since: start)
            return outcome
        } catch let error as BreakerOpen {
            observe(operation, outcome: "breaker_open", since: nil)
            throw error
        } catch let error as BulkheadFull {
            observe(operation, outcome: "bulkhead_full", since: nil)
            throw error
        } catch {
            observe(operation, outcome: "transient", since: start)
            throw error
        }
    }

    private func observe(_ operation: OperationKind, outcome: String, since start: ContinuousClock.Instant?) {
        Counter(
            label: "payments_provider_calls_total", dimensions: [("operation", operation.rawValue), ("outcome", outcome)],
            factory: metricsFactory
        ).increment()
        guard let start else { return }
        let elapsed = ContinuousClock.now - start
        Metrics.Timer(
            label: "payments_provider_duration_seconds", dimensions: [("operation", operation.rawValue)], factory: metricsFactory
        ).recordNanoseconds(elapsed.nanoseconds)
    }

    static func label(_ outcome: ProviderOutcome) -> String {
        switch outcome {
        case .approved: "approved"
        case .declined: "declined"
        case .pending: "pending"
        }
    }
}
