/// A notification on its way out: its id (the idempotency key for the provider), its channel and
/// its rendered text.
public struct OutgoingNotification: Sendable, Hashable {
    public var id: String
    public var channel: NotificationChannel
    public var content: RenderedNotification

    public init(id: String, channel: NotificationChannel, content: RenderedNotification) {
        self.id = id
        self.channel = channel
        self.content = content
    }
}

/// Who a notification goes to.
public struct NotificationRecipient: Sendable, Hashable {
    public var userID: String
    /// The e-mail address, phone number or device token, as the channel needs; nil when the user
    /// gave none.
    public var address: String?

    public init(userID: String, address: String?) {
        self.userID = userID
        self.address = address
    }
}

/// Sends notifications of one or more channels (an e-mail API, an SMS gateway, a push service).
public protocol NotificationProvider: Sendable {
    /// Sends `notification` to `recipient` and returns the provider's id for the message.
    ///
    /// Throws `DeliveryFailure`: `.transient` is retried with backoff, `.permanent` fails the
    /// notification at once. Any other error counts as transient. Implementations must tolerate a
    /// repeated id (a retry after a lost answer): it is the same notification.
    func send(_ notification: OutgoingNotification, to recipient: NotificationRecipient) async throws -> String
}

/// Why a send failed, and whether trying again can help. `code` is stable and short
/// (`no_address`, `http_503`, `timeout`, …); it starts the stored `last_error`.
public struct DeliveryFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var detail: String
    public var isPermanent: Bool

    public static func transient(_ code: String, _ detail: String) -> DeliveryFailure {
        DeliveryFailure(code: code, detail: detail, isPermanent: false)
    }

    public static func permanent(_ code: String, _ detail: String) -> DeliveryFailure {
        DeliveryFailure(code: code, detail: detail, isPermanent: true)
    }

    public var description: String { "\(code): \(detail)" }
}

/// "Sends" by accepting: what would be sent is the recorded notification itself, which its user
/// reads at `GET /v1/notifications`. Needs no address. The provider message id is `local-<id>`.
public struct LocalNotificationProvider: NotificationProvider {
    public init() {}

    public func send(_ notification: OutgoingNotification, to recipient: NotificationRecipient) async throws -> String {
        "local-\(notification.id)"
    }
}
