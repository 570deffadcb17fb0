public import AsyncHTTPClient
import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaRegistry
public import MalhaService
public import MalhaStore
import Metrics
public import ServiceLifecycle

/// How a consolidation instance runs.
public struct ConsolidationConfiguration: Sendable {
    /// Where the ledger answers, for verification and rebuilds (nil: those answer 503).
    public var ledgerURL: String?
    /// How long a rendered balance stays cached (any change to the account replaces it sooner).
    public var cacheTTL: Duration
    /// How often the lag gauge is sampled from the bus.
    public var lagSampleInterval: Duration

    public init(
        ledgerURL: String? = nil, cacheTTL: Duration = .seconds(60), lagSampleInterval: Duration = .seconds(5)
    ) {
        self.ledgerURL = ledgerURL
        self.cacheTTL = cacheTTL
        self.lagSampleInterval = lagSampleInterval
    }
}

/// The cash-flow consolidation (CQRS read side): daily balances per account and business day,
/// built from the ledger's events and nothing else, served from a cache with `ETag`s.
///
/// It is built so that the ledger never depends on it: the ledger publishes through its outbox
/// whether or not anything consumes, and this service's readiness is only its own (migrated,
/// serving). Behind, it is still ready: it answers what it has with `freshness` saying how far
/// that goes, and the lag shows in `consolidation_lag_seconds`.
public enum ConsolidationService: ServiceDeclaration {
    public static let name = "consolidation"
    public static let portOffset = 9
    // It consumes the ledger's events (through the inbox) and publishes nothing.
    public static let platformTables: PlatformTables = [.inbox]

    public static let routeRules: [RouteRule] = [
        // The gateway routes by prefix; `*` matches one path segment (the account id), so the
        // ledger keeps the rest of /v1/accounts.
        .authenticated("/v1/accounts/*/balances", methods: ["GET"]),
        .roles([Role.finance, Role.admin], "/v1/admin/consolidation"),
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Consolidation (cash flow)",
        version: MalhaVersion.current,
        operations: [
            .init(
                "GET", "/v1/accounts/{id}/balances/{date}",
                "The account's balance on a business day (opening, credits, debits, net, closing, entry count, "
                    + "freshness); ETag, If-None-Match → 304",
                access: .authenticated,
                responses: [
                    200: "The day", 304: "Not modified", 401: "No token", 404: "No such account (or not yours)",
                    422: "invalid_date",
                ]),
            .init(
                "GET", "/v1/accounts/{id}/balances",
                "Every day from `from` to `to` (YYYY-MM-DD, inclusive, at most 366 days), quiet days carried forward",
                access: .authenticated,
                responses: [
                    200: "{account_id, currency, from, to, days, freshness}", 304: "Not modified", 401: "No token",
                    404: "No such account (or not yours)", 422: "invalid_date, invalid_range or range_too_large",
                ]),
            .init(
                "POST", "/v1/admin/consolidation/rebuild",
                "Verify (verify: true, nothing written) or rebuild an account's balances from the ledger: "
                    + "{account_id, date | from, to, verify}",
                access: .finance, request: "RebuildRequest",
                responses: [
                    200: "The report: consistent, differences, missing and unexpected entries, repaired",
                    401: "No token", 403: "Not finance or admin", 404: "No such account in the ledger",
                    422: "Invalid account id or dates", 502: "The ledger could not be read",
                ]),
        ])

    public static var migrations: [Migration] { ConsolidationMigrations.all }

    /// Router with every route (in-process tests use it directly).
    public static func buildRouter(
        runtime: ServiceRuntime, store: any SQLStore, verifier: AccessTokenVerifier, cache: BalanceCache,
        ledger: LedgerReader?, clock: any WallClock = SystemWallClock()
    ) -> Router<ServiceRequestContext> {
        let router = makeRouter(runtime: runtime, verifier: verifier)
        ConsolidationRoutes(store: store, cache: cache, ledger: ledger, clock: clock).register(on: router)
        return router
    }

    public static func configuration(from reader: ServiceConfigReader) throws -> ConsolidationConfiguration {
        ConsolidationConfiguration(
            // malha.consolidation.ledger-url: where verification and rebuilds read the ledger
            // (default: the ledger in this topology).
            ledgerURL: reader.string("ledger-url") ?? reader.url(of: "ledger"),
            // malha.consolidation.cache-ttl-ms: how long a rendered balance may be served from the
            // cache (per process: another replica may serve the previous figures up to this long).
            cacheTTL: try reader.milliseconds("cache-ttl-ms", default: .seconds(60)))
    }

    /// Its routes over a balance cache, the ledger's events (a consumer without key order: each
    /// entry is applied idempotently whatever the order) and, on a bus that reports its
    /// statistics, the lag gauge.
    public static func build(_ context: ServiceContext<ConsolidationConfiguration>) async throws -> ServiceParts {
        let configuration = context.configuration
        let balances = BalanceCache(cache: InMemoryCache(), ttl: configuration.cacheTTL)
        let ledger = configuration.ledgerURL.map { LedgerReader(baseURL: $0, httpClient: context.httpClient) }
        let handler = LedgerEventHandler(
            backend: context.store.backend, cache: balances, clock: context.clock,
            metricsFactory: context.runtime.metricsFactory)
        var background: [any Service] = []
        if let statistics = context.transport as? any BusStatistics {
            background.append(
                LagSampler(
                    statistics: statistics, subscription: LedgerEventHandler.subscription.name,
                    interval: configuration.lagSampleInterval, clock: context.clock, logger: context.logger,
                    metricsFactory: context.runtime.metricsFactory))
        }
        return ServiceParts(
            router: buildRouter(
                runtime: context.runtime, store: context.store, verifier: context.verifier, cache: balances, ledger: ledger,
                clock: context.clock),
            consumers: [ServiceConsumer(LedgerEventHandler.subscription, handler: handler.handle)],
            background: background)
    }
}

/// `consolidation_lag_seconds`: the age of the oldest ledger event waiting for the consolidation
/// on the bus (0 when none waits) — how stale the balances may be. Events still in the ledger's
/// outbox (the bus down) are not on the bus yet; the ledger's `outbox_*` metrics show those.
struct LagSampler: Service {
    let statistics: any BusStatistics
    let subscription: String
    let interval: Duration
    let clock: any WallClock
    let logger: Logger
    let gauge: Gauge

    init(
        statistics: any BusStatistics, subscription: String, interval: Duration, clock: any WallClock, logger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.statistics = statistics
        self.subscription = subscription
        self.interval = interval
        self.clock = clock
        self.logger = logger
        self.gauge = Gauge(label: "consolidation_lag_seconds", factory: metricsFactory)
    }

    func run() async throws {
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            do {
                let oldest = try await statistics.oldestWaiting()[subscription]
                gauge.record(oldest.map { max(0, clock.now().timeIntervalSince($0)) } ?? 0)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 { logger.warning("cannot sample the consolidation lag", metadata: ["error": "\(error)"]) }
            }
        }
    }
}
