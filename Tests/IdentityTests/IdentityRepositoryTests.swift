import Foundation
import Logging
import MalhaCore
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Testing

@testable import Identity

/// The repository contract, run on SQLite always and on PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set
/// (each PostgreSQL run gets a fresh database, dropped afterwards).
@Suite("Identity: repository conformance")
struct IdentityRepositoryTests {
    @Test func sqlite() async throws {
        let store = try await TestDatabases.sqlite()
        try await Self.conformance(store)
        await store.close()
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil, "MALHA_TEST_POSTGRES_URL is not set"))
    func postgres() async throws {
        try await TestDatabases.withPostgres { store in try await Self.conformance(store) }
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil, "MALHA_TEST_POSTGRES_URL is not set"))
    func postgresMFA() async throws {
        // MFA's conditional UPDATEs (replay rule, single-use codes and challenges) on PostgreSQL too.
        try await TestDatabases.withPostgres { store in
            let harness = try await IdentityHarness.make(store: store)
            try await harness.test { client in
                let (totp, codes) = try await harness.enrolMFA(client)
                let session = try await harness.loginWithSecondFactor(client, totp: totp)
                let used = totp.code(at: harness.clock.now())
                let refreshed = try await client.post("/v1/auth/refresh", ["refresh_token": session.refresh])
                #expect(try await harness.verifier().verify(try #require(refreshed.string("access_token"))).hasSecondFactor)
                let recovered = try await client.post(
                    "/v1/auth/login/mfa", ["mfa_token": try await client.mfaToken(), "recovery_code": codes[0]])
                #expect(recovered.status == .ok)

                let challenge = try await client.mfaToken()
                let replayed = try await client.post("/v1/auth/login/mfa", ["mfa_token": challenge, "code": used])
                #expect(replayed.code == "invalid_mfa_code")
                for _ in 0..<4 {
                    let spent = try await client.post(
                        "/v1/auth/login/mfa", ["mfa_token": challenge, "recovery_code": codes[0]])
                    #expect(spent.code == "invalid_mfa_code")
                }
                let burnt = try await client.post(
                    "/v1/auth/login/mfa",
                    ["mfa_token": challenge, "code": totp.code(step: totp.step(at: harness.clock.now()) + 1)])
                #expect(burnt.code == "invalid_mfa_token")
            }
        }
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil, "MALHA_TEST_POSTGRES_URL is not set"))
    func postgresHTTP() async throws {
        // The HTTP flow that matters most (rotation and reuse detection) on PostgreSQL too.
        try await TestDatabases.withPostgres { store in
            let harness = try await IdentityHarness.make(store: store)
            try await harness.test { client in
                let first = try await client.session("pg@example.com")
                let rotated = try await client.post("/v1/auth/refresh", ["refresh_token": first.refresh])
                #expect(rotated.status == .ok)
                #expect(try await client.post("/v1/auth/refresh", ["refresh_token": first.refresh]).status == .unauthorized)
                let second = try #require(rotated.string("refresh_token"))
                #expect(try await client.post("/v1/auth/refresh", ["refresh_token": second]).status == .unauthorized)
                #expect(try await client.register("PG@example.com").code == "email_taken")
            }
        }
    }

    static func conformance(_ store: any SQLStore) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        try await Migrator.migrate(store, IdentityService.migrations, logger: logger)
        try await Outbox.migrate(store, logger: logger)
        #expect(try await Migrator.migrate(store, IdentityService.migrations, logger: logger).isEmpty)  // idempotent
        let repository = IdentityRepository(store: store)
        let now = Date(epochMilliseconds: 1_767_225_600_000)

        // Users: unique email, lookup, roles, pagination in id order.
        let ana = User(
            id: UUID.v7(at: now).lowercased, email: "ana@example.com", name: "Ana", roles: [Role.customer], createdAt: now)
        try await repository.insert(user: ana, passwordHash: "hash-a", audit: nil)
        // The unique e-mail holds in the database; the repository names the refusal.
        await #expect(throws: AccountRefusal.emailTaken) {
            let twin = User(id: UUID.v7(at: now).lowercased, email: "ana@example.com", name: "Twin", roles: [], createdAt: now)
            try await repository.insert(user: twin, passwordHash: "hash-b", audit: nil)
        }
        let stored = try #require(try await repository.user(email: "ana@example.com"))
        #expect(stored.user == ana)
        #expect(stored.passwordHash == "hash-a")
        let bia = User(
            id: UUID.v7(at: now.addingTimeInterval(1)).lowercased, email: "bia@example.com", name: "Bia", roles: [Role.customer],
            createdAt: now.addingTimeInterval(1))
        try await repository.insert(user: bia, passwordHash: "hash-b", audit: nil)
        #expect(try await repository.users(after: nil, limit: 1).map(\.id) == [ana.id])
        #expect(try await repository.users(after: ana.id, limit: 5).map(\.id) == [bia.id])
        let audit = IdentityRepository.AuditEntry(event: .roleChange, at: now, subject: ana.id)
        let promoted = try await repository.setRoles(
            userID: ana.id, roles: [Role.admin, Role.customer], now: now, audit: audit, event: try rolesChanged(ana.id, now: now))
        #expect(promoted?.roles == [Role.admin, Role.customer])
        #expect(
            try await repository.setRoles(
                userID: "missing", roles: [Role.admin], now: now, audit: audit, event: try rolesChanged(ana.id, now: now)) == nil)

        // Refresh tokens: one rotation per token; reuse revokes the family; expiry is not reuse.
        let later = now.addingTimeInterval(3600)
        try await repository.insert(
            refreshToken: .init(
                hash: "h1", familyID: "f1", userID: ana.id, amr: ["pwd", "otp"], now: now, expiresAt: later), audit: nil)
        guard
            case .rotated(let user, let family, let amr) = try await repository.rotate(
                hash: "h1", newHash: "h2", now: now, expiresAt: later, clientAddress: "unknown")
        else { Issue.record("expected a rotation"); return }
        #expect(user.id == ana.id)
        #expect(family == "f1")
        #expect(amr == ["pwd", "otp"], "the family keeps its login's amr")
        guard
            case .reused(let reusedFamily, _) = try await repository.rotate(
                hash: "h1", newHash: "h3", now: now, expiresAt: later, clientAddress: "unknown")
        else { Issue.record("expected reuse detection"); return }
        #expect(reusedFamily == "f1")
        #expect(try await repository.isFamilyRevoked("f1"))
        guard
            case .reused = try await repository.rotate(
                hash: "h2", newHash: "h4", now: now, expiresAt: later, clientAddress: "unknown")
        else { Issue.record("the newest token of a revoked family must be refused"); return }
        guard
            case .invalid = try await repository.rotate(
                hash: "nope", newHash: "h5", now: now, expiresAt: later, clientAddress: "unknown")
        else { Issue.record("unknown token"); return }
        try await repository.insert(
            refreshToken: .init(hash: "e1", familyID: "f2", userID: bia.id, amr: ["pwd"], now: now, expiresAt: later),
            audit: nil)
        guard
            case .invalid = try await repository.rotate(
                hash: "e1", newHash: "e2", now: later, expiresAt: later, clientAddress: "unknown")
        else { Issue.record("an expired token is invalid"); return }
        #expect(try await !repository.isFamilyRevoked("f2"))
        #expect(try await repository.revokeFamily(ofTokenHash: "e1", now: now, clientAddress: "unknown"))
        #expect(try await repository.isFamilyRevoked("f2"))
        #expect(try await !repository.revokeFamily(ofTokenHash: "absent", now: now, clientAddress: "unknown"))

        // Signing keys: first key only once; newest first; sealed at rest, and they still sign.
        let keys = KeyRing(repository: repository, keyEncryption: KeyEncryptionKey.generate().key, clock: ManualClock(now))
        #expect(try await keys.ensureKey())
        #expect(try await !keys.ensureKey())
        let first = try #require(try await repository.signingKeys(limit: 1).first)
        #expect(KeyEncryptionKey.isSealed(first.privateKey) && !first.privateKey.contains("PRIVATE KEY"))
        let second = try await keys.rotate(actor: ana.id)
        let newest = try await repository.signingKeys(limit: 5)
        #expect(newest.map(\.kid) == [second, first.kid])
        #expect(newest.last?.privateKey == first.privateKey)
        #expect(try await keys.jwks().keys.map(\.kid) == [second, first.kid])
        #expect(try await keys.currentSigner().key.kid == second)
        _ = try await keys.rotate(actor: ana.id)
        #expect(try await keys.jwks().keys.count == KeyRing.publishedGenerations)

        // Clients.
        let client = ServiceClient(id: "c1", name: "worker", scopes: ["a", "b"], roles: [Role.operator_], createdAt: now)
        try await repository.insert(client: client, secretHash: "sh", audit: .init(event: .clientCreated, at: now))
        let loaded = try #require(try await repository.client(id: "c1"))
        #expect(loaded.client == client)
        #expect(loaded.secretHash == "sh")
        #expect(try await repository.client(id: "c2") == nil)

        // Audit.
        let events = try await repository.auditRecords().map(\.event)
        #expect(events.contains(AuditEvent.refreshReuse.rawValue))
        #expect(events.contains(AuditEvent.keyRotation.rawValue))
        #expect(events.contains(AuditEvent.logout.rawValue))
    }
}
