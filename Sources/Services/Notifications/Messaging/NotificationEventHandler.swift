import Foundation
public import Logging
public import MalhaCore
public import MalhaMessaging
public import Metrics

/// Turns order and payment events into notifications, inside the inbox transaction: reads the
/// customer's preferences, renders the event for each enabled channel and records one `pending`
/// notification per channel. It never calls a provider; the dispatcher sends once this commits.
///
/// An event with no template for a channel skips that channel (logged); a template that renders
/// empty, or an event that does not decode, is permanent: the message goes to the dead letters.
public struct NotificationEventHandler: Sendable {
    public static let subscription = Subscription(
        name: "notifications.events", types: NotificationEvent.handledTypes,
        retry: RetryPolicy(base: .milliseconds(200), cap: .seconds(30), maxAttempts: 8), concurrency: 8)

    let templates: NotificationTemplates
    let clock: any WallClock
    let logger: Logger
    let counters: NotificationCounters
    /// Wakes the dispatcher once notifications are committed.
    let wakeDispatcher: @Sendable () -> Void

    public init(
        templates: NotificationTemplates, clock: any WallClock = SystemWallClock(), logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory, wakeDispatcher: @escaping @Sendable () -> Void
    ) {
        self.templates = templates
        self.clock = clock
        self.logger = logger
        self.counters = NotificationCounters(factory: metricsFactory)
        self.wakeDispatcher = wakeDispatcher
    }

    public func handle(_ envelope: Envelope, _ context: HandlerContext) async throws {
        let event = try NotificationEvent(envelope: envelope)
        let db = context.database
        let preferences = try await NotificationRepository.preferences(userID: event.customerID, in: db) ?? .defaults
        let now = clock.now()
        var recorded: [NotificationChannel] = []
        for channel in preferences.enabledChannels {
            guard let content = try templates.render(event, for: channel) else {
                logger.warning(
                    "no template for the channel; skipped",
                    metadata: ["template": "\(NotificationTemplates.name(event.kind, channel))", "message_id": "\(envelope.id)"])
                continue
            }
            if try await NotificationRepository.record(
                event, channel: channel, recipient: preferences.address(for: channel), content: content, at: now, in: db)
            {
                recorded.append(channel)
            }
        }
        guard !recorded.isEmpty else { return }
        let (counters, wake, channels) = (counters, wakeDispatcher, recorded)
        context.afterCommit {
            for channel in channels { counters.recorded(channel) }
            wake()
        }
    }
}
