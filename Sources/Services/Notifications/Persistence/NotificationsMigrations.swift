import MalhaStore

/// The notifications schema. Portable SQL: TEXT ids (UUIDv7, so ids sort by creation), BIGINT
/// epoch-ms timestamps, preferences as JSON in TEXT.
enum NotificationsMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "notifications") { _ in
            [
                // One row per (event, channel): the unique pair is what makes a redelivered event
                // harmless even past the inbox. `recipient` is copied from the preferences when the
                // row is recorded. While `pending`, `next_attempt_at` says when it is due; a
                // dispatcher holds it with `claim_token` until `claimed_until`.
                """
                CREATE TABLE notifications (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    template TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    recipient TEXT,
                    subject TEXT,
                    title TEXT,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts BIGINT NOT NULL,
                    last_error TEXT,
                    provider_message_id TEXT,
                    next_attempt_at BIGINT,
                    claim_token TEXT,
                    claimed_until BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    sent_at BIGINT,
                    UNIQUE (event_id, channel))
                """,
                "CREATE INDEX notifications_by_user ON notifications (user_id, id)",
                "CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending'",
                """
                CREATE TABLE notification_preferences (
                    user_id TEXT PRIMARY KEY,
                    preferences TEXT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """,
            ]
        }
    ]
}
