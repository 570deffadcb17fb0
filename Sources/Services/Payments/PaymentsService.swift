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
        provider: ProviderChoice = .simulated(SimulatedProvider.Settings()), antifraud: AntifraudPolicy = AntifraudPolicy(),
        processorInterval: Duration = .milliseconds(500), maxAttempts: Int = 5, retryBase: Duration = .milliseconds(200),
        retryCap: Duration = .seconds(30), providerTimeout: Duration = .seconds(5), claimLease: Duration = .seconds(30),
        breaker: CircuitBreakerPolicy = CircuitBreakerPolicy(consecutiveFailures: 5, openDuration: .seconds(15)),
        maxConcurrentCalls: Int = 16, maxWaitingCalls: Int = 64, webhookTolerance: Duration = .seconds(300),
        pendingRecheck: Duration = .seconds(30)
    ) {
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
public enum PaymentsService: ServiceDeclaration {
    public static let name = "payments"
    public static let portOffset = 6
    // It signs its events: captured and refunded move money, and are refused unsigned (`SignedMessageContract`).
    public static let platformTables: PlatformTables = [.outbox, .inbox, .idempotencyKeys, .eventSigningKeys]
    public static let publishes = [
        PaymentAuthorized.type, PaymentDeclined.type, PaymentCaptured.type, PaymentVoided.type, PaymentRefunded.type,
    ]

    public static let routeRules: [RouteRule] = [
        // Authenticated by the provider's signature, not by a token.
        .public("/v1/payments/webhooks", methods: ["POST"]),
        .authenticated("/v1/payments", methods: ["GET"]),
        // The audit trail is the admins' (it names antifraud's reasons).
        .roles([Role.admin], "/v1/payments/*/events", methods: ["GET"]),
        .roles([Role.admin], "/v1/payments", methods: ["POST"]),
    ]

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Payments (TechStore)", version: MalhaVersion.current,
            operations: [
                .get(
                    "/v1/payments", "The payments of an order; the caller's own unless admin", access: .authenticated,
                    parameters: [.query("order_id", .string(length: 1...64), required: true)],
                    responses: [
                        .page(of: Payment.self, "Every visible payment of the order (one page: next_cursor is null)"),
                        .problem(422, "order_id missing or longer than 64 characters"),
                    ]),
                .get(
                    "/v1/payments/{id}", "A payment with its refunds (its customer, without antifraud's verdict; or an admin)",
                    access: .authenticated,
                    parameters: [paymentID],
                    responses: [.ok(Payment.self, "The payment"), .problem(404, "No such payment (or not yours)")]),
                .get(
                    "/v1/payments/{id}/events", "The payment's audit trail, oldest first", access: .admin,
                    parameters: [paymentID],
                    responses: [
                        .page(of: PaymentAuditEvent.self, "Every event (one page: next_cursor is null)"),
                        .problem(403, "Not an admin"), .problem(404, "No such payment"),
                    ]),
                .post(
                    "/v1/payments/{id}/review", "Decide a payment antifraud held for review", access: .admin,
                    parameters: [paymentID], body: .json(ReviewRequest.self),
                    responses: [
                        .ok(Payment.self, "The payment"), .problem(404, "No such payment"),
                        .problem(409, "not_in_review"), .problem(422, "decision is not approve or deny"),
                    ]),
                .post(
                    "/v1/payments/{id}/refunds", "Refund part or all of a captured payment",
                    description: "Needs an admin's token issued after a second factor (amr otp).", access: .admin,
                    parameters: [paymentID], idempotencyKey: .required, body: .json(RefundRequest.self),
                    responses: [
                        .forbiddenWithoutSecondFactor,
                        .accepted(
                            Refund.self, "The refund, sent to the provider (or the first answer to this key)",
                            headers: [replayLocation, .idempotentReplayed]),
                        .problem(400, "idempotency_key_required, invalid_idempotency_key or malformed JSON"),
                        .problem(404, "No such payment"),
                        .problem(409, "payment_not_captured, or the key's first request is still running"),
                        .problem(
                            422, "Invalid amount or reason, refund_exceeds_captured, or idempotency_key_reused with another body"),
                    ]),
                .post(
                    "/v1/payments/webhooks/provider", "The provider's signed notification",
                    description: "Authenticated by its Malha-Signature header instead of a token.",
                    parameters: [
                        .header(
                            "Malha-Signature", .string(minLength: 1), required: true,
                            description: "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the shared secret>")
                    ],
                    body: .json(WebhookNotification.self),
                    responses: [
                        .ok(WebhookAnswer.self, "Processed (or a duplicate)"),
                        .problem(400, "Malformed JSON"),
                        .problem(401, "invalid_signature: missing, stale or wrong"),
                        .problem(404, "unknown_reference, or this deployment's provider sends no webhooks"),
                        .problem(413, "Body over 64 KiB"),
                        .problem(422, "Invalid body, or status is not approved or declined"),
                    ]),
            ])
    }

    /// `{id}`: anything but a UUID names no payment (404).
    private static let paymentID = OpenAPIDocument.Parameter.path(
        "id", UUID.self, description: "The payment's id (anything else is 404)")
    /// A replayed answer carries no `Location` (only the stored body), so it is not required.
    private static let replayLocation = OpenAPIDocument.ResponseHeader(
        "Location", .string(format: .uriReference), description: "The payment refunded (absent on a replay)")

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
        let router = makeRouter(runtime: runtime, verifier: verifier)
        var webhooks: PaymentsRoutes.Webhooks?
        if case .http(_, let secret) = configuration.provider {
            webhooks = PaymentsRoutes.Webhooks(secret: secret, tolerance: configuration.webhookTolerance)
        }
        PaymentsRoutes(
            store: store, clock: clock, webhooks: webhooks, pendingRecheck: configuration.pendingRecheck, wake: wake
        ).register(on: router)
        return router
    }

    /// Which provider `malha.payments.provider` names.
    public enum ProviderKind: String, CaseIterable, Sendable {
        case simulated, http
    }

    public static func configuration(from reader: ServiceConfigReader) throws -> PaymentsConfiguration {
        var configuration = PaymentsConfiguration()
        // malha.payments.antifraud.*: velocity per customer in a 10-minute window (review above 50,
        // deny above 200 payments), the largest amount accepted and the one that needs a review.
        configuration.antifraud.velocityReviewAbove = try reader.int(
            "antifraud.velocity-review-above", default: 50, in: 0...1_000_000)
        configuration.antifraud.velocityDenyAbove = try reader.int(
            "antifraud.velocity-deny-above", default: 200, in: 0...1_000_000)
        configuration.antifraud.maxAmountCents = Int64(
            try reader.int("antifraud.max-amount-cents", default: 10_000_000, in: 1...Int(Int64.max)))
        configuration.antifraud.reviewAboveCents = Int64(
            try reader.int("antifraud.review-above-cents", default: 2_000_000, in: 0...Int(Int64.max)))
        // malha.payments.provider: simulated (default) or http, which needs provider-url and webhook-secret.
        switch try reader.choice("provider", default: ProviderKind.simulated) {
        case .http:
            guard let url = reader.string("provider-url"), let secret = reader.string("webhook-secret", isSecret: true) else {
                throw InvalidConfiguration(
                    key: reader.fullName("provider"), "http needs malha.payments.provider-url and malha.payments.webhook-secret")
            }
            configuration.provider = .http(baseURL: url, webhookSecret: secret)
        case .simulated:
            // malha.payments.simulated.latency-ms (default 0), .failure-rate (0…1, default 0),
            // .decline-above-cents (default none): how the simulated provider behaves.
            configuration.provider = .simulated(
                .init(
                    latency: try reader.milliseconds("simulated.latency-ms", default: .zero),
                    failureRate: try reader.double("simulated.failure-rate", default: 0, in: 0...1),
                    declineAboveCents: try reader.int("simulated.decline-above-cents", in: 0...Int(Int64.max)).map(Int64.init)))
        }
        return configuration
    }

    /// Its routes and, with a transport, the saga's payment commands (a consumer) and the
    /// processor that calls the provider after each commit. Without one, payments can be read
    /// and reviewed, and nothing is sent.
    public static func build(_ context: ServiceContext<PaymentsConfiguration>) async throws -> ServiceParts {
        let configuration = context.configuration
        // The processor calls the provider for what the saga's commands asked; without a bus
        // there are no commands, so it does not run and a commit only wakes the (absent) relay.
        var wake = context.wakeRelay
        var background: [any Service] = []
        if context.transport != nil {
            let processor = PaymentProcessor(
                store: context.store,
                provider: makeProvider(
                    configuration: configuration, store: context.store, httpClient: context.httpClient,
                    clock: context.clock, runtime: context.runtime),
                antifraud: configuration.antifraud, settings: configuration.processorSettings, clock: context.clock,
                logger: context.logger, metricsFactory: context.runtime.metricsFactory, wakeRelay: context.wakeRelay)
            wake = { [wakeRelay = context.wakeRelay] in
                processor.wake()
                wakeRelay()
            }
            background = [processor]
        }
        return ServiceParts(
            router: buildRouter(
                configuration: configuration, runtime: context.runtime, store: context.store, verifier: context.verifier,
                clock: context.clock, wake: wake),
            consumers: [
                ServiceConsumer(
                    PaymentCommandHandler.subscription, handler: PaymentCommandHandler(clock: context.clock, wake: wake).handle)
            ],
            background: background)
    }
}
