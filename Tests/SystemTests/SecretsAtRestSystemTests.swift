import AsyncHTTPClient
import Foundation
import Identity
import Testing

@testable import malha

/// What `malha up` leaves on disk, read raw: no private key, no client secret, no refresh token,
/// no TOTP secret, no password in any file but the demo admin's; the data directory and every file
/// in it the owner's alone.
@Suite("Secrets at rest", .serialized, .timeLimit(.minutes(5)))
struct SecretsAtRestSystemTests {
    @Test func theDataDirectoryHoldsNoSecretInTheClearAndIsTheOwnersAlone() async throws {
        let (sandbox, up) = try await UpSandbox.started("secrets", environment: ["MALHA_TESTING_WEAK_BCRYPT_COST": "4"])
        defer { up.terminate() }
        let client = TestClient(base: sandbox.baseURL, http: HTTPClient.shared)
        let admin = try #require(Topology.demoAdmin(in: sandbox.dataDir))
        let login = try await client.request(.POST, "/v1/auth/login", json: ["email": admin.email, "password": admin.password])
        #expect(login.status == 200)
        let passwordToken = try #require(login.json["access_token"] as? String)
        // The admin enrols in MFA: its secret must not be on disk in the clear either.
        let enrolment = try await client.request(.POST, "/v1/auth/mfa/enrolment", token: passwordToken)
        #expect(enrolment.status == 201)
        let totpSecret = try #require(enrolment.json["secret"] as? String)
        let totp = TOTP(secret: try #require(Base32.decode(totpSecret)))
        let now = Date()
        let confirmed = try await client.request(
            .POST, "/v1/auth/mfa/enrolment/confirm", json: ["code": totp.code(at: now)], token: passwordToken)
        #expect(confirmed.status == 200)
        let recoveryCodes = try #require(confirmed.json["recovery_codes"] as? [String])
        let challenge = try await client.request(
            .POST, "/v1/auth/login", json: ["email": admin.email, "password": admin.password])
        // The next step's code: the drift window takes it, and the replay rule refused this step's.
        let secondStep = try await client.request(
            .POST, "/v1/auth/login/mfa",
            json: [
                "mfa_token": try #require(challenge.json["mfa_token"] as? String),
                "code": totp.code(step: totp.step(at: now) + 1),
            ])
        #expect(secondStep.status == 200)
        let token = try #require(secondStep.json["access_token"] as? String)
        let refreshToken = try #require(secondStep.json["refresh_token"] as? String)
        let created = try await client.request(
            .POST, "/v1/clients", json: ["name": "nightly-export", "scopes": ["ledger.read"]], token: token)
        #expect(created.status == 201)
        let clientSecret = try #require(created.json["client_secret"] as? String)
        let password = "a customer's own passphrase"
        #expect(
            try await client.request(
                .POST, "/v1/auth/register", json: ["email": "eva@example.com", "password": password, "name": "Eva"]
            )
            .status == 201)
        // A rotation writes a second sealed key.
        #expect(try await client.request(.POST, "/v1/auth/keys/rotate", token: token).status == 201)
        up.terminate()

        let files = try FileManager.default.contentsOfDirectory(atPath: sandbox.dataDir).sorted()
        #expect(files.contains("identity.sqlite") && files.contains("identity.kek"), "\(files)")
        for name in files {
            let path = sandbox.dataDir + "/" + name
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("PRIVATE KEY"), "\(name) holds a private key in PEM")
            for (what, secret) in [
                ("a client secret", clientSecret), ("a refresh token", refreshToken), ("a password", password),
                ("a TOTP secret", totpSecret), ("a recovery code", recoveryCodes[0]),
                ("a recovery code", RecoveryCode.normalize(recoveryCodes[0])),
            ] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(name) holds \(what) in the clear")
            }
            if name != "demo-admin.txt" {
                #expect(bytes.range(of: Data(admin.password.utf8)) == nil, "\(name) holds the admin's password")
            }
            #expect(Self.mode(of: path) & 0o077 == 0, "\(name) is mode \(String(Self.mode(of: path), radix: 8))")
        }
        #expect(Self.mode(of: sandbox.dataDir) == 0o700)
        #expect(Self.mode(of: sandbox.dataDir + "/identity.kek") == 0o600)
        #expect(Self.mode(of: sandbox.dataDir + "/identity.sqlite") == 0o600)

        // The same key file opens them again: a restart signs with the sealed keys.
        let again = try sandbox.start(environment: ["MALHA_TESTING_WEAK_BCRYPT_COST": "4"], name: "up-again")
        defer { again.terminate() }
        try #require(try await sandbox.becomesReady(again), "\(again.log.suffix(2000))")
        let challengeAgain = try await client.request(
            .POST, "/v1/auth/login", json: ["email": admin.email, "password": admin.password])
        #expect(challengeAgain.status == 200)
        let relogin = try await client.request(
            .POST, "/v1/auth/login/mfa",
            json: ["mfa_token": try #require(challengeAgain.json["mfa_token"] as? String), "recovery_code": recoveryCodes[1]])
        #expect(relogin.status == 200)
        let me = try await client.request(.GET, "/v1/auth/me", token: relogin.json["access_token"] as? String)
        #expect(me.status == 200)
    }

    static func mode(of path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }
}
