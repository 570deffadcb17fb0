import Foundation
public import Logging
public import MalhaCore
public import MalhaMessaging
import MalhaStore
public import Metrics
public import ServiceLifecycle

/// Delivers recorded notifications, outside any transaction: claims due `pending` rows under a
/// lease, sends each through its channel's provider, and records the outcome — `sent` with the
/// provider's message id; or, after a transient failure, another try at a backoff with full jitter;
/// or `failed` after a permanent failure or `retry.maxAttempts` attempts.
///
/// Woken right after the consumer commits new notifications, and polls every `pollInterval` (for
/// retries falling due, and wake-ups from other instances). A claim whose lease lapses (the process
/// died mid-send) is claimed again, counted as an attempt; the provider deduplicates by id.
public final class NotificationDispatcher: Service {
    let repository: NotificationRepository
    let providers: [NotificationChannel: any NotificationProvider]
    let retry: RetryPolicy
    let pollInterval: Duration
    let batchSize: Int
    let lease: Duration
    let clock: any WallClock
    let logger: Logger
    let jitter: @Sendable (Duration) -> Duration
    let counters: NotificationCounters
    let wakeUps = WakeUpSignal()

    /// - Parameters:
    ///   - providers: one per channel; a channel without one fails its notifications permanently.
    ///   - lease: longer than the slowest send (the webhook timeout).
    ///   - jitter: picks the wait before a retry from its ceiling, `base · 2ⁿ` capped; full jitter
    ///     (uniform in `0...ceiling`) unless a test fixes it.
    public init(
        store: any SQLStore, providers: [NotificationChannel: any NotificationProvider], retry: RetryPolicy,
        pollInterval: Duration = .seconds(1), batchSize: Int = 32, lease: Duration = .seconds(60),
        clock: any WallClock = SystemWallClock(), logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory,
        jitter: @escaping @Sendable (Duration) -> Duration = Backoff.fullJitter
    ) {
        self.repository = NotificationRepository(store: store)
        self.providers = providers
        self.retry = retry
        self.pollInterval = pollInterval
        self.batchSize = max(1, batchSize)
        self.lease = lease
        self.clock = clock
        self.logger = logger
        self.jitter = jitter
        self.counters = NotificationCounters(factory: metricsFactory)
    }

    /// Tells the dispatcher that notifications were just recorded.
    public func wake() { wakeUps.signal() }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let claimed = try await dispatchDue()
                failures = 0
                if claimed == batchSize { continue }  // more may be due
                await cancelWhenGracefulShutdown { await self.wakeUps.wait(timeout: self.pollInterval) }
            } catch {
                if failures == 0 || failures % 20 == 0 {
                    logger.warning("notification dispatch failed; will retry", metadata: ["error": "\(error)"])
                }
                let delay = retry.backoff.delay(attempt: failures)
                failures += 1
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    /// One pass: claims up to `batchSize` due notifications, sends them concurrently and records
    /// each outcome. Returns how many it claimed.
    @discardableResult
    public func dispatchDue() async throws -> Int {
        let token = UUID().uuidString.lowercased()
        let claimed = try await repository.claimDue(limit: batchSize, lease: lease, token: token, now: clock.now())
        guard !claimed.isEmpty else { return 0 }
        await withTaskGroup(of: Void.self) { group in
            for notification in claimed {
                group.addTask { await self.deliver(notification, token: token) }
            }
        }
        return claimed.count
    }

    func deliver(_ notification: NotificationRecord, token: String) async {
        let settlement = await attempt(notification)
        do {
            let settled = try await repository.settle(id: notification.id, token: token, settlement, now: clock.now())
            guard settled else { return }  // the lease lapsed; the new holder reports
        } catch {
            // The claim lapses and the notification is tried again (the provider deduplicates by id).
            logger.warning(
                "could not record a delivery outcome", metadata: ["notification_id": "\(notification.id)", "error": "\(error)"])
            return
        }
        let metadata: Logger.Metadata = [
            "notification_id": "\(notification.id)", "channel": "\(notification.channel.rawValue)",
            "attempt": "\(notification.attempts)",
        ]
        switch settlement {
        case .sent:
            counters.sent(notification.channel)
        case .retry(let at, let error):
            logger.info(
                "notification send failed; will retry",
                metadata: metadata.merging(["error": "\(error)", "next_attempt_at": "\(at)"]) { $1 })
        case .failed(let error):
            counters.failed(notification.channel)
            logger.warning("notification failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// Sends once and says how the attempt ends.
    func attempt(_ notification: NotificationRecord) async -> NotificationRepository.Settlement {
        if notification.attempts > retry.maxAttempts {
            return .failed(error: "lease_lapsed: attempt \(notification.attempts) exceeds \(retry.maxAttempts)")
        }
        guard let provider = providers[notification.channel] else {
            return .failed(error: "no_provider: no provider is configured for \(notification.channel.rawValue)")
        }
        let failure: DeliveryFailure
        do {
            let messageID = try await provider.send(
                OutgoingNotification(id: notification.id, channel: notification.channel, content: notification.content),
                to: NotificationRecipient(userID: notification.userID, address: notification.recipient))
            return .sent(providerMessageID: messageID)
        } catch let error as DeliveryFailure {
            failure = error
        } catch {
            failure = .transient("error", "\(error)")
        }
        if failure.isPermanent || notification.attempts >= retry.maxAttempts {
            return .failed(error: failure.description)
        }
        let wait = jitter(retry.backoff.ceiling(attempt: notification.attempts - 1))
        return .retry(at: clock.now().addingTimeInterval(wait.seconds), error: failure.description)
    }
}

/// `notifications_recorded_total`, `notifications_sent_total` and `notifications_failed_total`, by channel.
struct NotificationCounters: Sendable {
    let factory: any MetricsFactory

    func recorded(_ channel: NotificationChannel, by count: Int = 1) {
        counter("notifications_recorded_total", channel).increment(by: count)
    }

    func sent(_ channel: NotificationChannel) { counter("notifications_sent_total", channel).increment() }

    func failed(_ channel: NotificationChannel) { counter("notifications_failed_total", channel).increment() }

    private func counter(_ label: String, _ channel: NotificationChannel) -> Counter {
        Counter(label: label, dimensions: [("channel", channel.rawValue)], factory: factory)
    }
}
