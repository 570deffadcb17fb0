public import AsyncHTTPClient
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
        provider: ProviderChoice = .local, templatesDirectory: String? = nil,
        retry: RetryPolicy = RetryPolicy(base: .seconds(1), cap: .seconds(300), maxAttempts: 8),
        dispatchInterval: Duration = .seconds(1), sendTimeout: Duration = .seconds(10)
    ) {
        self.provider = provider
        self.templatesDirectory = templatesDirectory
        self.retry = retry
        self.dispatchInterval = dispatchInterval
        self.sendTimeout = sendTimeout
    }
}

/// The TechStore notifications service: reacts to order and payment events and tells customers,
/// by e-mail, SMS and push, as each customer prefers.
public enum NotificationsService: ServiceDeclaration {
    public static let name = "notifications"
    public static let portOffset = 7
    // Events arrive through the inbox. Nothing is published, so there is no outbox.
    public static let platformTables: PlatformTables = [.inbox]

    public static let routeRules: [RouteRule] = [
        // Every route is the caller's own; the service itself lets administrators read others'.
        .authenticated("/v1/notifications")
    ]

    public static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: name, title: "Malha Notifications (TechStore)", version: MalhaVersion.current,
            operations: [
                .get(
                    "/v1/notifications", "The caller's notifications with their delivery status, newest first",
                    access: .authenticated,
                    parameters: [
                        .query("channel", NotificationChannel.self),
                        .query("limit", .integer(1...Int64(NotificationListQuery.maxLimit)).defaulting(20)),
                        .query("cursor", .string(format: .uuid), description: "The previous page's next_cursor"),
                        .query(
                            "user_id", .string(length: 1...NotificationEvent.maxIDLength),
                            description: "Administrators: another user's notifications"),
                    ],
                    responses: [
                        .page(of: NotificationRecord.self), .problem(400, "invalid_cursor"),
                        .problem(403, "user_id of someone else without the admin role"),
                        .problem(422, "Invalid channel, limit or user_id"),
                    ]),
                .get(
                    "/v1/notifications/{id}", "One notification (the caller's own; any for administrators)",
                    access: .authenticated,
                    parameters: [.path("id", UUID.self, description: "The notification's id (anything else is 404)")],
                    responses: [.ok(NotificationRecord.self, "The notification"), .problem(404, "No such notification")]),
                .get(
                    "/v1/notifications/preferences", "The caller's channel preferences (defaults: e-mail and push on, SMS off)",
                    access: .authenticated, responses: [.ok(ChannelPreferences.self, "The preferences")]),
                .put(
                    "/v1/notifications/preferences",
                    "Replace the caller's channel preferences (an omitted channel returns to its default)",
                    access: .authenticated, body: .json(ChannelPreferences.self),
                    responses: [
                        .ok(ChannelPreferences.self, "The stored preferences"),
                        .problem(422, "Invalid address, phone or device token"),
                    ]),
            ])
    }

    public static var migrations: [Migration] { NotificationsMigrations.all }

    /// Router with every route (used by in-process tests and by `buildApplication`).
    public static func buildRouter(
        runtime: ServiceRuntime, repository: NotificationRepository, verifier: AccessTokenVerifier,
        clock: any WallClock = SystemWallClock()
    ) -> Router<ServiceRequestContext> {
        let router = makeRouter(runtime: runtime, verifier: verifier)
        NotificationsRoutes(repository: repository, clock: clock).register(on: router)
        return router
    }

    public static func configuration(from reader: ServiceConfigReader) throws -> NotificationsConfiguration {
        var configuration = NotificationsConfiguration(
            // malha.notifications.templates-dir: template overrides (`<event>.<channel>.mustache`).
            templatesDirectory: reader.string("templates-dir"))
        // malha.notifications.webhook-url.email|sms|push: where the webhook provider posts each
        // channel (a channel without one stays local); malha.notifications.webhook-secret signs them.
        var urls: [NotificationChannel: String] = [:]
        for channel in NotificationChannel.allCases {
            urls[channel] = reader.string("webhook-url.\(channel.rawValue)")
        }
        if !urls.isEmpty {
            configuration.provider = .webhook(urls: urls, secret: reader.string("webhook-secret", isSecret: true))
        }
        return configuration
    }

    /// Its routes, the dispatcher that delivers what is due (always: notifications already
    /// recorded keep going out), and with a transport the order events that create them.
    public static func build(_ context: ServiceContext<NotificationsConfiguration>) async throws -> ServiceParts {
        let configuration = context.configuration
        let templates = try loadTemplates(configuration.templatesDirectory, logger: context.logger)
        let repository = NotificationRepository(store: context.store)
        let dispatcher = NotificationDispatcher(
            store: context.store,
            providers: providers(
                configuration.provider, httpClient: context.httpClient, timeout: configuration.sendTimeout,
                clock: context.clock),
            retry: configuration.retry, pollInterval: configuration.dispatchInterval, lease: configuration.sendTimeout * 6,
            clock: context.clock, logger: context.logger, metricsFactory: context.runtime.metricsFactory)
        let handler = NotificationEventHandler(
            templates: templates, clock: context.clock, logger: context.logger,
            metricsFactory: context.runtime.metricsFactory
        ) { dispatcher.wake() }
        return ServiceParts(
            router: buildRouter(
                runtime: context.runtime, repository: repository, verifier: context.verifier, clock: context.clock),
            consumers: [ServiceConsumer(NotificationEventHandler.subscription, handler: handler.handle)],
            background: [dispatcher])
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
