import Foundation
import MalhaStore
import SQLKit

/// A user's TOTP factor as stored: the secret sealed (`KeyEncryptionKey`, the user id as
/// authenticated data), pending until a first code confirms it.
struct StoredMFAFactor: Sendable {
    var userID: String
    var sealedSecret: String
    var confirmedAt: Date?
    /// The step of the last code accepted (the replay rule); nil before the first.
    var lastStep: Int64?

    var isActive: Bool { confirmedAt != nil }
}

/// A login waiting for its second step.
struct StoredMFAChallenge: Sendable {
    var userID: String
    var failures: Int
}

/// What proves the second factor: a TOTP code (by the step it matched) or a recovery code (by its hash).
enum SecondFactorProof: Sendable {
    case step(Int64)
    case recoveryCode(hash: String)
}

/// The outcome of completing a login challenge.
enum ChallengeOutcome: Sendable {
    /// The challenge and the proof are spent; the refresh token is stored.
    case completed
    /// The proof was spent already: a replayed step (or an older one), a used recovery code.
    case proofRefused
    /// The challenge was spent, burnt or expired meanwhile.
    case challengeGone
}

extension IdentityRepository {
    // MARK: Factors

    func mfaFactor(userID: String) async throws -> StoredMFAFactor? {
        let row = try await store.read { db in
            try await db.raw(
                "SELECT user_id, secret_sealed, confirmed_at, last_step FROM mfa_factors WHERE user_id = \(bind: userID)"
            ).first()
        }
        guard let row else { return nil }
        return StoredMFAFactor(
            userID: try row.decode(column: "user_id", as: String.self),
            sealedSecret: try row.decode(column: "secret_sealed", as: String.self),
            confirmedAt: try row.decode(column: "confirmed_at", as: Int64?.self).map(Date.init(epochMilliseconds:)),
            lastStep: try row.decode(column: "last_step", as: Int64?.self))
    }

    /// Stores a pending factor for `userID`, replacing a pending one; false (nothing changed)
    /// when the user's factor is active already.
    func startEnrolment(userID: String, sealedSecret: String, now: Date, audit: AuditEntry) async throws -> Bool {
        try await store.transaction { db in
            let active = try await db.raw(
                "SELECT user_id FROM mfa_factors WHERE user_id = \(bind: userID) AND confirmed_at IS NOT NULL"
            ).first()
            if active != nil { return false }
            try await db.raw("DELETE FROM mfa_factors WHERE user_id = \(bind: userID)").run()
            try await db.raw(
                """
                INSERT INTO mfa_factors (user_id, secret_sealed, created_at)
                VALUES (\(bind: userID), \(bind: sealedSecret), \(bind: now.epochMilliseconds))
                """
            ).run()
            try await Self.insert(audit, db: db)
            return true
        }
    }

    /// Activates the pending factor with the step its first code matched, and stores the
    /// recovery codes' hashes (any earlier ones are dropped). False when no factor is pending.
    func confirmEnrolment(
        userID: String, step: Int64, recoveryCodeHashes: [String], now: Date, audit: AuditEntry
    ) async throws -> Bool {
        try await store.transaction { db in
            let confirmed = try await db.raw(
                """
                UPDATE mfa_factors SET confirmed_at = \(bind: now.epochMilliseconds), last_step = \(bind: step)
                WHERE user_id = \(bind: userID) AND confirmed_at IS NULL RETURNING user_id
                """
            ).first()
            guard confirmed != nil else { return false }
            try await db.raw("DELETE FROM mfa_recovery_codes WHERE user_id = \(bind: userID)").run()
            for hash in recoveryCodeHashes {
                try await db.raw(
                    """
                    INSERT INTO mfa_recovery_codes (code_hash, user_id, created_at)
                    VALUES (\(bind: hash), \(bind: userID), \(bind: now.epochMilliseconds))
                    """
                ).run()
            }
            try await Self.insert(audit, db: db)
            return true
        }
    }

