public import Hummingbird
public import Metrics

/// RED metrics per route: `http_requests_total{method,route,status}` and
/// `http_request_duration_seconds{method,route}`, recorded through a service's own metrics factory
/// (so every service in one process still exposes only its own series).
public struct REDMetricsMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // The route template (e.g. /v1/products/{id}), never the raw path: bounded label cardinality.
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        Counter(
            label: "http_requests_total",
            dimensions: [("method", method), ("route", route), ("status", String(response.status.code))],
            factory: factory
        ).increment()
        Metrics.Timer(
            label: "http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory
        )
        .recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        return response
    }
}
