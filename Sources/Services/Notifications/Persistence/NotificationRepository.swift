public import Foundation
import MalhaCore
import MalhaHTTP
public import MalhaStore
import SQLKit

/// The notifications database: recording, listing, claiming and settling notifications, and the
/// users' channel preferences. Static functions work inside a caller's transaction (the inbox's);
/// instance methods open their own.
public struct NotificationRepository: Sendable {
    public let store: any SQLStore

    public init(store: any SQLStore) {
        self.store = store
    }

    // MARK: Recording (inside the consumer's transaction)

    /// Records a pending notification, due at once. False when the event already has one for the
    /// channel (a redelivery): nothing is written.
    static func record(
        _ event: NotificationEvent, channel: NotificationChannel, recipient: String?, content: RenderedNotification,
        at now: Date, in db: any SQLDatabase
    ) async throws -> Bool {
        let ms = now.epochMilliseconds
        let rows = try await db.raw(
            """
            INSERT INTO notifications (id, user_id, event_id, event_type, template, order_id, channel, recipient, subject,
                title, body, status, attempts, next_attempt_at, created_at, updated_at)
            VALUES (\(bind: UUID.v7(at: now).lowercased), \(bind: event.customerID), \(bind: event.eventID),
                \(bind: event.eventType), \(bind: NotificationTemplates.name(event.kind, channel)), \(bind: event.orderID),
                \(bind: channel.rawValue), \(bind: recipient), \(bind: content.subject), \(bind: content.title),
                \(bind: content.body), \(bind: DeliveryStatus.pending.rawValue), 0, \(bind: ms), \(bind: ms), \(bind: ms))
            ON CONFLICT (event_id, channel) DO NOTHING RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    static func preferences(userID: String, in db: any SQLDatabase) async throws -> ChannelPreferences? {
        guard
            let row = try await db.raw(
                "SELECT preferences FROM notification_preferences WHERE user_id = \(bind: userID)"
            ).first()
        else { return nil }
        return try JSONCoding.decoder.decode(
            ChannelPreferences.self, from: Data(try row.decode(column: "preferences", as: String.self).utf8))
    }

    // MARK: Reading

    /// A user's notifications, newest first, `limit` at most, optionally of one channel, strictly
    /// older than the notification `after` (the previous page's last id).
    public func notifications(
        userID: String, channel: NotificationChannel? = nil, limit: Int, after: String? = nil
    ) async throws -> (items: [NotificationRecord], nextCursor: String?) {
        var sql: SQLQueryString = """
            SELECT \(unsafeRaw: NotificationRecord.columns) FROM notifications WHERE user_id = \(bind: userID)
            """
        if let channel { sql += " AND channel = \(bind: channel.rawValue)" }
        if let after { sql += " AND id < \(bind: after)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit + 1)"
        let rows = try await store.read { db in try await db.raw(sql).all() }
        var items = try rows.map(NotificationRecord.init(row:))
        guard items.count > limit else { return (items, nil) }
        items.removeLast(items.count - limit)
        return (items, items.last?.id)
    }

    public func notification(id: String) async throws -> NotificationRecord? {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: NotificationRecord.columns) FROM notifications WHERE id = \(bind: id)")
                .first().map(NotificationRecord.init(row:))
        }
    }

    /// The user's preferences, or the defaults when they never set any.
    public func preferences(userID: String) async throws -> ChannelPreferences {
        try await store.read { db in try await Self.preferences(userID: userID, in: db) } ?? .defaults
    }

    /// Replaces the user's preferences (future notifications only: recorded ones keep their recipient).
    public func setPreferences(_ preferences: ChannelPreferences, userID: String, at now: Date) async throws {
        let json = String(decoding: try JSONCoding.encoder.encode(preferences), as: UTF8.self)
        try await store.transaction { db in
            try await db.raw(
                """
                INSERT INTO notification_preferences (user_id, preferences, updated_at)
                VALUES (\(bind: userID), \(bind: json), \(bind: now.epochMilliseconds))
                ON CONFLICT (user_id) DO UPDATE SET preferences = excluded.preferences, updated_at = excluded.updated_at
                """
            ).run()
        }
    }

    // MARK: Delivery (the dispatcher)

    /// Claims up to `limit` due pending notifications for `lease`, counting an attempt on each.
    /// PostgreSQL skips rows another dispatcher is claiming; SQLite has one writer anyway.
    func claimDue(limit: Int, lease: Duration, token: String, now: Date) async throws -> [NotificationRecord] {
        let ms = now.epochMilliseconds
        let until = now.addingTimeInterval(lease.seconds).epochMilliseconds
        let lock = RowLock.forUpdateSkipLocked.clause(for: store.backend)
        let rows = try await store.transaction { db in
            try await db.raw(
                """
                UPDATE notifications SET claim_token = \(bind: token), claimed_until = \(bind: until),
                    attempts = attempts + 1, updated_at = \(bind: ms)
                WHERE id IN (
                    SELECT id FROM notifications
                    WHERE status = 'pending' AND next_attempt_at <= \(bind: ms)
                      AND (claimed_until IS NULL OR claimed_until <= \(bind: ms))
                    ORDER BY next_attempt_at, id LIMIT \(bind: max(1, limit)) \(unsafeRaw: lock))
                RETURNING \(unsafeRaw: NotificationRecord.columns)
                """
            ).all()
        }
        return try rows.map(NotificationRecord.init(row:)).sorted { $0.id < $1.id }
    }

    /// How a claimed notification ended this attempt.
    enum Settlement: Sendable, Hashable {
        case sent(providerMessageID: String)
        case retry(at: Date, error: String)
        case failed(error: String)
    }

    /// Records the outcome of an attempt, if the claim is still this one's (false otherwise: the
    /// lease lapsed and another dispatcher took the notification over).
    @discardableResult
    func settle(id: String, token: String, _ settlement: Settlement, now: Date) async throws -> Bool {
        let ms = now.epochMilliseconds
        var sql: SQLQueryString = "UPDATE notifications SET claim_token = NULL, claimed_until = NULL, updated_at = \(bind: ms), "
        switch settlement {
        case .sent(let messageID):
            sql += """
                status = 'sent', provider_message_id = \(bind: messageID), sent_at = \(bind: ms), next_attempt_at = NULL
                """
        case .retry(let next, let error):
            sql += "next_attempt_at = \(bind: next.epochMilliseconds), last_error = \(bind: error)"
        case .failed(let error):
            sql += "status = 'failed', next_attempt_at = NULL, last_error = \(bind: error)"
        }
        sql += " WHERE id = \(bind: id) AND claim_token = \(bind: token) RETURNING id"
        let rows = try await store.transaction { db in try await db.raw(sql).all() }
        return !rows.isEmpty
    }
}
