public import Foundation
import MalhaCore
import SQLKit

/// One notification to one channel: what would be (or was) sent, to whom, and how its delivery went.
public struct NotificationRecord: Sendable, Hashable, Codable {
    /// UUIDv7: ids sort by creation, which is the list order (newest first).
    public var id: String
    public var userID: String
    public var eventID: String
    public var eventType: String
    /// `<event>.<channel>`, the template it was rendered from.
    public var template: String
    public var orderID: String
    public var channel: NotificationChannel
    /// The address, phone or device token at the time it was recorded; nil when the user gave none.
    public var recipient: String?
    public var subject: String?
    public var title: String?
    public var body: String
    public var status: DeliveryStatus
    /// Send attempts started (a claim that lapsed counts too).
    public var attempts: Int
    public var lastError: String?
    public var providerMessageID: String?
    /// While pending: when the next attempt is due.
    public var nextAttemptAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var sentAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, template, channel, recipient, subject, title, body, status, attempts
        case userID = "user_id"
        case eventID = "event_id"
        case eventType = "event_type"
        case orderID = "order_id"
        case lastError = "last_error"
        case providerMessageID = "provider_message_id"
        case nextAttemptAt = "next_attempt_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case sentAt = "sent_at"
    }

    /// The columns `init(row:)` reads.
    static let columns = """
        id, user_id, event_id, event_type, template, order_id, channel, recipient, subject, title, body, status, \
        attempts, last_error, provider_message_id, next_attempt_at, created_at, updated_at, sent_at
        """

    init(row: any SQLRow) throws {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: Int64?.self).map(Date.init(epochMilliseconds:))
        }
        let channel = try row.decode(column: "channel", as: String.self)
        let status = try row.decode(column: "status", as: String.self)
        guard let parsedChannel = NotificationChannel(rawValue: channel), let parsedStatus = DeliveryStatus(rawValue: status)
        else { throw CorruptRow(detail: "channel \(channel), status \(status)") }
        id = try row.decode(column: "id", as: String.self)
        userID = try row.decode(column: "user_id", as: String.self)
        eventID = try row.decode(column: "event_id", as: String.self)
        eventType = try row.decode(column: "event_type", as: String.self)
        template = try row.decode(column: "template", as: String.self)
        orderID = try row.decode(column: "order_id", as: String.self)
        self.channel = parsedChannel
        recipient = try row.decode(column: "recipient", as: String?.self)
        subject = try row.decode(column: "subject", as: String?.self)
        title = try row.decode(column: "title", as: String?.self)
        body = try row.decode(column: "body", as: String.self)
        self.status = parsedStatus
        attempts = try row.decode(column: "attempts", as: Int.self)
        lastError = try row.decode(column: "last_error", as: String?.self)
        providerMessageID = try row.decode(column: "provider_message_id", as: String?.self)
        nextAttemptAt = try date("next_attempt_at")
        createdAt = try date("created_at") ?? Date(epochMilliseconds: 0)
        updatedAt = try date("updated_at") ?? createdAt
        sentAt = try date("sent_at")
    }

    /// The rendered text, as a provider sends it.
    public var content: RenderedNotification {
        RenderedNotification(subject: subject, title: title, body: body)
    }

    /// A stored value this code never writes (a hand edit, a newer version's row).
    struct CorruptRow: Error, CustomStringConvertible {
        var detail: String
        var description: String { "a notifications row holds values this version does not know: \(detail)" }
    }
}
