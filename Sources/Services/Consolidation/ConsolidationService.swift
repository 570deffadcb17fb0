public import AsyncHTTPClient
import Contracts
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaOpenAPI
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
    // Verifications and rebuilds read the ledger as the consolidation, with this alone.
    public static let clientScopes = [ServiceScope.ledgerRead]

    public static let routeRules: [RouteRule] = [
        // The gateway routes by prefix; `*` matches one path segment (the account id), so the
        // ledger keeps the rest of /v1/accounts.
        .authenticated("/v1/accounts/*/balances", methods: ["GET"]),
        .roles([Role.finance, Role.admin], "/v1/admin/consolidation"),
    ]

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Consolidation (cash flow)", version: MalhaVersion.current,
            description: "Daily balances per account and business day, built from the ledger's events. Balances are "
                + "visible to the account's owner, finance and administrators; to anyone else the account does not "
                + "exist (404).",
            operations: [
                .get(
                    "/v1/accounts/{id}/balances/{date}", "The account's balance on a business day",
                    description: "Opening, credits, debits, net, closing and entry count, with freshness saying how "
                        + "complete they are.", access: .authenticated,
                    parameters: [
                        accountID,
                        .path("date", .string(format: .date), description: "The business day, YYYY-MM-DD (422 invalid_date)"),
                    ], ifNoneMatch: true,
                    responses: [
                        .ok(BalanceOfDay.self, "The day", headers: [.etag, privateNoCache]),
                        .problem(404, "No such account (or not yours)"),
                        .problem(422, "invalid_date: not a real day written YYYY-MM-DD"),
                    ]),
                .get(
                    "/v1/accounts/{id}/balances", "Every day of a range, quiet days carried forward",
                    access: .authenticated,
                    parameters: [
                        accountID,
                        .query(
                            "from", .string(format: .date), required: true,
                            description: "First business day, YYYY-MM-DD, inclusive"),
                        .query(
                            "to", .string(format: .date), required: true,
                            description: "Last business day, inclusive (before from: no days). A range longer than "
                                + "\(ConsolidationRoutes.maxRangeDays) days answers its first "
                                + "\(ConsolidationRoutes.maxRangeDays) and next_from"),
                    ], ifNoneMatch: true,
                    responses: [
                        .ok(BalanceRange.self, "The days", headers: [.etag, privateNoCache]),
                        .problem(404, "No such account (or not yours)"),
                        .problem(422, "invalid_date: from or to missing or not a real day written YYYY-MM-DD"),
                    ]),
                .post(
                    "/v1/admin/consolidation/rebuild", "Verify or rebuild an account's balances from the ledger",
                    description: "verify: true compares only; otherwise the consolidation is made to hold what the "
                        + "ledger's entries say. The ledger is read with the caller's token.", access: .finance,
                    body: .json(ConsolidationRoutes.RebuildRequest.self),
                    responses: [
                        .ok(RebuildReport.self, "The report"),
                        .problem(404, "No such account in the ledger (or not readable with the caller's token)"),
                        .problem(422, "validation_failed: account_id, a date, or date with from/to"),
                        .problem(502, "ledger_unavailable: the ledger could not be read"),
                        .problem(503, "ledger_not_configured: this instance has no ledger URL or no client credentials"),
                    ]),
            ])
    }

    /// Ids are UUIDs; anything else is answered like an unknown id (404).
    private static let accountID = OpenAPIDocument.Parameter.path(
        "id", UUID.self, description: "The ledger account id (a non-UUID is answered 404, like an unknown id)")

    /// Balances are the caller's own: caches must revalidate (with If-None-Match) every time.
    private static let privateNoCache = OpenAPIDocument.ResponseHeader(
        "Cache-Control", .enumeration(["private, no-cache"]), required: true,
        description: "Private to the caller; revalidate with If-None-Match before reuse")

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
        var ledger: LedgerReader?
        if let url = configuration.ledgerURL, let credential = context.serviceCredential {
            ledger = LedgerReader(baseURL: url, httpClient: context.httpClient, credential: credential)
        }
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
