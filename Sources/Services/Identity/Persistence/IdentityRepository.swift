import Foundation
import JWTKit
import MalhaCore
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import SQLKit

/// What the audit table records.
public enum AuditEvent: String, Sendable, Codable {
    case register, loginSuccess = "login_success", loginFailure = "login_failure", refresh
    case refreshReuse = "refresh_reuse", logout, roleChange = "role_change", keyRotation = "key_rotation"
    case clientCreated = "client_created", clientToken = "client_token", clientTokenFailure = "client_token_failure"
    case clientProvisioned = "client_provisioned"
    case mfaEnrolmentStarted = "mfa_enrolment_started", mfaEnabled = "mfa_enabled"
    case mfaChallenge = "mfa_challenge", mfaFailure = "mfa_failure", recoveryCodeUsed = "recovery_code_used"
}

/// One audit row, as tests and admins read them.
public struct AuditRecord: Sendable, Hashable {
    public var event: String
    public var subject: String?
    public var email: String?
    public var clientAddress: String?
    public var detail: String?
    public var occurredAt: Date
}

/// A stored account with its password hash (only the login path needs the hash).
struct StoredUser: Sendable {
    var user: User
    var passwordHash: String
}

/// A service account for the client-credentials grant.
public struct ServiceClient: Sendable, Hashable {
    public var id: String
    public var name: String
    public var scopes: [String]
    public var roles: [String]
    public var createdAt: Date
}

/// The outcome of presenting a refresh token.
enum RefreshOutcome: Sendable {
    /// Rotated: the token is now used; a new one was stored in the same family, which keeps
    /// the authentication methods (`amr`) of the login that started it.
    case rotated(user: User, familyID: String, amr: [String])
    /// The token had already been used (or its family revoked): the family is now revoked.
    case reused(familyID: String, userID: String)
    /// Unknown or expired.
    case invalid
}

/// Identity's database: users, refresh-token families, signing keys, clients, audit.
/// One implementation over SQLKit for SQLite and PostgreSQL alike.
public struct IdentityRepository: Sendable {
    let store: any SQLStore

    public init(store: any SQLStore) {
        self.store = store
    }

    // MARK: Users

    static let userColumns = "id, email, name, password_hash, roles, created_at"

    /// Inserts a user; `AccountRefusal.emailTaken` when the email is taken (a concurrent
    /// registration of the same address won the race).
    func insert(user: User, passwordHash: String, audit: AuditEntry?) async throws {
        do {
            try await store.write { db in
                try await db.raw(
                    """
                    INSERT INTO users (id, email, name, password_hash, roles, created_at, updated_at)
                    VALUES (\(bind: user.id), \(bind: user.email), \(bind: user.name), \(bind: passwordHash),
                            \(bind: Self.encode(user.roles.sorted())), \(bind: user.createdAt.epochMilliseconds),
                            \(bind: user.createdAt.epochMilliseconds))
                    """
                ).run()
                if let audit { try await Self.insert(audit, db: db) }
            }
        } catch StoreError.uniqueViolation {
            throw AccountRefusal.emailTaken
        }
    }

