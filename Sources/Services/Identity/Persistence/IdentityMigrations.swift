import MalhaStore

/// Identity's schema. Portable SQL: TEXT ids, BIGINT epoch-ms timestamps, JSON arrays in TEXT.
enum IdentityMigrations {
    static let all: [Migration] = [
        Migration(
            version: 1, name: "users",
            [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    email TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    roles TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL)
                """
            ]),
        Migration(
            version: 2, name: "refresh_tokens",
            [
                """
                CREATE TABLE refresh_tokens (
                    token_hash TEXT PRIMARY KEY,
                    family_id TEXT NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    used_at BIGINT,
                    revoked_at BIGINT)
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            ]),
        Migration(
            version: 3, name: "signing_keys",
            [
                """
                CREATE TABLE signing_keys (
                    kid TEXT PRIMARY KEY,
                    generation BIGINT NOT NULL UNIQUE,
                    private_key_pem TEXT NOT NULL,
                    public_jwk TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """
            ]),
        Migration(
            version: 4, name: "clients",
            [
                """
                CREATE TABLE clients (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    secret_hash TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    roles TEXT NOT NULL,
                    created_at BIGINT NOT NULL)
                """
            ]),
        Migration(
            version: 5, name: "audit_events",
            [
                """
                CREATE TABLE audit_events (
                    id TEXT PRIMARY KEY,
                    occurred_at BIGINT NOT NULL,
                    event TEXT NOT NULL,
                    subject TEXT,
                    email TEXT,
                    client_address TEXT,
                    detail TEXT)
                """,
                "CREATE INDEX audit_events_occurred ON audit_events (occurred_at)",
            ]),
        // The audit trail becomes append-only (triggers refuse UPDATE and DELETE) and a hash chain.
        // Rows from before this migration stay unchained (NULL chain columns; `malha audit verify`
        // counts them apart): the chain starts at sequence 1 with the first event after it.
        Migration(version: 6, name: "audit_events hash chain") { backend in
            AuditTrail.appendOnly(table: "audit_events", backend) + IdentityAuditTrail.trail.chainMigration(backend)
        },
        // MFA (TOTP). A factor is pending until confirmed by a first code; `last_step` is the time
        // step of the last code accepted (the replay rule). The secret is sealed with the
        // key-encryption key. Recovery codes and login challenges are kept only as SHA-256.
        // A refresh token carries the `amr` of the login that started its family (NULL: from
        // before this migration, a password alone).
        Migration(
            version: 7, name: "mfa",
            [
                """
                CREATE TABLE mfa_factors (
                    user_id TEXT PRIMARY KEY REFERENCES users (id),
                    secret_sealed TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    confirmed_at BIGINT,
                    last_step BIGINT)
                """,
                """
                CREATE TABLE mfa_recovery_codes (
                    code_hash TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    created_at BIGINT NOT NULL,
                    used_at BIGINT)
                """,
                "CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id)",
                """
                CREATE TABLE mfa_challenges (
                    token_hash TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    failures BIGINT NOT NULL DEFAULT 0,
                    spent_at BIGINT)
                """,
                "ALTER TABLE refresh_tokens ADD COLUMN amr TEXT",
            ]),
    ]
}