    /// How many of the user's recovery codes are not spent (tests, admin tooling).
    public func unusedRecoveryCodes(userID: String) async throws -> Int {
        let rows = try await store.read { db in
            try await db.raw(
                "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = \(bind: userID) AND used_at IS NULL"
            ).all()
        }
        return rows.count
    }

    // MARK: Login challenges

    func insertChallenge(hash: String, userID: String, now: Date, expiresAt: Date, audit: AuditEntry) async throws {
        try await store.transaction { db in
            try await db.raw(
                """
                INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at)
                VALUES (\(bind: hash), \(bind: userID), \(bind: now.epochMilliseconds), \(bind: expiresAt.epochMilliseconds))
                """
            ).run()
            try await Self.insert(audit, db: db)
        }
    }

    /// The challenge with `hash` when it is neither spent, burnt nor expired.
    func liveChallenge(hash: String, now: Date) async throws -> StoredMFAChallenge? {
        let row = try await store.read { db in
            try await db.raw(
                """
                SELECT user_id, failures FROM mfa_challenges
                WHERE token_hash = \(bind: hash) AND spent_at IS NULL AND expires_at > \(bind: now.epochMilliseconds)
                """
            ).first()
        }
        guard let row else { return nil }
        return StoredMFAChallenge(
            userID: try row.decode(column: "user_id", as: String.self),
            failures: Int(try row.decode(column: "failures", as: Int64.self)))
    }

    /// Counts a wrong code against the challenge; at `maxFailures` the challenge is burnt.
    func recordChallengeFailure(hash: String, maxFailures: Int, now: Date, audit: AuditEntry) async throws {
        try await store.transaction { db in
            try await db.raw(
                """
                UPDATE mfa_challenges SET failures = failures + 1,
                    spent_at = CASE WHEN failures + 1 >= \(bind: maxFailures) THEN \(bind: now.epochMilliseconds) ELSE spent_at END
                WHERE token_hash = \(bind: hash) AND spent_at IS NULL
                """
            ).run()
            try await Self.insert(audit, db: db)
        }
    }

    /// Spends the proof and the challenge and stores the refresh token, all or nothing. Each
    /// spending is a conditional UPDATE, so of two concurrent uses of one code, recovery code or
    /// challenge exactly one gets a row back.
    func completeChallenge(
        hash: String, userID: String, proof: SecondFactorProof, refreshToken: NewRefreshToken, audit: [AuditEntry]
    ) async throws -> ChallengeOutcome {
        let now = refreshToken.now.epochMilliseconds
        do {
            return try await store.transaction { db in
                let spentProof: (any SQLRow)?
                switch proof {
                case .step(let step):
                    spentProof = try await db.raw(
                        """
                        UPDATE mfa_factors SET last_step = \(bind: step)
                        WHERE user_id = \(bind: userID) AND confirmed_at IS NOT NULL
                          AND (last_step IS NULL OR last_step < \(bind: step))
                        RETURNING user_id
                        """
                    ).first()
                case .recoveryCode(let codeHash):
                    spentProof = try await db.raw(
                        """
                        UPDATE mfa_recovery_codes SET used_at = \(bind: now)
                        WHERE code_hash = \(bind: codeHash) AND user_id = \(bind: userID) AND used_at IS NULL
                        RETURNING user_id
                        """
                    ).first()
                }
                guard spentProof != nil else { return .proofRefused }
                let spentChallenge = try await db.raw(
                    """
                    UPDATE mfa_challenges SET spent_at = \(bind: now)
                    WHERE token_hash = \(bind: hash) AND spent_at IS NULL AND expires_at > \(bind: now)
                    RETURNING user_id
                    """
                ).first()
                // Gone meanwhile: undo the proof's spending (a recovery code must not be lost).
                guard spentChallenge != nil else { throw ChallengeGone() }
                try await Self.insert(refreshToken: refreshToken, db: db)
                for entry in audit { try await Self.insert(entry, db: db) }
                return .completed
            }
        } catch is ChallengeGone {
            return .challengeGone
        }
    }

    private struct ChallengeGone: Error {}
}
