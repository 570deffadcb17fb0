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

/// How a notifications instance runs.
public struct NotificationsConfiguration: Sendable {
    /// Where notifications go.
    public enum ProviderChoice: Sendable, Hashable {
        /// Nowhere: each notification is marked sent and read by its user at `GET /v1/notifications`.
        case local
        /// `POST` to the URL configured for the channel (see `WebhookNotificationProvider` for the
        /// JSON, the `Idempotency-Key` and the HMAC-SHA256 signature made with `secret`; no
        /// signature without one). A channel without a URL stays local.
        case webhook(urls: [NotificationChannel: String], secret: String?)
    }

    public var host: String
    public var port: Int
    /// The token issuer and audience the service accepts (identity's).
    public var issuer: String
    public var audience: String
    public var provider: ProviderChoice
    /// A directory of template overrides, files named `<event>.<channel>.mustache` (e.g.
    /// `order-confirmed.email.mustache`; format in `NotificationTemplates`); nil: built-in only.
    public var templatesDirectory: String?
    /// Delivery retries: backoff with full jitter between attempts, `failed` after `maxAttempts`.
    public var retry: RetryPolicy
    /// How often the dispatcher looks for due notifications when nothing wakes it.
    public var dispatchInterval: Duration
    /// The most one webhook call may take.
    public var sendTimeout: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 0, issuer: String = "malha-identity", audience: String = "malha",
        provider: ProviderChoice = .local, templatesDirectory: String? = nil,
        retry: RetryPolicy = RetryPolicy(base: .seconds(1), cap: .seconds(300), maxAttempts: 8),
        dispatchInterval: Duration = .seconds(1), sendTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.issuer = issuer
        self.audience = audience
        self.provider = provider
        self.templatesDirectory = templatesDirectory
        self.retry = retry
        self.dispatchInterval = dispatchInterval
        self.sendTimeout = sendTimeout
    }
}

/// The TechStore notifications service: reacts to order and payment events and tells customers,
/// by e-mail, SMS and push, as each customer prefers.
public enum NotificationsService {
    public static let name = "notifications"

    public static let routeRules: [RouteRule] = [
        // Every route is the caller's own; the service itself lets administrators read others'.
        .authenticated("/v1/notifications")
    ]

    public static let openAPI = OpenAPIDocument(
        title: "Malha Notifications (TechStore)",
        version: MalhaVersion.current,
        operations: [
            .init(
                "GET", "/v1/notifications",
                "The caller's notifications with their delivery status, newest first (channel, limit, cursor; "
                    + "user_id for administrators)",
                access: .authenticated,
                responses: [
                    200: "{items, next_cursor}", 400: "Invalid cursor", 401: "No token",
                    403: "user_id of someone else without the admin role", 422: "Invalid parameter",
                ]),
            .init(
                "GET", "/v1/notifications/{id}", "One notification (the caller's own; any for administrators)",
                access: .authenticated, responses: [200: "The notification", 401: "No token", 404: "No such notification"]),
            .init(
                "GET", "/v1/notifications/preferences",
                "The caller's channel preferences (defaults: e-mail and push on, SMS off)", access: .authenticated,
                responses: [200: "{email, sms, push}", 401: "No token"]),
            .init(
                "PUT", "/v1/notifications/preferences",
                "Replace the caller's channel preferences (an omitted channel returns to its default)",
                access: .authenticated, request: "NotificationPreferences",
                responses: [200: "The stored preferences", 400: "Malformed JSON", 401: "No token", 422: "Invalid"]),
        ])

    public static var migrations: [Migration] { NotificationsMigrations.all }

    /// Router with every route (used by in-process tests and by `buildApplication`).
    public static func buildRouter(
        runtime: ServiceRuntime, repository: NotificationRepository, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock()
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        router.add(middleware: BearerAuthenticationMiddleware<ServiceRequestContext>(verifier: verifier))
        NotificationsRoutes(repository: repository, clock: clock).register(on: router)
        return router
    }

    /// The application. The dispatcher always runs (once migrated); with a `transport`, the
    /// service also consumes `notifications.events`, whose handler records notifications and
    /// wakes the dispatcher after each commit. Templates load here: a template file that does not
    /// parse fails the build of the application, before anything starts. `httpClient` serves the
    /// webhook provider (the caller owns and shuts it down).
    public static func buildApplication(
        configuration: NotificationsConfiguration,
        runtime: ServiceRuntime,
        store: any SQLStore,
        verifier: AccessTokenVerifier,
        transport: (any MessageTransport)?,
        httpClient: HTTPClient,
        clock: any WallClock = SystemWallClock(),
        services: [any Service] = []
    ) async throws -> some ApplicationProtocol {
        let logger = runtime.logger
        let templates = try loadTemplates(configuration.templatesDirectory, logger: runtime.logger)
        let repository = NotificationRepository(store: store)
        let router = buildRouter(runtime: runtime, repository: repository, verifier: verifier, clock: clock)
        runtime.readiness.require(.migrations)
        let dispatcher = NotificationDispatcher(
            store: store,
            providers: providers(
                configuration.provider, httpClient: httpClient, timeout: configuration.sendTimeout, clock: clock),
            retry: configuration.retry, pollInterval: configuration.dispatchInterval, lease: configuration.sendTimeout * 6,
            clock: clock, logger: logger, metricsFactory: runtime.metricsFactory)
        var services = services + [StartsWhenReady(dispatcher, readiness: runtime.readiness)]
        if let transport {
            let handler = NotificationEventHandler(
                templates: templates, clock: clock, logger: logger, metricsFactory: runtime.metricsFactory
            ) { dispatcher.wake() }
            let consumer = ConsumerRunner(
                subscription: NotificationEventHandler.subscription, transport: transport, store: store, clock: clock,
                logger: logger, metricsFactory: runtime.metricsFactory, handler: handler.handle)
            services.append(SubscribesWhenReady(consumer, readiness: runtime.readiness))
        }
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await Migrator.migrate(store, migrations, logger: logger)
            // Events arrive through the inbox. Nothing is published, so there is no outbox.
            try await Inbox.migrate(store, logger: logger)
            runtime.readiness.set(.migrations, true)
        }
    }

    /// The built-in templates, with the directory's overrides when one is configured.
    public static func loadTemplates(_ directory: String?, logger: Logger) throws -> NotificationTemplates {
        guard let directory else { return .builtIn() }
        let (templates, ignored) = try NotificationTemplates.loading(overridesIn: directory)
        if !ignored.isEmpty {
            logger.warning(
                "template files with names that are no <event>.<channel> were ignored",
                metadata: ["directory": "\(directory)", "files": "\(ignored.joined(separator: ", "))"])
        }
        return templates
    }

    /// One provider per channel for `choice`.
    public static func providers(
        _ choice: NotificationsConfiguration.ProviderChoice, httpClient: HTTPClient, timeout: Duration = .seconds(10),
        clock: any WallClock = SystemWallClock()
    ) -> [NotificationChannel: any NotificationProvider] {
        var providers: [NotificationChannel: any NotificationProvider] = [:]
        for channel in NotificationChannel.allCases {
            if case .webhook(let urls, let secret) = choice, let url = urls[channel] {
                providers[channel] = WebhookNotificationProvider(
                    url: url, secret: secret, httpClient: httpClient, timeout: timeout, clock: clock)
            } else {
                providers[channel] = LocalNotificationProvider()
            }
        }
        return providers
    }
}
