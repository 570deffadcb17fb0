import AsyncHTTPClient
import Foundation
import MalhaTesting
import Testing

/// Cash flow on a running `malha up`, through the gateway, as the people who keep the books use
/// it: entries in the ledger, daily balances from the consolidation. On SQLite (embedded
/// defaults) and with the ledger, the consolidation and the bus on PostgreSQL.
@Suite(.serialized, .timeLimit(.minutes(15)))
struct CashFlowSystemTests {
    static let services = ["bus", "ledger", "consolidation"]

    @Test func balancesOnSQLite() async throws {
        try await balancesFlow(databaseURLs: [:])
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func balancesOnPostgreSQL() async throws {
        try await CheckoutSystemTests().withPostgresDatabases(Self.services) { try await balancesFlow(databaseURLs: $0) }
    }

    @Test func killedMidLoadOnSQLite() async throws {
        try await killedMidLoad(databaseURLs: [:])
    }

    @Test(.enabled(if: TestDatabases.postgresURL != nil))
    func killedMidLoadOnPostgreSQL() async throws {
        try await CheckoutSystemTests().withPostgresDatabases(Self.services) { try await killedMidLoad(databaseURLs: $0) }
    }

    /// `malha-bench load cashflow` at a fixed rate; SIGKILL of `malha up` in the middle, then a restart.
    /// The tool sends every unanswered entry again with its key until it gets an answer, then
    /// reconciles every accepted entry against the balances and the ledger: none lost, none twice.
    func killedMidLoad(databaseURLs: [String: String]) async throws {
        var shop = try await Shop.start("cashflow-killed", databaseURLs: databaseURLs)
        defer { shop.up.terminate() }
        let output = shop.sandbox.directory.appendingPathComponent("load.json")
        let load = try MalhaProcess(
            MalhaProcess.benchBinary,
            arguments: [
                "load", "cashflow", "--url", shop.sandbox.baseURL, "--rate", "60", "--duration", "20", "--accounts", "4",
                "--days", "3", "--retry-for", "120", "--settle", "120", "--output", output.path,
            ], environment: [:], name: "load", logDirectory: shop.sandbox.directory)
        defer { load.terminate() }
        // The kill comes 4 s in; the rest of the 20 s runs on the restarted system. A restart of
        // every service on PostgreSQL takes up to ~10 s on a busy machine, and with 12 s of load
        // the entries accepted depended on that time more than on the system (193 to 720 of 720
        // in one day's runs): the load now outlasts the restart.
        try await Task.sleep(for: .seconds(4))
        shop.up.kill9()
        try await Task.sleep(for: .seconds(1))
        shop = try await shop.restart()

        let deadline = ContinuousClock.now + .seconds(300)
        while load.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        try #require(!load.process.isRunning, "the load tool did not finish: \(load.log.suffix(2000))")
        #expect(load.process.terminationStatus == 0, "\(load.log.suffix(3000))")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any], "\(load.log.suffix(2000))")
        let check = try #require(summary["check"] as? [String: Any])
        #expect((summary["accepted"] as? Int ?? 0) > 300, "\(summary)")
        #expect(check["lost"] as? Int == 0 && check["duplicated"] as? Int == 0, "\(check)")
        #expect(check["mismatchedDays"] as? Int == 0 && check["notInLedger"] as? Int == 0, "\(check)")
        #expect(summary["unresolved"] as? Int == 0 && summary["caughtUp"] as? Bool == true, "\(summary)")
    }

    /// Entries show up in the day's balance; a debit lowers it; a reversal cancels its entry; an
    /// entry dated yesterday corrects yesterday and today. Amounts are integers or refused. Then
    /// the balance endpoint at 50 requests a second: no error.
    func balancesFlow(databaseURLs: [String: String]) async throws {
        let shop = try await Shop.start("cashflow", databaseURLs: databaseURLs)
        defer { shop.up.terminate() }
        let client = shop.client
        let owner = try await shop.customer("caixa@example.com")
        let stranger = try await shop.customer("curioso@example.com")
        let opened = try await client.request(.POST, "/v1/accounts", json: ["name": "Caixa da loja"], token: owner)
        let account = try #require(opened.json["id"] as? String, "\(opened.text)")

        var keys = 0
        func record(_ body: [String: Any]) async throws -> HTTPResult {
            keys += 1
            return try await client.request(
                .POST, "/v1/accounts/\(account)/entries", json: body, token: owner, headers: [("Idempotency-Key", "k\(keys)")])
        }
        let zone = TimeZone(identifier: "America/Sao_Paulo")!
        let today = Self.day(Date(), in: zone)
        let yesterday = Self.day(Date().addingTimeInterval(-86_400), in: zone)
        func balance(_ date: String, until check: @escaping ([String: Any]) -> Bool) async throws -> [String: Any] {
            let result = try await client.eventually("/v1/accounts/\(account)/balances/\(date)", token: owner) {
                $0.status == 200 && check($0.json)
            }
            return result?.json ?? [:]
        }

        #expect(try await record(["type": "credit", "amount_cents": 10_000, "description": "vendas"]).status == 201)
        let credited = try await balance(today) { $0["closing_balance_cents"] as? Int == 10_000 }
        #expect(credited["credits_cents"] as? Int == 10_000 && credited["entry_count"] as? Int == 1, "\(credited)")

        let debit = try await record(["type": "debit", "amount_cents": 2_500, "category": "fornecedor"])
        #expect(debit.status == 201)
        let debited = try await balance(today) { $0["closing_balance_cents"] as? Int == 7_500 }
        #expect(debited["debits_cents"] as? Int == 2_500 && debited["net_cents"] as? Int == 7_500, "a debit lowers: \(debited)")

        let debitID = try #require(debit.json["id"] as? String)
        let reversal = try await client.request(
            .POST, "/v1/entries/\(debitID)/reversal", json: [:], token: owner, headers: [("Idempotency-Key", "rev")])
        #expect(reversal.status == 201)
        let reversed = try await balance(today) { $0["closing_balance_cents"] as? Int == 10_000 }
        #expect(reversed["entry_count"] as? Int == 3, "the reversal cancels the debit: \(reversed)")

        let late = try await record(["type": "credit", "amount_cents": 700, "occurred_at": "\(yesterday)T15:00:00Z"])
        #expect(late.status == 201 && late.json["business_date"] as? String == yesterday, "\(late.text)")
        let corrected = try await balance(today) { $0["opening_balance_cents"] as? Int == 700 }
        #expect(corrected["closing_balance_cents"] as? Int == 10_700, "yesterday's entry moves today: \(corrected)")
        let previous = try await balance(yesterday) { $0["closing_balance_cents"] as? Int == 700 }
        #expect(previous["opening_balance_cents"] as? Int == 0 && previous["entry_count"] as? Int == 1)
        let range = try await client.request(
            .GET, "/v1/accounts/\(account)/balances?from=\(yesterday)&to=\(today)", token: owner)
        let days = try #require(range.json["days"] as? [[String: Any]], "\(range.text)")
        #expect(days.compactMap { $0["closing_balance_cents"] as? Int } == [700, 10_700])
        let freshness = try #require(range.json["freshness"] as? [String: Any])
        #expect(freshness["complete_through_sequence"] as? Int == 4 && freshness["pending_out_of_order"] as? Int == 0)

        // Amounts: positive JSON integers up to 10^11, nothing else, and nothing written.
        for amount: Any in [0, -100, 10.5, 100_000_000_001, "100"] {
            let refused = try await record(["type": "credit", "amount_cents": amount])
            #expect(refused.status == 422 && refused.json["code"] as? String == "invalid_amount", "\(amount): \(refused.text)")
        }
        #expect(try await client.request(.GET, "/v1/accounts/\(account)/balances/\(today)", token: stranger).status == 404)
        let badDate = try await client.request(.GET, "/v1/accounts/\(account)/balances/2026-02-30", token: owner)
        #expect(badDate.status == 422 && badDate.json["code"] as? String == "invalid_date")

        // A client that has the figures revalidates with the ETag and gets 304.
        let current = try await client.request(.GET, "/v1/accounts/\(account)/balances/\(today)", token: owner)
        let etag = try #require(current.headers.first(name: "ETag"))
        let revalidated = try await client.request(
            .GET, "/v1/accounts/\(account)/balances/\(today)", token: owner, headers: [("If-None-Match", etag)])
        #expect(revalidated.status == 304 && revalidated.body.isEmpty)

        // Finance verifies the account against the ledger: consistent.
        let admin = try await shop.adminToken()
        let verified = try await client.request(
            .POST, "/v1/admin/consolidation/rebuild", json: ["account_id": account, "verify": true], token: admin)
        #expect(verified.status == 200 && verified.json["consistent"] as? Bool == true, "\(verified.text)")
        #expect(verified.json["ledger_entries"] as? Int == 4)
        #expect(verified.json["from"] is NSNull && verified.json["to"] is NSNull, "open ends are null, not absent")

        // The peak the challenge names, 50 balance requests a second (bounded here; a full
        // minute and far more in scripts/bench/cashflow): every one answers 200.
        let errors = try await Self.readAtRate(
            50, seconds: 10, client: client,
            paths: [
                "/v1/accounts/\(account)/balances/\(today)",
                "/v1/accounts/\(account)/balances/\(yesterday)",
                "/v1/accounts/\(account)/balances?from=\(yesterday)&to=\(today)",
            ], token: owner)
        #expect(errors == [], "balance reads that failed: \(errors.prefix(5))")
    }

    /// `rate` GETs a second for `seconds`, each at its scheduled time; returns the failures.
    static func readAtRate(
        _ rate: Int, seconds: Int, client: TestClient, paths: [String], token: String
    ) async throws -> [String] {
        let start = ContinuousClock.now
        return await withTaskGroup(of: String?.self) { group in
            for index in 0..<(rate * seconds) {
                let due = start + .milliseconds(index * 1000 / rate)
                group.addTask {
                    try? await Task.sleep(until: due)
                    let path = paths[index % paths.count]
                    do {
                        let result = try await client.request(.GET, path, token: token)
                        return result.status == 200 ? nil : "\(path): \(result.status) \(result.text)"
                    } catch {
                        return "\(path): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
    }

    static func day(_ date: Date, in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}
