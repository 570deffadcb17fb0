import AsyncHTTPClient
import Foundation
import Logging
import MalhaStore
import SQLKit
import Testing

/// The ledger on a running `malha up`, through the gateway, as a new user would use it.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct LedgerSystemTests {
    @Test func accountsEntriesAndReversalsThroughTheGateway() async throws {
        let (sandbox, up) = try await UpSandbox.started(
            "ledger", environment: ["MALHA_TESTING_WEAK_BCRYPT_COST": "4", "MALHA_IDENTITY_REGISTRATIONS_PER_HOUR": "1000000"])
        defer { up.terminate() }
        let client = TestClient(base: sandbox.baseURL, http: HTTPClient.shared)

        func user(_ email: String) async throws -> String {
            let password = "ledger passphrase 42"
            let registered = try await client.request(
                .POST, "/v1/auth/register", json: ["email": email, "password": password, "name": "Caixa"])
            #expect(registered.status == 201, "\(registered.text)")
            let login = try await client.request(.POST, "/v1/auth/login", json: ["email": email, "password": password])
            return try #require(login.json["access_token"] as? String, "\(login.text)")
        }
        let owner = try await user("dona@example.com")
        let stranger = try await user("outro@example.com")

        let opened = try await client.request(.POST, "/v1/accounts", json: ["name": "Caixa da loja"], token: owner)
        #expect(opened.status == 201, "\(opened.text) \(up.log.suffix(1500))")
        let accountID = try #require(opened.json["id"] as? String)
        #expect(opened.json["currency"] as? String == "BRL" && opened.json["timezone"] as? String == "America/Sao_Paulo")

        func post(_ body: [String: Any], key: String, token: String) async throws -> HTTPResult {
            try await client.request(
                .POST, "/v1/accounts/\(accountID)/entries", json: body, token: token, headers: [("Idempotency-Key", key)])
        }
        let credit = try await post(["type": "credit", "amount_cents": 10_000, "description": "venda"], key: "k1", token: owner)
        #expect(credit.status == 201, "\(credit.text)")
        #expect(credit.json["sequence"] as? Int == 1)
        let replay = try await post(["type": "credit", "amount_cents": 10_000, "description": "venda"], key: "k1", token: owner)
        #expect(replay.status == 201 && replay.headers.first(name: "Idempotent-Replayed") == "true")
        #expect(replay.json["id"] as? String == credit.json["id"] as? String, "the same entry, not a second one")
        let debit = try await post(["type": "debit", "amount_cents": 2_500, "category": "fornecedor"], key: "k2", token: owner)
        #expect(debit.status == 201 && debit.json["sequence"] as? Int == 2, "\(debit.text)")
        let fractional = try await post(["type": "credit", "amount_cents": 10.5], key: "k3", token: owner)
        #expect(fractional.status == 422 && fractional.json["code"] as? String == "invalid_amount", "\(fractional.text)")

        #expect(try await client.request(.GET, "/v1/accounts/\(accountID)", token: stranger).status == 404)
        #expect(try await post(["type": "credit", "amount_cents": 1], key: "k4", token: stranger).status == 404)

        let debitID = try #require(debit.json["id"] as? String)
        let reversal = try await client.request(
            .POST, "/v1/entries/\(debitID)/reversal", json: [:], token: owner, headers: [("Idempotency-Key", "r1")])
        #expect(reversal.status == 201 && reversal.json["type"] as? String == "credit", "\(reversal.text)")
        #expect(reversal.json["reverses_entry_id"] as? String == debitID && reversal.json["sequence"] as? Int == 3)
        let again = try await client.request(
            .POST, "/v1/entries/\(debitID)/reversal", json: [:], token: owner, headers: [("Idempotency-Key", "r2")])
        #expect(again.status == 409 && again.json["code"] as? String == "already_reversed", "\(again.text)")

        let listed = try await client.request(.GET, "/v1/accounts/\(accountID)/entries", token: owner)
        let items = try #require(listed.json["items"] as? [[String: Any]], "\(listed.text)")
        #expect(items.compactMap { $0["sequence"] as? Int } == [1, 2, 3])
        let net = items.reduce(0) { total, item in
            let amount = item["amount_cents"] as? Int ?? 0
            return total + (item["type"] as? String == "credit" ? amount : -amount)
        }
        #expect(net == 10_000, "credit 10,000, debit 2,500 and its reversal")

        // Every event left the ledger's outbox for the bus (the relay runs in `up`).
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let ledger = try await SQLiteStore.open(path: sandbox.dataDir + "/ledger.sqlite", logger: logger)
        defer { Task { await ledger.close() } }
        var pending = -1
        for _ in 0..<100 {
            pending = try await ledger.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM outbox").first()?.decode(column: "n", as: Int.self) ?? -1
            }
            if pending == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(pending == 0, "the ledger's outbox drains")
    }
}
