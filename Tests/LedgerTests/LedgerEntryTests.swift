import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Synchronization
import Testing

@testable import Ledger

@Suite("Ledger entries", .serialized)
struct LedgerEntryTests {
    @Test func recordsEntriesNumberedPerAccountWithBusinessDatesInTheAccountsTimeZone() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let caixa = try await client.openAccount(ana)
                let tokyo = try await client.openAccount(ana, name: "Tokyo", timezone: "Asia/Tokyo")

                let late = try await client.record(
                    #"{"type": "credit", "amount_cents": 15000, "description": "  Venda balcão  ", "category": " vendas ", "#
                        + #""occurred_at": "2026-03-10T01:30:00Z"}"#,
                    on: caixa.id, headers: ana, key: "e1")
                #expect(late.sequence == 1 && late.type == .credit && late.amountCents == 15_000 && late.currency == "BRL")
                #expect(late.businessDate == "2026-03-09", "22:30 of the 9th in São Paulo")
                #expect(late.description == "Venda balcão" && late.category == "vendas", "trimmed")
                #expect(late.occurredAt == Date(timeIntervalSince1970: 1_773_106_200))
                #expect(late.accountID == caixa.id && late.reversesEntryID == nil)
                #expect(sameMillisecond(late.createdAt, testNow))

                let fractional = try await client.record(
                    #"{"type": "debit", "amount_cents": 2500, "occurred_at": "2026-03-10T03:00:00.250Z"}"#,
                    on: caixa.id, headers: ana, key: "e2")
                #expect(fractional.sequence == 2 && fractional.type == .debit && fractional.businessDate == "2026-03-10")
                #expect(sameMillisecond(fractional.occurredAt, Date(timeIntervalSince1970: 1_773_111_600.25)))
                #expect(fractional.description == nil && fractional.category == nil)

