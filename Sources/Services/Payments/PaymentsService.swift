public import AsyncHTTPClient
import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaRegistry
public import MalhaStore
public import ServiceLifecycle

/// Which payment provider the service talks to (`malha.payments.provider`).
public enum ProviderChoice: Sendable {
    /// The built-in simulated provider (records in the payments database; runs anywhere).
    case simulated(SimulatedProvider.Settings)
    /// A real payment service over HTTP, whose webhooks are signed with `webhookSecret`.
    case http(baseURL: String, webhookSecret: String)
    /// Any other implementation (tests, embedding).
    case custom(any PaymentProvider)
}

/// How a payments instance runs.
public struct PaymentsConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    /// The token issuer and audience the service accepts (identity's).
    public var issuer = "malha-identity"
    public var audience = "malha"
    public var provider: ProviderChoice
    public var antifraud: AntifraudPolicy
    /// How often the processor looks for due work when nothing wakes it.
    public var processorInterval: Duration
    /// Calls before an authorization that keeps failing transiently is declined `provider_unavailable`
    /// (captures, voids and refunds keep trying; see `OperationKind.mayGiveUp`).
    public var maxAttempts: Int
    /// The retry backoff between transient failures (exponential, full jitter).
    public var retryBase: Duration
    public var retryCap: Duration
    /// Per provider call.
    public var providerTimeout: Duration
    /// A processor's claim on an operation; after a crash the operation is retried once it lapses.
    public var claimLease: Duration
    public var breaker: CircuitBreakerPolicy
    /// Provider calls in flight at once, and callers allowed to wait for a slot.
    public var maxConcurrentCalls: Int
    public var maxWaitingCalls: Int
    /// Webhook timestamps further than this from now are refused.
    public var webhookTolerance: Duration
    /// When to ask the provider again about a `pending` answer whose webhook has not come.
    public var pendingRecheck: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 0, issuer: String = "malha-identity", audience: String = "malha",
        provider: ProviderChoice = .simulated(SimulatedProvider.Settings()), antifraud: AntifraudPolicy = AntifraudPolicy(),
        processorInterval: Duration = .milliseconds(500), maxAttempts: Int = 5, retryBase: Duration = .milliseconds(200),
        retryCap: Duration = .seconds(30), providerTimeout: Duration = .seconds(5), claimLease: Duration = .seconds(30),
        breaker: CircuitBreakerPolicy = CircuitBreakerPolicy(consecutiveFailures: 5, openDuration: .seconds(15)),
        maxConcurrentCalls: Int = 16, maxWaitingCalls: Int = 64, webhookTolerance: Duration = .seconds(300),
        pendingRecheck: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.issuer = issuer
        self.audience = audience
        self.provider = provider
        self.antifraud = antifraud
        self.processorInterval = processorInterval
        self.maxAttempts = maxAttempts
        self.retryBase = retryBase
        self.retryCap = retryCap
        self.providerTimeout = providerTimeout
        self.claimLease = claimLease
        self.breaker = breaker
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxWaitingCalls = maxWaitingCalls
        self.webhookTolerance = webhookTolerance
        self.pendingRecheck = pendingRecheck
    }

    /// The processor's settings these values make.
    public var processorSettings: PaymentProcessor.Settings {
        PaymentProcessor.Settings(
            interval: processorInterval, lease: claimLease,
            retry: RetrySchedule(backoff: Backoff(base: retryBase, cap: retryCap), maxAttempts: maxAttempts),
            pendingRecheck: pendingRecheck)
    }
}

/// The TechStore payments service: payment intents, the provider that processes them, antifraud,
/// refunds and voids, and the audit trail.
public enum PaymentsService {
    public static let name = "payments"

    public static let routeRules: [RouteRule] = [
        // Authenticated by the provider's signature, not by a token.
        .public("/v1/payments/webhooks", methods: ["POST"]),
        .authenticated("/v1/payments", methods: ["GET"]),
        .roles([Role.admin], "/v1/payments", methods: ["POST"]),
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Payments (TechStore)",
        version: MalhaVersion.current,
        operations: [
            .init(
                "GET", "/v1/payments", "The payments of an order (order_id); the caller's own unless admin",
                access: .authenticated, responses: [200: "{items, next_cursor}", 401: "No token", 422: "order_id missing"]),
            .init(
                "GET", "/v1/payments/{id}", "A payment with its refunds (its customer or an admin)", access: .authenticated,
                responses: [200: "The payment", 401: "No token", 404: "No such payment (or not yours)"]),
            .init(
                "GET", "/v1/payments/{id}/events", "The payment's audit trail", access: .authenticated,
                responses: [200: "{items, next_cursor}", 401: "No token", 404: "No such payment (or not yours)"]),
            .init(
                "POST", "/v1/payments/{id}/review", "Decide a payment antifraud held for review", access: .admin,
                request: "ReviewRequest",
                responses: [200: "The payment", 404: "No such payment", 409: "Not in review", 422: "Invalid decision"]),
            .init(
                "POST", "/v1/payments/{id}/refunds", "Refund part or all of a captured payment (Idempotency-Key required)",
                access: .admin, request: "RefundRequest",
                responses: [
                    202: "The refund, sent to the provider", 400: "Idempotency-Key missing or invalid", 404: "No such payment",
                    409: "Not captured, or the key's first request still running",
                    422: "Invalid, more than was captured, or the key used for another request",
                ]),
            .init(
                "POST", "/v1/payments/webhooks/provider", "The provider's signed notification (Malha-Signature)",
                request: "WebhookNotification",
                responses: [
                    200: "Processed (or a duplicate)", 401: "Bad or stale signature", 404: "Unknown reference",
                    422: "Invalid body",
                ]),
        ])

