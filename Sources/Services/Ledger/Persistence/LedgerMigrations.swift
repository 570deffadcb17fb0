import MalhaStore

/// The ledger's schema. Portable SQL: TEXT ids (UUIDv7, so ids sort by creation), BIGINT
/// epoch-ms timestamps and integer cents, business dates as "YYYY-MM-DD" TEXT (which sorts as dates do).
enum LedgerMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "accounts and entries") { backend in
            [
                // `next_sequence` is the sequence the account's next entry takes: read and bumped in
                // the entry's transaction, with the row locked (PostgreSQL) or the writer held (SQLite).
                """
                CREATE TABLE ledger_accounts (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    timezone TEXT NOT NULL,
                    next_sequence BIGINT NOT NULL CHECK (next_sequence >= 1),
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX ledger_accounts_by_owner ON ledger_accounts (owner_id, id)",
                // UNIQUE (account_id, sequence) and UNIQUE reverses_entry_id are the last line of
                // defence: whatever the code does, an account cannot hold two entries with one
                // sequence, nor an entry two reversals.
                """
                CREATE TABLE ledger_entries (
                    id TEXT PRIMARY KEY,
                    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
                    sequence BIGINT NOT NULL CHECK (sequence >= 1),
                    entry_type TEXT NOT NULL CHECK (entry_type IN ('credit', 'debit')),
                    amount_cents BIGINT NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000000),
                    currency TEXT NOT NULL,
                    description TEXT,
                    category TEXT,
                    occurred_at BIGINT NOT NULL,
                    business_date TEXT NOT NULL,
                    reverses_entry_id TEXT UNIQUE REFERENCES ledger_entries (id),
                    created_at BIGINT NOT NULL,
                    UNIQUE (account_id, sequence))
                """,
                "CREATE INDEX ledger_entries_by_business_date ON ledger_entries (account_id, business_date, sequence)",
            ] + LedgerMigrations.appendOnly(backend)
        }
    ]

    /// Entries are append-only in the database too: a statement that would change or remove one
    /// fails, whoever runs it (the service has no such statement; this stops a hand-written one).
    static func appendOnly(_ backend: SQLBackendKind) -> [String] {
        switch backend {
        case .sqlite:
            ["UPDATE", "DELETE"].map { operation in
                """
                CREATE TRIGGER ledger_entries_append_only_\(operation.lowercased()) BEFORE \(operation) ON ledger_entries
                BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END
                """
            }
        case .postgres:
            [
                """
                CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$
                """,
                """
                CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
                FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()
                """,
                """
                CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
                FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only()
                """,
            ]
        }
    }
}