    func user(email: String) async throws -> StoredUser? {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE email = \(bind: email)").first()
        }.map(Self.storedUser)
    }

    public func user(id: String) async throws -> User? {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE id = \(bind: id)").first()
        }.map(Self.storedUser)?.user
    }

    /// Users ordered by id (UUIDv7: creation order), after `cursor` when given.
    public func users(after cursor: String?, limit: Int) async throws -> [User] {
        let rows = try await store.read { db in
            if let cursor {
                return try await db.raw(
                    "SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE id > \(bind: cursor) ORDER BY id LIMIT \(bind: limit)"
                ).all()
            }
            return try await db.raw("SELECT \(unsafeRaw: Self.userColumns) FROM users ORDER BY id LIMIT \(bind: limit)").all()
        }
        return try rows.map { try Self.storedUser($0).user }
    }

    /// Replaces a user's roles and writes `event` (`identity.roles-changed.v1`) to the outbox in the
    /// same transaction; nil when the user does not exist.
    func setRoles(userID: String, roles: Set<String>, now: Date, audit: AuditEntry, event: Envelope) async throws -> User? {
        try await store.transaction { db in
            let row = try await db.raw(
                """
                UPDATE users SET roles = \(bind: Self.encode(roles.sorted())), updated_at = \(bind: now.epochMilliseconds)
                WHERE id = \(bind: userID) RETURNING \(unsafeRaw: Self.userColumns)
                """
            ).first()
            guard let row else { return nil }
            try await Self.insert(audit, db: db)
            try await Outbox.enqueue(event, in: db)
            return try Self.storedUser(row).user
        }
    }

    // MARK: Refresh tokens

    /// A refresh token to store: its hash, its family, and how its family's login authenticated.
    struct NewRefreshToken: Sendable {
        var hash: String
        var familyID: String
        var userID: String
        var amr: [String]
        var now: Date
        var expiresAt: Date
    }

    /// Stores a new refresh token (by its hash) in its family.
    func insert(refreshToken token: NewRefreshToken, audit: AuditEntry?) async throws {
        try await store.transaction { db in
            try await Self.insert(refreshToken: token, db: db)
            if let audit { try await Self.insert(audit, db: db) }
        }
    }

    static func insert(refreshToken token: NewRefreshToken, db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at, amr)
            VALUES (\(bind: token.hash), \(bind: token.familyID), \(bind: token.userID), \(bind: token.now.epochMilliseconds),
                    \(bind: token.expiresAt.epochMilliseconds), \(bind: Self.encode(token.amr)))
            """
        ).run()
    }

    /// Spends `hash` and stores `newHash` in its family, atomically. The conditional UPDATE is the
    /// whole race story: of two concurrent uses of one token, exactly one sees a row come back.
    /// The family a refresh token belongs to, used or not; nil for a token never issued.
    func familyID(ofTokenHash hash: String) async throws -> String? {
        try await store.read { db in
            try await db.raw("SELECT family_id FROM refresh_tokens WHERE token_hash = \(bind: hash)").first()?
                .decode(column: "family_id", as: String.self)
        }
    }

    func rotate(hash: String, newHash: String, now: Date, expiresAt: Date, clientAddress: String) async throws -> RefreshOutcome {
        try await store.transaction { db in
            let spent = try await db.raw(
                """
                UPDATE refresh_tokens SET used_at = \(bind: now.epochMilliseconds)
                WHERE token_hash = \(bind: hash) AND used_at IS NULL AND revoked_at IS NULL
                  AND expires_at > \(bind: now.epochMilliseconds)
                RETURNING family_id, user_id, amr
                """
            ).first()
            if let spent {
                let familyID = try spent.decode(column: "family_id", as: String.self)
                let userID = try spent.decode(column: "user_id", as: String.self)
                // NULL: a family from before `amr` was stored, which a password alone started.
                let amr = try spent.decode(column: "amr", as: String?.self).map(Self.decode) ?? AuthenticationMethod.passwordOnly
                guard
                    let row = try await db.raw("SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE id = \(bind: userID)")
                        .first()
                else { return .invalid }
                try await Self.insert(
                    refreshToken: NewRefreshToken(
                        hash: newHash, familyID: familyID, userID: userID, amr: amr, now: now, expiresAt: expiresAt),
                    db: db)
                let user = try Self.storedUser(row).user
                try await Self.insert(
                    AuditEntry(
                        event: .refresh, at: now, subject: userID, email: user.email, clientAddress: clientAddress,
                        detail: familyID),
                    db: db)
                return .rotated(user: user, familyID: familyID, amr: amr)
            }
            let existing = try await db.raw(
                "SELECT family_id, user_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = \(bind: hash)"
            ).first()
            guard let existing else { return .invalid }
            let usedAt = try existing.decode(column: "used_at", as: Int64?.self)
            let revokedAt = try existing.decode(column: "revoked_at", as: Int64?.self)
            // Expired but never used: simply invalid. Used or revoked: someone holds a copy — treat as theft.
            guard usedAt != nil || revokedAt != nil else { return .invalid }
            let familyID = try existing.decode(column: "family_id", as: String.self)
            let userID = try existing.decode(column: "user_id", as: String.self)
            try await Self.revokeFamily(familyID, now: now, db: db)
            try await Self.insert(
                AuditEntry(event: .refreshReuse, at: now, subject: userID, clientAddress: clientAddress, detail: familyID), db: db
            )
            return .reused(familyID: familyID, userID: userID)
        }
    }

    /// Revokes the family of the token with `hash`; false when the token is unknown.
    func revokeFamily(ofTokenHash hash: String, now: Date, clientAddress: String) async throws -> Bool {
        try await store.transaction { db in
            guard
                let row = try await db.raw("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = \(bind: hash)")
                    .first()
            else { return false }
            let familyID = try row.decode(column: "family_id", as: String.self)
            let userID = try row.decode(column: "user_id", as: String.self)
            try await Self.revokeFamily(familyID, now: now, db: db)
            try await Self.insert(
                AuditEntry(event: .logout, at: now, subject: userID, clientAddress: clientAddress, detail: familyID), db: db)
            return true
        }
    }

    private static func revokeFamily(_ familyID: String, now: Date, db: any SQLDatabase) async throws {
        try await db.raw(
            "UPDATE refresh_tokens SET revoked_at = \(bind: now.epochMilliseconds) WHERE family_id = \(bind: familyID) AND revoked_at IS NULL"
        ).run()
    }

    /// Whether every token of the family is revoked (tests, admin tooling).
    public func isFamilyRevoked(_ familyID: String) async throws -> Bool {
        let rows = try await store.read { db in
            try await db.raw("SELECT revoked_at FROM refresh_tokens WHERE family_id = \(bind: familyID)").all()
        }
        return try !rows.isEmpty && rows.allSatisfy { try $0.decode(column: "revoked_at", as: Int64?.self) != nil }
    }

    // MARK: Signing keys

    /// A signing key as stored: its private key sealed (`KeyEncryptionKey`), or plaintext PEM in
    /// a database from before sealing.
    struct StoredSigningKey: Sendable {
        var kid: String
        var privateKey: String
        var createdAt: Date
    }

    /// The newest keys first (at most `limit`).
    func signingKeys(limit: Int) async throws -> [StoredSigningKey] {
        let rows = try await store.read { db in
            try await db.raw(
                "SELECT kid, private_key_pem, created_at FROM signing_keys ORDER BY generation DESC LIMIT \(bind: limit)"
            ).all()
        }
        return try rows.map { row in
            StoredSigningKey(
                kid: try row.decode(column: "kid", as: String.self),
                privateKey: try row.decode(column: "private_key_pem", as: String.self),
                createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    /// Replaces plaintext private keys with what `seal` makes of them (kid, PEM); returns how many.
    func sealPlaintextKeys(_ seal: (String, String) throws -> String) async throws -> Int {
        try await store.write { db in
            let rows = try await db.raw("SELECT kid, private_key_pem FROM signing_keys").all()
            var sealed = 0
            for row in rows {
                let kid = try row.decode(column: "kid", as: String.self)
                let stored = try row.decode(column: "private_key_pem", as: String.self)
                guard !KeyEncryptionKey.isSealed(stored) else { continue }
                try await db.raw(
                    "UPDATE signing_keys SET private_key_pem = \(bind: try seal(kid, stored)) WHERE kid = \(bind: kid)"
                ).run()
                sealed += 1
            }
            return sealed
        }
    }

    /// Public JWKs of the newest `limit` keys (no private key is parsed to serve the JWKS).
    func publicKeys(limit: Int) async throws -> [PublicJWK] {
        let rows = try await store.read { db in
            try await db.raw("SELECT public_jwk FROM signing_keys ORDER BY generation DESC LIMIT \(bind: limit)").all()
        }
        return try rows.map {
            try JSONDecoder().decode(PublicJWK.self, from: Data(try $0.decode(column: "public_jwk", as: String.self).utf8))
        }
    }

    /// Stores `key` as the newest generation. With `onlyIfNone`, does nothing when a key exists
    /// (first start); returns whether it stored the key.
    func add(signingKey key: SigningKey, sealedPrivateKey: String, onlyIfNone: Bool, audit: AuditEntry?) async throws -> Bool {
        let jwk = String(decoding: try JSONEncoder().encode(key.publicJWK), as: UTF8.self)
        return try await store.write { db in
            let newest = try await db.raw("SELECT MAX(generation) AS generation FROM signing_keys").first()
            let generation = try newest?.decode(column: "generation", as: Int64?.self)
            if onlyIfNone, generation != nil { return false }
            try await db.raw(
                """
                INSERT INTO signing_keys (kid, generation, private_key_pem, public_jwk, created_at)
                VALUES (\(bind: key.kid), \(bind: (generation ?? 0) + 1), \(bind: sealedPrivateKey),
                        \(bind: jwk), \(bind: key.createdAt.epochMilliseconds))
                """
            ).run()
            if let audit { try await Self.insert(audit, db: db) }
            return true
        }
    }

    // MARK: Clients

    func insert(client: ServiceClient, secretHash: String, audit: AuditEntry) async throws {
        try await store.write { db in
            try await db.raw(
                """
                INSERT INTO clients (id, name, secret_hash, scopes, roles, created_at)
                VALUES (\(bind: client.id), \(bind: client.name), \(bind: secretHash), \(bind: Self.encode(client.scopes)),
                        \(bind: Self.encode(client.roles)), \(bind: client.createdAt.epochMilliseconds))
                """
            ).run()
            try await Self.insert(audit, db: db)
        }
    }

    /// Creates the client, or gives an existing one with its id this secret and these scopes
    /// (and no role): what a topology's own service clients are, on every start.
    func provision(client: ServiceClient, secretHash: String, audit: AuditEntry) async throws {
        try await store.write { db in
            try await db.raw(
                """
                INSERT INTO clients (id, name, secret_hash, scopes, roles, created_at)
                VALUES (\(bind: client.id), \(bind: client.name), \(bind: secretHash), \(bind: Self.encode(client.scopes)),
                        \(bind: Self.encode([String]())), \(bind: client.createdAt.epochMilliseconds))
                ON CONFLICT (id) DO UPDATE SET
                    name = excluded.name, secret_hash = excluded.secret_hash, scopes = excluded.scopes, roles = excluded.roles
                """
            ).run()
            try await Self.insert(audit, db: db)
        }
    }

    func client(id: String) async throws -> (client: ServiceClient, secretHash: String)? {
        guard
            let row = try await store.read({ db in
                try await db.raw("SELECT id, name, secret_hash, scopes, roles, created_at FROM clients WHERE id = \(bind: id)")
                    .first()
            })
        else { return nil }
        let client = ServiceClient(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            scopes: try Self.decode(try row.decode(column: "scopes", as: String.self)),
            roles: try Self.decode(try row.decode(column: "roles", as: String.self)),
            createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self)))
        return (client, try row.decode(column: "secret_hash", as: String.self))
    }

    // MARK: Audit

    struct AuditEntry: Sendable {
        var event: AuditEvent
        var at: Date
        var subject: String?
        var email: String?
        var clientAddress: String?
        var detail: String?
    }

    func audit(_ entry: AuditEntry) async throws {
        try await store.transaction { db in try await Self.insert(entry, db: db) }
    }

    /// Appends `entry` to the hash chain (locking its head until the caller's transaction ends).
    static func insert(_ entry: AuditEntry, db: any SQLDatabase) async throws {
        try await IdentityAuditTrail.trail.append(IdentityAuditTrail.fields(entry), in: db)
    }

    /// Audit rows, oldest first.
    public func auditRecords(event: AuditEvent? = nil) async throws -> [AuditRecord] {
        let rows = try await store.read { db in
            if let event {
                return try await db.raw(
                    "SELECT event, subject, email, client_address, detail, occurred_at FROM audit_events WHERE event = \(bind: event.rawValue) ORDER BY id"
                ).all()
            }
            return try await db.raw(
                "SELECT event, subject, email, client_address, detail, occurred_at FROM audit_events ORDER BY id"
            ).all()
        }
        return try rows.map { row in
            AuditRecord(
                event: try row.decode(column: "event", as: String.self),
                subject: try row.decode(column: "subject", as: String?.self),
                email: try row.decode(column: "email", as: String?.self),
                clientAddress: try row.decode(column: "client_address", as: String?.self),
                detail: try row.decode(column: "detail", as: String?.self),
                occurredAt: Date(epochMilliseconds: try row.decode(column: "occurred_at", as: Int64.self)))
        }
    }

    // MARK: Row mapping

    static func storedUser(_ row: any SQLRow) throws -> StoredUser {
        StoredUser(
            user: User(
                id: try row.decode(column: "id", as: String.self),
                email: try row.decode(column: "email", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                roles: Set(try decode(try row.decode(column: "roles", as: String.self))),
                createdAt: Date(epochMilliseconds: try row.decode(column: "created_at", as: Int64.self))),
            passwordHash: try row.decode(column: "password_hash", as: String.self))
    }

    static func encode(_ strings: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(strings), as: UTF8.self)) ?? "[]"
    }

    static func decode(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}
