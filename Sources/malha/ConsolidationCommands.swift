import ArgumentParser
import Foundation
import MalhaClient

/// `malha consolidation …`: verify and rebuild the cash-flow balances from the ledger, through
/// the gateway's admin API (`POST /v1/admin/consolidation/rebuild`) as a finance user or an admin.
struct ConsolidationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consolidation",
        abstract: "Cash-flow balances: verify them against the ledger, or rebuild them from it.",
        subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild (or with --verify only compare) an account's daily balances from the ledger's entries.",
            discussion: """
                Whole account by default; one day with --date, or a range with --from/--to (days before the range \
                are trusted, days after it re-chained). --all-accounts does every account the user sees. Signs in \
                with --email/--password, MALHA_TOKEN, or the demo admin of `malha up` (<data-dir>/demo-admin.txt). \
                Exit status 1 when --verify finds a difference, so it fits a cron check.
                """)

        @Option(help: "The gateway.") var url = "http://127.0.0.1:8080"
        @Option(help: "The account id.") var account: String?
        @Flag(help: "Every account the signed-in user can see (finance and admins: all).") var allAccounts = false
        @Option(help: "One business day, YYYY-MM-DD.") var date: String?
        @Option(help: "First business day of the range.") var from: String?
        @Option(help: "Last business day of the range.") var to: String?
        @Flag(help: "Compare and report only; write nothing.") var verify = false
        @Option(help: "A finance user's or admin's e-mail.") var email: String?
        @Option(help: "Their password.") var password: String?
        @Option(help: "Where `malha up` keeps its data (for the demo admin).") var dataDir = "./data"

        func validate() throws {
            if (account == nil) == !allAccounts { throw ValidationError("give --account ID or --all-accounts") }
            if date != nil, from != nil || to != nil { throw ValidationError("--date or --from/--to, not both") }
        }

        func run() async throws {
            try await APIClient.with(base: url) { client in try await rebuild(through: client) }
        }

        func rebuild(through client: APIClient) async throws {
            let token = try await signIn(client)
            let accounts = try await allAccounts ? listAccounts(client, token: token) : [account!]
            var inconsistent = 0
            for id in accounts {
                var body: [String: Any] = ["account_id": id, "verify": verify]
                if let date { body["date"] = date }
                if let from { body["from"] = from }
                if let to { body["to"] = to }
                let result = try await client.send(.POST, "/v1/admin/consolidation/rebuild", json: body, token: token)
                guard result.status == 200 else {
                    throw ValidationError("account \(id): \(result.status) \(result.text)")
                }
                let report = result.json
                let consistent = report["consistent"] as? Bool == true
                if !consistent { inconsistent += 1 }
                let differences = (report["differences"] as? [Any])?.count ?? 0
                let state = consistent ? "consistent" : (report["repaired"] as? Bool == true ? "repaired" : "DIFFERENT")
                print(
                    "\(id): \(state) — \(report["ledger_entries"] ?? 0) ledger entries, \(report["days_checked"] ?? 0) days, "
                        + "\(differences) days differ, \(report["missing_entry_count"] ?? 0) missing, "
                        + "\(report["unexpected_entry_count"] ?? 0) unexpected")
                if !consistent, accounts.count == 1,
                    let pretty = try? JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
                {
                    print(String(decoding: pretty, as: UTF8.self))
                }
            }
            print("\(accounts.count) accounts, \(inconsistent) with differences\(verify ? "" : " (rebuilt)")")
            if verify, inconsistent > 0 { throw ExitCode(1) }
        }

        func signIn(_ client: APIClient) async throws -> String {
            if let email, let password { return try await client.login(email, password) }
            if let token = ProcessInfo.processInfo.environment["MALHA_TOKEN"], !token.isEmpty { return token }
            guard let admin = Topology.demoAdmin(in: dataDir) else {
                throw ValidationError(
                    "no credentials: pass --email and --password, set MALHA_TOKEN, or --data-dir of `malha up` "
                        + "(\(Topology.demoAdminFile(in: dataDir).path) holds no e-mail and password)")
            }
            return try await client.login(admin.email, admin.password)
        }

        func listAccounts(_ client: APIClient, token: String) async throws -> [String] {
            var ids: [String] = []
            var cursor: String?
            repeat {
                let path = "/v1/accounts?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.send(.GET, path, token: token)
                guard page.status == 200 else { throw ValidationError("listing accounts: \(page.status) \(page.text)") }
                ids += ((page.json["items"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            return ids
        }
    }
}