                let now = try await client.record(
                    #"{"type": "credit", "amount_cents": 1, "description": "   "}"#, on: caixa.id, headers: ana, key: "e3")
                #expect(now.sequence == 3 && now.businessDate == "2026-03-10" && now.description == nil)
                #expect(sameMillisecond(now.occurredAt, testNow), "no occurred_at: now")

                // Another account counts from 1, and its days in its own zone (UTC+9).
                let abroad = try await client.record(
                    #"{"type": "credit", "amount_cents": 700, "occurred_at": "2026-03-10T16:00:00Z"}"#,
                    on: tokyo.id, headers: ana, key: "e4")
                #expect(abroad.sequence == 1 && abroad.businessDate == "2026-03-11")

                // The entry reads back as recorded, with every field on the wire (null when absent).
                let read = try await client.send(.get, "/v1/entries/\(fractional.id)", headers: ana)
                #expect(read.status == .ok)
                #expect(try read.decode(LedgerEntry.self) == fractional)
                let json = try #require(
                    try JSONSerialization.jsonObject(with: Data(read.body.readableBytesView)) as? [String: Any])
                #expect(
                    Set(json.keys) == [
                        "id", "account_id", "sequence", "type", "amount_cents", "currency", "description", "category",
                        "occurred_at", "business_date", "reverses_entry_id", "created_at",
                    ])
                #expect(json["description"] is NSNull && json["reverses_entry_id"] is NSNull)
                #expect(json["amount_cents"] as? Int == 2500 && json["occurred_at"] as? String == "2026-03-10T03:00:00.250Z")

                #expect(
                    try await harness.allEntries().map(\.id).sorted() == [late.id, fractional.id, now.id, abroad.id].sorted())
                #expect(try await harness.nextSequence(of: caixa.id) == 4)
                #expect(try await harness.nextSequence(of: tokyo.id) == 2)
            }
        }
    }

    @Test("Same key and body → same entry (replayed); other body → 422; running → 409; no key → 400")
    func idempotencyKeys() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let other = try await client.openAccount(ana, name: "Outra")
                let path = "/v1/accounts/\(account.id)/entries"
                let body = #"{"type": "credit", "amount_cents": 9990, "category": "vendas"}"#

                var response = try await client.send(.post, path, headers: ana, json: body)
                #expect(response.status == .badRequest && response.problem?.code == "idempotency_key_required")
                var spaced = ana
                spaced[.idempotencyKey] = "has space"
                response = try await client.send(.post, path, headers: spaced, json: body)
                #expect(response.status == .badRequest && response.problem?.code == "invalid_idempotency_key")

                let keyed = try await harness.headers("ana", key: "k1")
                response = try await client.send(.post, path, headers: keyed, json: body)
                #expect(response.status == .created)
                #expect(response.headers[.idempotentReplayed] == nil)
                let entry = try response.decode(LedgerEntry.self)
                #expect(response.headers[.location] == "/v1/entries/\(entry.id)")

                // A retry, even a minute later and with the keys in another order, is the same request.
                harness.clock.advance(by: .seconds(60))
                response = try await client.send(
                    .post, path, headers: keyed, json: #"{"category": "vendas", "amount_cents": 9990, "type": "credit"}"#)
                #expect(response.status == .created)
                #expect(response.headers[.idempotentReplayed] == "true")
                #expect(response.headers[.location] == "/v1/entries/\(entry.id)", "a replay is the first answer, headers too")
                #expect(try response.decode(LedgerEntry.self) == entry)

                for (changed, why) in [
                    (#"{"type": "credit", "amount_cents": 9991, "category": "vendas"}"#, "another amount"),
                    (#"{"type": "debit", "amount_cents": 9990, "category": "vendas"}"#, "another type"),
                    (#"{"type": "credit", "amount_cents": 9990}"#, "no category"),
                ] {
                    response = try await client.send(.post, path, headers: keyed, json: changed)
                    #expect(response.status == .unprocessableContent, "\(why)")
                    #expect(response.problem?.code == "idempotency_key_reused", "\(why)")
                }
                response = try await client.send(.post, "/v1/accounts/\(other.id)/entries", headers: keyed, json: body)
                #expect(response.problem?.code == "idempotency_key_reused", "the same key on another account")

                // A key whose first request is still running → 409.
                let draft = EntryDraft(type: .credit, amountCents: 9990, description: nil, category: "vendas", occurredAt: nil)
                _ = try await IdempotencyKeys.claim(
                    scope: "ledger:ana", key: "k2", requestHash: RequestFingerprint.entry(draft, accountID: account.id),
                    now: harness.clock.now(), in: harness.store)
                response = try await client.send(.post, path, headers: try await harness.headers("ana", key: "k2"), json: body)
                #expect(response.status == .conflict && response.problem?.code == "idempotency_key_in_use")

                // Keys are per caller: finance's "k1" is its own.
                response = try await client.send(
                    .post, path, headers: try await harness.headers("fin", roles: [Role.finance], key: "k1"), json: body)
                #expect(response.status == .created && response.headers[.idempotentReplayed] == nil)
                let financeEntry = try response.decode(LedgerEntry.self)
                #expect(financeEntry.id != entry.id && financeEntry.sequence == 2)
            }
            // Two entries, each with exactly one event; the refused requests left nothing.
            #expect(try await harness.allEntries().map(\.sequence) == [1, 2])
            #expect(try await harness.outbox().filter { $0.type == LedgerEntryRecorded.type }.count == 2)
            #expect(try await harness.count("idempotency_keys", where: "state = 'done'") == 2)
        }
    }

    @Test("amount_cents: a JSON integer from 1 to 10^11 — anything else is 422 invalid_amount and writes nothing")
    func amounts() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let refused = [
                "0", "-5", "10.5", #""10""#, "100000000001", "null", "true", "1e30", "9223372036854775808",
                "1.0000000000000001", "0.5", "-0", "[]", "{}",
            ]
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                for (index, amount) in refused.enumerated() {
                    let response = try await client.send(
                        .post, "/v1/accounts/\(account.id)/entries", headers: try await harness.headers("ana", key: "a\(index)"),
                        json: #"{"type": "credit", "amount_cents": \#(amount)}"#)
                    #expect(response.status == .unprocessableContent, "\(amount)")
                    #expect(response.problem?.code == "invalid_amount", "\(amount)")
                    #expect(response.problem?.errors?.map(\.field) == ["amount_cents"], "\(amount)")
                }
                let missing = try await client.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: try await harness.headers("ana", key: "m"),
                    json: #"{"type": "debit"}"#)
                #expect(missing.status == .unprocessableContent && missing.problem?.code == "invalid_amount")
                let alsoBadType = try await client.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: try await harness.headers("ana", key: "t"),
                    json: #"{"type": "transfer", "amount_cents": 0}"#)
                #expect(alsoBadType.problem?.code == "invalid_amount")
                #expect(Set(alsoBadType.problem?.errors?.map(\.field) ?? []) == ["type", "amount_cents"])
            }
            #expect(try await harness.count("ledger_entries") == 0)
            #expect(try await harness.outbox().map(\.type) == [LedgerAccountOpened.type])
            #expect(try await harness.count("idempotency_keys") == 0, "refused before a key is claimed")

            try await harness.test { client in
                let account = try #require(
                    try await client.send(.get, "/v1/accounts", headers: ana)
                        .decode(PageBody<LedgerAccount>.self).items.first)
                let largest = try await client.record(
                    #"{"type": "credit", "amount_cents": 100000000000}"#, on: account.id, headers: ana, key: "max")
                #expect(largest.amountCents == 100_000_000_000)
                let smallest = try await client.record(
                    #"{"type": "debit", "amount_cents": 1}"#, on: account.id, headers: ana, key: "min")
                #expect(smallest.amountCents == 1 && smallest.sequence == 2)
            }
        }
    }

    @Test("Bad input is a 4xx problem with a stable code, never a 500, and never a partial write")
    func badInput() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let bia = try await harness.headers("bia")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let path = "/v1/accounts/\(account.id)/entries"
                let cases: [(body: String, status: HTTPResponse.Status, code: String, fields: Set<String>)] = [
                    ("{", .badRequest, "malformed_json", []),
                    ("", .badRequest, "malformed_json", []),
                    (#"{"type": "transfer", "amount_cents": 100}"#, .unprocessableContent, "validation_failed", ["type"]),
                    (#"{"amount_cents": 100}"#, .unprocessableContent, "validation_failed", ["type"]),
                    (#"{"type": 1, "amount_cents": 100}"#, .unprocessableContent, "validation_failed", ["type"]),
                    (
                        #"{"type": "credit", "amount_cents": 100, "description": "\#(String(repeating: "d", count: 501))"}"#,
                        .unprocessableContent, "validation_failed", ["description"]
                    ),
                    (
                        #"{"type": "credit", "amount_cents": 100, "category": "\#(String(repeating: "c", count: 101))"}"#,
                        .unprocessableContent, "validation_failed", ["category"]
                    ),
                    (
                        #"{"type": "credit", "amount_cents": 100, "occurred_at": "yesterday"}"#, .unprocessableContent,
                        "validation_failed", ["occurred_at"]
                    ),
                    (
                        // Past the ledger's clock: a conflict with the current state, same code.
                        #"{"type": "credit", "amount_cents": 100, "occurred_at": "2026-03-11T12:00:00.001Z"}"#,
                        .conflict, "validation_failed", ["occurred_at"]
                    ),
                    (
                        #"{"type": "credit", "amount_cents": 100, "occurred_at": ""}"#, .unprocessableContent,
                        "validation_failed", ["occurred_at"]
                    ),
                    (
                        #"{"type": "credit", "amount_cents": 100, "occurred_at": "0818-02-04T18:27:17-03:53"}"#,
                        .unprocessableContent, "validation_failed", ["occurred_at"]
                    ),
                    (
                        #"{"type": "credit", "amount_cents": 100, "occurred_at": "1969-12-31T23:59:59Z"}"#,
                        .unprocessableContent, "validation_failed", ["occurred_at"]
                    ),
                    ("[]", .unprocessableContent, "validation_failed", ["body"]),
                ]
                for (index, test) in cases.enumerated() {
                    let response = try await client.send(
                        .post, path, headers: try await harness.headers("ana", key: "b\(index)"), json: test.body)
                    #expect(response.status == test.status, "\(test.body)")
                    #expect(response.problem?.code == test.code, "\(test.body)")
                    #expect(Set(response.problem?.errors?.map(\.field) ?? []) == test.fields, "\(test.body)")
                }
                var text = try await harness.headers("ana", key: "text")
                text[.contentType] = "text/plain"
                let unsupported = try await client.send(
                    .post, path, headers: text, json: #"{"type": "credit", "amount_cents": 1}"#)
                #expect(unsupported.status == .unsupportedMediaType)

                // Unknown and foreign accounts are 404 before anything else is looked at.
                let body = #"{"type": "credit", "amount_cents": 100}"#
                let unknown = try await client.send(
                    .post, "/v1/accounts/\(UUID.v7().lowercased)/entries", headers: try await harness.headers("ana", key: "u"),
                    json: body)
                #expect(unknown.status == .notFound && unknown.problem?.code == "not_found")
                #expect(try await client.send(.post, "/v1/accounts/nope/entries", headers: ana, json: body).status == .notFound)
                let foreign = try await client.send(.post, path, headers: try await harness.headers("bia", key: "f"), json: body)
                #expect(foreign.status == .notFound)
                #expect(try await client.send(.get, "\(path)", headers: bia).status == .notFound)
                #expect(try await client.send(.post, path, json: body).status == .unauthorized)
            }
            #expect(try await harness.count("ledger_entries") == 0)
            #expect(try await harness.outbox().map(\.type) == [LedgerAccountOpened.type])

            // Up to a day ahead of the ledger's clock is accepted (a client's clock slips).
            try await harness.test { client in
                let account = try #require(try await harness.allAccounts().first)
                let ahead = try await client.record(
                    #"{"type": "credit", "amount_cents": 100, "occurred_at": "2026-03-11T12:00:00Z"}"#, on: account.id,
                    headers: ana, key: "ahead")
                #expect(ahead.businessDate == "2026-03-11")
            }
        }
    }

    @Test("Lists filter by business date, type and category, by sequence, in pages")
    func listsFilterAndPage() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fin", roles: [Role.finance])
            let bia = try await harness.headers("bia")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                // (type, cents, category, occurred_at) → business dates in São Paulo.
                let rows: [(String, Int, String?, String)] = [
                    ("credit", 1000, "vendas", "2026-03-08T15:00:00Z"),  // 03-08
                    ("debit", 200, "aluguel", "2026-03-09T02:59:59Z"),  // 03-08 (23:59:59 local)
                    ("credit", 3000, "vendas", "2026-03-09T03:00:00Z"),  // 03-09
                    ("debit", 400, nil, "2026-03-09T20:00:00Z"),  // 03-09
                    ("credit", 5000, "vendas", "2026-03-10T01:30:00Z"),  // 03-09
                    ("debit", 600, "aluguel", "2026-03-10T11:00:00Z"),  // 03-10
                ]
                var entries: [LedgerEntry] = []
                for (index, row) in rows.enumerated() {
                    let category = row.2.map { #", "category": "\#($0)""# } ?? ""
                    entries.append(
                        try await client.record(
                            #"{"type": "\#(row.0)", "amount_cents": \#(row.1)\#(category), "occurred_at": "\#(row.3)"}"#,
                            on: account.id, headers: ana, key: "l\(index)"))
                }
                #expect(
                    entries.map(\.businessDate) == [
                        "2026-03-08", "2026-03-08", "2026-03-09", "2026-03-09", "2026-03-09", "2026-03-10",
                    ])

                func sequences(_ query: String, as headers: HTTPFields? = nil) async throws -> [Int64] {
                    let response = try await client.send(
                        .get, "/v1/accounts/\(account.id)/entries\(query)", headers: headers ?? ana)
                    try #require(response.status == .ok, "\(query): \(String(buffer: response.body))")
                    return try response.decode(PageBody<LedgerEntry>.self).items.map(\.sequence)
                }
                #expect(try await sequences("") == [1, 2, 3, 4, 5, 6])
                #expect(try await sequences("?from=2026-03-09") == [3, 4, 5, 6])
                #expect(try await sequences("?to=2026-03-08") == [1, 2])
                #expect(try await sequences("?from=2026-03-09&to=2026-03-09") == [3, 4, 5])
                #expect(try await sequences("?type=debit") == [2, 4, 6])
                #expect(try await sequences("?category=vendas") == [1, 3, 5])
                #expect(try await sequences("?category=aluguel&from=2026-03-09") == [6])
                #expect(try await sequences("?type=credit&to=2026-03-09&category=vendas") == [1, 3, 5])
                #expect(try await sequences("?from=2026-04-01").isEmpty)
                #expect(try await sequences("?type=debit", as: finance) == [2, 4, 6], "finance reads any account")

                // Pages of two, by sequence, filters kept across pages.
                var seen: [Int64] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let query = "?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.send(.get, "/v1/accounts/\(account.id)/entries\(query)", headers: ana)
                        .decode(PageBody<LedgerEntry>.self)
                    seen += page.items.map(\.sequence)
                    cursor = page.nextCursor
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(seen == [1, 2, 3, 4, 5, 6] && pages == 3)
                let filteredPage = try await client.send(
                    .get, "/v1/accounts/\(account.id)/entries?type=credit&limit=2", headers: ana
                ).decode(PageBody<LedgerEntry>.self)
                #expect(filteredPage.items.map(\.sequence) == [1, 3])
                let rest = try await client.send(
                    .get, "/v1/accounts/\(account.id)/entries?type=credit&limit=2&cursor=\(filteredPage.nextCursor ?? "")",
                    headers: ana
                ).decode(PageBody<LedgerEntry>.self)
                #expect(rest.items.map(\.sequence) == [5] && rest.nextCursor == nil)

                for (query, field) in [
                    ("from=2026-13-01", "from"), ("from=2026-02-29", "from"), ("to=2026-3-9", "to"), ("to=yesterday", "to"),
                    ("type=transfer", "type"), ("limit=0", "limit"),
                    ("limit=501", "limit"), ("category=", "category"),
                ] {
                    let response = try await client.send(.get, "/v1/accounts/\(account.id)/entries?\(query)", headers: ana)
                    #expect(response.status == .unprocessableContent, "\(query)")
                    #expect(response.problem?.errors?.map(\.field) == [field], "\(query)")
                }
                #expect(try await sequences("?limit=500&from=2024-02-29") == [1, 2, 3, 4, 5, 6], "a leap day is a day")
                // from after to holds no day: an empty page, not a refusal.
                #expect(try await sequences("?from=2026-03-10&to=2026-03-09") == [])
                #expect(try await sequences("?category=%20%20") == [], "a blank category is no entry's")
                #expect(try await sequences("?from=0212-03-16&to=0171-08-08&cursor=17179869183") == [])
                #expect(try await sequences("?cursor=\(Int64.max)") == [], "any cursor the schema allows is answered")
                for cursor in ["abc", "0", "-1"] {
                    let response = try await client.send(
                        .get, "/v1/accounts/\(account.id)/entries?cursor=\(cursor)", headers: ana)
                    #expect(response.status == .badRequest && response.problem?.code == "invalid_cursor", "\(cursor)")
                }
                #expect(try await client.send(.get, "/v1/accounts/\(account.id)/entries", headers: bia).status == .notFound)
                #expect(try await client.send(.get, "/v1/entries/\(entries[0].id)", headers: bia).status == .notFound)
                #expect(try await client.send(.get, "/v1/entries/\(entries[0].id)", headers: finance).status == .ok)
                #expect(try await client.send(.get, "/v1/entries/\(UUID.v7().lowercased)", headers: ana).status == .notFound)
            }
        }
    }

    @Test("20 requests at once with one key and body: one entry, every answer 201 with it, 19 replays")
    func concurrentRequestsWithOneKey() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, Bool, LedgerEntry?).self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            let response = try await client.send(
                                .post, "/v1/accounts/\(account.id)/entries",
                                headers: try await harness.headers("ana", key: "once"),
                                json: #"{"type": "credit", "amount_cents": 777}"#)
                            return (
                                response.status, response.headers[.idempotentReplayed] == "true",
                                try? response.decode(LedgerEntry.self)
                            )
                        }
                    }
                    return try await group.reduce(into: [(HTTPResponse.Status, Bool, LedgerEntry?)]()) { $0.append($1) }
                }
                // The key's claim commits with the entry: a request that meets it waits for that
                // commit and replays it, so none needs a 409 and a retry.
                #expect(answers.allSatisfy { $0.0 == .created }, "\(answers.map(\.0))")
                #expect(answers.filter(\.1).count == 19)
                #expect(Set(answers.compactMap { $0.2?.id }).count == 1)
            }
            #expect(try await harness.allEntries().count == 1)
        }
    }

    @Test("50 entries at once on one account get sequences 1…50, no gap, no duplicate")
    func concurrentEntries() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, LedgerEntry?).self) { group in
                    for index in 0..<50 {
                        group.addTask {
                            let response = try await client.send(
                                .post, "/v1/accounts/\(account.id)/entries",
                                headers: try await harness.headers("ana", key: "c\(index)"),
                                json: #"{"type": "\#(index % 2 == 0 ? "credit" : "debit")", "amount_cents": \#(index + 1)}"#)
                            return (response.status, try? response.decode(LedgerEntry.self))
                        }
                    }
                    return try await group.reduce(into: [(HTTPResponse.Status, LedgerEntry?)]()) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0.0 == .created })
                let answered = statuses.compactMap(\.1)
                #expect(answered.map(\.sequence).sorted() == Array(1...50))
                #expect(Set(answered.map(\.amountCents)) == Set((1...50).map(Int64.init)))
            }
            let stored = try await harness.allEntries()
            #expect(stored.map(\.sequence) == Array(1...50))
            try await harness.test { client in
                let account = try await client.send(.get, "/v1/accounts/\(stored[0].accountID)", headers: ana)
                #expect(try account.decode(LedgerAccount.self).lastSequence == 50)
            }
            #expect(try await harness.nextSequence(of: stored[0].accountID) == 51)
            let recorded = try await harness.outbox().filter { $0.type == LedgerEntryRecorded.type }
                .map { try $0.decode(LedgerEntryRecorded.self) }
            #expect(recorded.map(\.sequence).sorted() == Array(1...50))
            // The outbox holds them in commit order, which is sequence order: the relay keeps it.
            #expect(recorded.map(\.sequence) == Array(1...50))
        }
    }

    @Test("Every entry has exactly one outbox row, a LedgerEntryRecorded keyed by its account that matches it")
    func everyEntryIsPublishedOnce() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let caixa = try await client.openAccount(ana)
                let tokyo = try await client.openAccount(ana, name: "Tokyo", timezone: "Asia/Tokyo", currency: "JPY")
                _ = try await client.record(
                    #"{"type": "credit", "amount_cents": 15000, "description": "Venda", "category": "vendas", "#
                        + #""occurred_at": "2026-03-10T01:30:00.123Z"}"#, on: caixa.id, headers: ana, key: "p1")
                let debit = try await client.record(
                    #"{"type": "debit", "amount_cents": 320}"#, on: caixa.id, headers: ana, key: "p2")
                _ = try await client.record(
                    #"{"type": "credit", "amount_cents": 99, "occurred_at": "2026-03-10T16:00:00Z"}"#, on: tokyo.id,
                    headers: ana, key: "p3")
                _ = try await client.send(
                    .post, "/v1/entries/\(debit.id)/reversal", headers: try await harness.headers("ana", key: "p4"))
                // A replay publishes nothing more.
                _ = try await client.record(#"{"type": "debit", "amount_cents": 320}"#, on: caixa.id, headers: ana, key: "p2")
            }
            try Self.expectEachPublishedOnce(try await harness.allEntries(), outbox: try await harness.outbox())
        }
    }

    /// Four entries (one a reversal) on two accounts, and the outbox they left.
    static func expectEachPublishedOnce(_ entries: [LedgerEntry], outbox: [Envelope]) throws {
        #expect(entries.count == 4)
        #expect(outbox.filter { $0.type == LedgerAccountOpened.type }.count == 2)
        let published = outbox.filter { $0.type == LedgerEntryRecorded.type }
        #expect(published.count == entries.count)
        for entry in entries {
            let rows = try published.filter { try $0.decode(LedgerEntryRecorded.self).entryID == entry.id }
            try #require(rows.count == 1, "entry \(entry.sequence) of \(entry.accountID)")
            #expect(rows[0].key == entry.accountID && rows[0].source == "ledger")
            let event = try rows[0].decode(LedgerEntryRecorded.self)
            #expect(event.accountID == entry.accountID && event.sequence == entry.sequence)
            #expect(event.entryType == entry.type && event.amountCents == entry.amountCents)
            #expect(event.currency == entry.currency && event.businessDate == entry.businessDate)
            #expect(event.category == entry.category && event.description == entry.description)
            #expect(event.reversesEntryID == entry.reversesEntryID)
            #expect(sameMillisecond(event.occurredAt, entry.occurredAt) && sameMillisecond(event.recordedAt, entry.createdAt))
        }
        // Per account, the events are in sequence order, after the account's opening.
        for accountID in Set(entries.map(\.accountID)) {
            let mine = outbox.filter { $0.key == accountID }
            #expect(mine.first?.type == LedgerAccountOpened.type)
            let sequences = try mine.dropFirst().map { try $0.decode(LedgerEntryRecorded.self).sequence }
            #expect(sequences == Array(1...Int64(sequences.count)))
        }
        let tokyoEvent = try published.map { try $0.decode(LedgerEntryRecorded.self) }.first { $0.currency == "JPY" }
        #expect(tokyoEvent?.businessDate == "2026-03-11")
        let reversal = try #require(entries.first { $0.isReversal })
        #expect(reversal.sequence == 3 && reversal.type == .credit && reversal.amountCents == 320)
    }

    @Test func entriesAreAppendOnlyInTheDatabaseToo() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            let entry = try await harness.testReturning { client in
                let account = try await client.openAccount(ana)
                return try await client.record(
                    #"{"type": "credit", "amount_cents": 500}"#, on: account.id, headers: ana, key: "x")
            }
            await #expect(throws: (any Error).self) {
                try await harness.store.transaction { db in
                    try await db.raw("UPDATE ledger_entries SET amount_cents = 1 WHERE id = \(bind: entry.id)").run()
                }
            }
            await #expect(throws: (any Error).self) {
                try await harness.store.transaction { db in
                    try await db.raw("DELETE FROM ledger_entries WHERE id = \(bind: entry.id)").run()
                }
            }
            #expect(try await harness.allEntries() == [entry])
        }
    }
}

extension LedgerHarness {
    func allAccounts() async throws -> [LedgerAccount] {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: LedgerAccounts.columns) FROM ledger_accounts ORDER BY id").all()
                .map(LedgerAccount.init(row:))
        }
    }

    /// `test`, handing back what the body returns.
    func testReturning<T: Sendable>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let box = ResultBox<T>()
        try await test { client in box.set(try await body(client)) }
        return try #require(box.value)
    }
}

/// Carries a value out of a `@Sendable` test body.
final class ResultBox<T: Sendable>: Sendable {
    private let stored = Mutex<T?>(nil)
    var value: T? { stored.withLock { $0 } }
    func set(_ value: T) { stored.withLock { $0 = value } }
}
