import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Testing

@testable import Ledger

@Suite("Ledger accounts", .serialized)
struct LedgerAccountTests {
    @Test func openAPIDescribesExactlyTheRoutes() async throws {
        try await TestDatabases.withSQLite { store in
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger)
            let router = LedgerService.buildRouter(runtime: runtime, store: store, verifier: await TestTokens.make().verifier)
            let routes = Set(router.routes.map { "\($0.method) \($0.path)" })
            #expect(routes == LedgerService.openAPI.routeKeys)
            // Append-only: nothing on the surface changes or removes what was recorded.
            #expect(Set(router.routes.map { "\($0.method)" }).isSubset(of: ["GET", "POST"]))
        }
        // People on every method; a `ledger.read` client on reads alone (the GET rule comes first).
        let reads = AccessPolicy.authenticated.orScopes(["ledger.read"])
        #expect(
            LedgerService.routeRules.map { "\($0.prefix) \($0.methods ?? ["*"]) \($0.policy.wire)" } == [
                "/v1/accounts [\"GET\"] \(reads.wire)", "/v1/accounts [\"*\"] authenticated",
                "/v1/entries [\"GET\"] \(reads.wire)", "/v1/entries [\"*\"] authenticated",
            ])
    }

    @Test func opensAnAccountWithDefaultsAndPublishesIt() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let response = try await client.send(.post, "/v1/accounts", headers: ana, json: #"{"name": "  Caixa loja 1  "}"#)
                #expect(response.status == .created)
                let account = try response.decode(LedgerAccount.self)
                #expect(account.name == "Caixa loja 1", "trimmed")
                #expect(account.ownerID == "ana")
                #expect(account.currency == "BRL" && account.timezone == "America/Sao_Paulo")
                #expect(sameMillisecond(account.createdAt, testNow))
                #expect(UUID(uuidString: account.id)?.uuidString.lowercased() == account.id)
                #expect(response.headers[.location] == "/v1/accounts/\(account.id)")
                let json = try #require(
                    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                #expect(Set(json.keys) == ["id", "owner_id", "name", "currency", "timezone", "created_at", "last_sequence"])
                #expect(json["last_sequence"] as? Int == 0, "no entry yet")

                let read = try await client.send(.get, "/v1/accounts/\(account.id)", headers: ana)
                #expect(read.status == .ok)
                #expect(try read.decode(LedgerAccount.self) == account)

                let explicit = try await client.openAccount(ana, name: "Tokyo", timezone: "Asia/Tokyo", currency: "JPY")
                #expect(explicit.currency == "JPY" && explicit.timezone == "Asia/Tokyo")

                // Each opening is published once, keyed by its account, with what was stored.
                let outbox = try await harness.outbox()
                #expect(outbox.map(\.type) == [LedgerAccountOpened.type, LedgerAccountOpened.type])
                #expect(outbox.map(\.key) == [account.id, explicit.id])
                #expect(outbox.allSatisfy { $0.source == "ledger" })
                let opened = try outbox[0].decode(LedgerAccountOpened.self)
                #expect(
                    opened.accountID == account.id && opened.ownerID == "ana" && opened.name == "Caixa loja 1"
                        && opened.currency == "BRL" && opened.timezone == "America/Sao_Paulo")
                #expect(sameMillisecond(opened.openedAt, account.createdAt))
            }
        }
    }

    /// The hole: a client token made for `catalog.read`, with no role, opened ledger accounts (201).
    /// The ledger checks again what the gateway checked: a service client passes only by a scope
    /// the route names, and the ledger's routes name none.
    @Test func aServiceClientTokenForAnotherScopeOpensNothing() async throws {
        try await LedgerHarness.run { harness in
            let client = try await harness.tokens.clientHeaders("shop-sync", scopes: ["catalog.read"])
            try await harness.test { http in
                let opened = try await http.send(.post, "/v1/accounts", headers: client, json: #"{"name": "Caixa"}"#)
                #expect(opened.status == .forbidden)
                #expect(String(buffer: opened.body).contains("forbidden"))
                #expect(try await http.send(.get, "/v1/accounts", headers: client).status == .forbidden)
            }
            #expect(try await harness.count("ledger_accounts") == 0, "nothing was written")
        }
    }

    /// The consolidation's token (`ledger.read`, no role) reads any one account and its entries,
    /// and nothing else: no list of accounts, no entry recorded or reversed. Another scope reads
    /// nothing.
    @Test func aLedgerReadClientReadsOneAccountAndWritesNothing() async throws {
        try await LedgerHarness.run { harness in
            let owner = try await harness.headers("ana")
            let reader = try await harness.tokens.clientHeaders("consolidation", scopes: ["ledger.read"])
            let other = try await harness.tokens.clientHeaders("shop-sync", scopes: ["catalog.read"])
            try await harness.test { http in
                let account = try await http.openAccount(owner)
                let entry = try await http.record(
                    #"{"type": "credit", "amount_cents": 500, "description": "Venda"}"#, on: account.id, headers: owner,
                    key: "e1")
                #expect(try await http.send(.get, "/v1/accounts/\(account.id)", headers: reader).status == .ok)
                let entries = try await http.send(.get, "/v1/accounts/\(account.id)/entries", headers: reader)
                #expect(entries.status == .ok)
                #expect(try entries.decode(PageBody<LedgerEntry>.self).items.map(\.id) == [entry.id])
                #expect(try await http.send(.get, "/v1/entries/\(entry.id)", headers: reader).status == .ok)

                #expect(try await http.send(.get, "/v1/accounts", headers: reader).status == .forbidden)
                var write = reader
                write[.idempotencyKey] = "w1"
                let recorded = try await http.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: write,
                    json: #"{"type": "debit", "amount_cents": 100, "description": "x"}"#)
                #expect(recorded.status == .forbidden)
                #expect(
                    try await http.send(.post, "/v1/entries/\(entry.id)/reversal", headers: write).status == .forbidden)
                for path in ["/v1/accounts/\(account.id)", "/v1/accounts/\(account.id)/entries", "/v1/entries/\(entry.id)"] {
                    #expect(try await http.send(.get, path, headers: other).status == .forbidden, "\(path)")
                }
            }
            #expect(try await harness.count("ledger_entries") == 1, "nothing was written by the reader")
        }
    }

    @Test func refusesInvalidAccountsWithoutWritingAnything() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let invalid: [(body: String, fields: Set<String>)] = [
                (#"{}"#, ["name"]),
                (#"{"name": "   "}"#, ["name"]),
                (#"{"name": "\#(String(repeating: "x", count: 201))"}"#, ["name"]),
                (#"{"name": "Caixa", "currency": "brl"}"#, ["currency"]),
                (#"{"name": "Caixa", "currency": "BR"}"#, ["currency"]),
                (#"{"name": "Caixa", "currency": "BRLX"}"#, ["currency"]),
                (#"{"name": "Caixa", "currency": "R$1"}"#, ["currency"]),
                (#"{"name": "Caixa", "timezone": "Mars/Olympus_Mons"}"#, ["timezone"]),
                (#"{"name": "Caixa", "timezone": ""}"#, ["timezone"]),
                (#"{"name": "", "currency": "", "timezone": "Nowhere"}"#, ["name", "currency", "timezone"]),
                (#"{"name": 5}"#, ["name"]),
            ]
            try await harness.test { client in
                for (body, fields) in invalid {
                    let response = try await client.send(.post, "/v1/accounts", headers: ana, json: body)
                    #expect(response.status == .unprocessableContent, "\(body)")
                    #expect(response.problem?.code == "validation_failed", "\(body)")
                    #expect(Set(response.problem?.errors?.map(\.field) ?? []) == fields, "\(body)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                let malformed = try await client.send(.post, "/v1/accounts", headers: ana, json: #"{"name": "#)
                #expect(malformed.status == .badRequest && malformed.problem?.code == "malformed_json")
                var textHeaders = ana
                textHeaders[.contentType] = "text/plain"
                let text = try await client.send(.post, "/v1/accounts", headers: textHeaders, json: #"{"name": "Caixa"}"#)
                #expect(text.status == .unsupportedMediaType && text.problem?.code == "unsupported_media_type")
                let notAnObject = try await client.send(.post, "/v1/accounts", headers: ana, json: "[1, 2]")
                #expect(notAnObject.status == .unprocessableContent)
                #expect(try await client.send(.post, "/v1/accounts", json: #"{"name": "Caixa"}"#).status == .unauthorized)
            }
            #expect(try await harness.count("ledger_accounts") == 0)
            #expect(try await harness.outbox().isEmpty)

            try await harness.test { client in
                let longest = try await client.openAccount(ana, name: String(repeating: "é", count: 200))
                #expect(longest.name.count == 200, "200 characters is the limit, not 200 bytes")
            }
        }
    }

    @Test func ownersFinanceAndAdministratorsSeeAnAccountAndNobodyElse() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let bia = try await harness.headers("bia")
            let finance = try await harness.headers("fin", roles: [Role.finance])
            let admin = try await harness.headers("root", roles: [Role.admin])
            try await harness.test { client in
                var anas: [LedgerAccount] = []
                for index in 0..<3 {
                    anas.append(try await client.openAccount(ana, name: "Ana \(index)"))
                    harness.clock.advance(by: .seconds(1))  // ids are UUIDv7: one per millisecond keeps the order plain
                }
                let bias = try await client.openAccount(bia, name: "Bia")
                let account = anas[0]

                #expect(try await client.send(.get, "/v1/accounts/\(account.id)", headers: ana).status == .ok)
                #expect(try await client.send(.get, "/v1/accounts/\(account.id)", headers: finance).status == .ok)
                #expect(try await client.send(.get, "/v1/accounts/\(account.id)", headers: admin).status == .ok)
                let stranger = try await client.send(.get, "/v1/accounts/\(account.id)", headers: bia)
                #expect(stranger.status == .notFound && stranger.problem?.code == "not_found", "404, not 403")
                #expect(try await client.send(.get, "/v1/accounts/\(account.id)").status == .unauthorized)
                #expect(try await client.send(.get, "/v1/accounts/not-an-id", headers: ana).status == .notFound)
                #expect(try await client.send(.get, "/v1/accounts/\(UUID.v7().lowercased)", headers: ana).status == .notFound)

                // Lists: one's own, newest first, in pages; finance and admin see everyone's.
                let first = try await client.send(.get, "/v1/accounts?limit=2", headers: ana)
                    .decode(PageBody<LedgerAccount>.self)
                #expect(first.items.map(\.id) == [anas[2].id, anas[1].id])
                let cursor = try #require(first.nextCursor)
                let second = try await client.send(.get, "/v1/accounts?limit=2&cursor=\(cursor)", headers: ana)
                    .decode(PageBody<LedgerAccount>.self)
                #expect(second.items.map(\.id) == [anas[0].id])
                #expect(second.nextCursor == nil)
                let own = try await client.send(.get, "/v1/accounts", headers: bia).decode(PageBody<LedgerAccount>.self)
                #expect(own.items.map(\.id) == [bias.id])
                let everyone = try await client.send(.get, "/v1/accounts", headers: finance).decode(PageBody<LedgerAccount>.self)
                #expect(everyone.items.map(\.id) == [bias.id, anas[2].id, anas[1].id, anas[0].id])
                let anasByFinance = try await client.send(.get, "/v1/accounts?owner_id=ana", headers: finance)
                    .decode(PageBody<LedgerAccount>.self)
                #expect(anasByFinance.items.map(\.id) == [anas[2].id, anas[1].id, anas[0].id])
                let byAdmin = try await client.send(.get, "/v1/accounts?owner_id=bia", headers: admin)
                    .decode(PageBody<LedgerAccount>.self)
                #expect(byAdmin.items.map(\.id) == [bias.id])
                #expect(try await client.send(.get, "/v1/accounts?owner_id=bia", headers: bia).status == .ok)
                let forbidden = try await client.send(.get, "/v1/accounts?owner_id=ana", headers: bia)
                #expect(forbidden.status == .forbidden && forbidden.problem?.code == "forbidden")

                let badCursor = try await client.send(.get, "/v1/accounts?cursor=garbage", headers: ana)
                #expect(badCursor.status == .badRequest && badCursor.problem?.code == "invalid_cursor")
                for limit in ["0", "101", "ten"] {
                    let response = try await client.send(.get, "/v1/accounts?limit=\(limit)", headers: ana)
                    #expect(response.status == .unprocessableContent, "limit \(limit)")
                    #expect(response.problem?.errors?.map(\.field) == ["limit"])
                }
            }
        }
    }
}