    public static var migrations: [Migration] { PaymentsMigrations.all }

    /// The provider `configuration` chooses, behind its bulkhead, breaker and timeout.
    public static func makeProvider(
        configuration: PaymentsConfiguration, store: any SQLStore, httpClient: HTTPClient, clock: any WallClock,
        runtime: ServiceRuntime
    ) -> GuardedProvider {
        let provider: any PaymentProvider =
            switch configuration.provider {
            case .simulated(let settings): SimulatedProvider(settings: settings, store: store, clock: clock)
            case .http(let baseURL, _):
                HTTPPaymentProvider(baseURL: baseURL, httpClient: httpClient, timeout: configuration.providerTimeout)
            case .custom(let provider): provider
            }
        return GuardedProvider(
            provider, breaker: CircuitBreaker(name: "payments-provider", policy: configuration.breaker, clock: clock),
            bulkhead: Bulkhead(
                name: "payments-provider", maxConcurrent: configuration.maxConcurrentCalls,
                maxWaiting: configuration.maxWaitingCalls),
            timeout: configuration.providerTimeout, metricsFactory: runtime.metricsFactory)
    }

    /// Router with every route (used by in-process tests and by `buildApplication`). `wake` runs
    /// after a commit that gave the processor or the outbox relay work.
    public static func buildRouter(
        configuration: PaymentsConfiguration, runtime: ServiceRuntime, store: any SQLStore, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock(), wake: @escaping @Sendable () -> Void = {}
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        var webhooks: PaymentsRoutes.Webhooks?
        if case .http(_, let secret) = configuration.provider {
            webhooks = PaymentsRoutes.Webhooks(secret: secret, tolerance: configuration.webhookTolerance)
        }
        PaymentsRoutes(
            store: store, clock: clock, webhooks: webhooks, pendingRecheck: configuration.pendingRecheck, wake: wake
        ).register(on: router)
        return router
    }

    /// The application: `services` run before the server in order (the store first); migrations run
    /// in `beforeServerStarts`. With a `transport`, the service takes the saga's payment commands
    /// (a consumer), runs the processor that talks to the provider, and relays its replies from its
    /// outbox — all three start once migrated. With none it serves only HTTP (refunds and reviews
    /// are then recorded but not processed).
    public static func buildApplication(
        configuration: PaymentsConfiguration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)?,
        httpClient: HTTPClient,
        clock: any WallClock = SystemWallClock(),
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        runtime.readiness.require(.migrations)
        let logger = runtime.logger
        var services = services
        var wake: @Sendable () -> Void = {}
        if let transport {
            let relay = OutboxRelay(
                store: store, transport: transport, service: name, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory)
            let processor = PaymentProcessor(
                store: store,
                provider: makeProvider(
                    configuration: configuration, store: store, httpClient: httpClient, clock: clock, runtime: runtime),
                antifraud: configuration.antifraud, settings: configuration.processorSettings, clock: clock, logger: logger,
                metricsFactory: runtime.metricsFactory
            ) { relay.wake() }
            wake = { [processor, relay] in
                processor.wake()
                relay.wake()
            }
            let consumer = ConsumerRunner(
                subscription: PaymentCommandHandler.subscription, transport: transport, store: store, clock: clock,
                logger: logger, metricsFactory: runtime.metricsFactory,
                handler: PaymentCommandHandler(clock: clock, wake: wake).handle)
            let background: [any Service] = [relay, processor]
            services += background.map { StartsWhenReady($0, readiness: runtime.readiness) as any Service }
            services.append(SubscribesWhenReady(consumer, readiness: runtime.readiness))
        }
        let router = buildRouter(
            configuration: configuration, runtime: runtime, store: store, verifier: verifier, clock: clock, wake: wake)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await migrate(store, logger: logger)
            runtime.readiness.set(.migrations, true)
        }
    }

    /// Every table the service uses: its own, the outbox, the inbox and the idempotency keys.
    public static func migrate(_ store: any SQLStore, logger: Logger) async throws {
        try await Migrator.migrate(store, migrations, logger: logger)
        try await Outbox.migrate(store, logger: logger)
        try await Inbox.migrate(store, logger: logger)
        try await IdempotencyKeys.migrate(store, logger: logger)
    }
}
