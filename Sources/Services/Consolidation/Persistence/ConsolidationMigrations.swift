import MalhaStore

/// The consolidation's schema: a read model rebuilt from ledger events, never written by a user.
/// Integer cents, business dates as "YYYY-MM-DD" TEXT (sorts as dates do), epoch-ms times.
enum ConsolidationMigrations {
    static let all: [Migration] = [
        Migration(
            version: 1, name: "daily balances",
            [
                // One row per account seen (opened, or named by an entry that came first).
                // `complete_through` is the highest sequence n such that entries 1…n are all applied;
                // `pending` counts applied entries above it (arrived out of order). `owner_id` is
                // null until the account-opened event arrives (then only finance and admins see it).
                """
                CREATE TABLE consolidation_accounts (
                    account_id TEXT PRIMARY KEY,
                    owner_id TEXT,
                    currency TEXT NOT NULL,
                    timezone TEXT,
                    complete_through BIGINT NOT NULL DEFAULT 0,
                    complete_through_recorded_at BIGINT,
                    latest_sequence BIGINT NOT NULL DEFAULT 0,
                    pending BIGINT NOT NULL DEFAULT 0,
                    updated_at BIGINT NOT NULL)
                """,
                // Every applied entry, once: the entry id is the idempotency key of the projection
                // (whatever message carried it), and (account, sequence) cannot repeat.
                """
                CREATE TABLE consolidation_entries (
                    entry_id TEXT PRIMARY KEY,
                    account_id TEXT NOT NULL,
                    sequence BIGINT NOT NULL,
                    business_date TEXT NOT NULL,
                    entry_type TEXT NOT NULL CHECK (entry_type IN ('credit', 'debit')),
                    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
                    recorded_at BIGINT NOT NULL,
                    applied_at BIGINT NOT NULL,
                    UNIQUE (account_id, sequence))
                """,
                "CREATE INDEX consolidation_entries_by_day ON consolidation_entries (account_id, business_date)",
                // The read model proper: per account and business day, opening + credits − debits =
                // closing, and each day's opening is the closing of the account's previous day with a row.
                """
                CREATE TABLE daily_balances (
                    account_id TEXT NOT NULL,
                    business_date TEXT NOT NULL,
                    opening_cents BIGINT NOT NULL,
                    credits_cents BIGINT NOT NULL,
                    debits_cents BIGINT NOT NULL,
                    closing_cents BIGINT NOT NULL,
                    entry_count BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (account_id, business_date),
                    CHECK (closing_cents = opening_cents + credits_cents - debits_cents))
                """,
            ])
    ]
}
