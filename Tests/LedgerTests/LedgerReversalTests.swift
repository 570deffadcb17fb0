import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Testing

@testable import Ledger

@Suite("Ledger reversals", .serialized)
struct LedgerReversalTests {
    @Test("An entry is reversed once: opposite type, same amount; a second → 409; a reversal's reversal → 409")
    func reversesOnce() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let sale = try await client.record(
                    #"{"type": "credit", "amount_cents": 15000, "category": "vendas", "occurred_at": "2026-03-09T15:00:00Z"}"#,
                    on: account.id, headers: ana, key: "sale")
                harness.clock.advance(by: .seconds(3600))

                var response = try await client.send(.post, "/v1/entries/\(sale.id)/reversal", headers: ana)
                #expect(response.status == .badRequest && response.problem?.code == "idempotency_key_required")

                let r1 = try await harness.headers("ana", key: "r1")
                response = try await client.send(.post, "/v1/entries/\(sale.id)/reversal", headers: r1)
                #expect(response.status == .created)
                let reversal = try response.decode(LedgerEntry.self)
                #expect(response.headers[.location] == "/v1/entries/\(reversal.id)")
                #expect(reversal.accountID == account.id && reversal.sequence == 2)
                #expect(reversal.type == .debit && reversal.amountCents == 15_000 && reversal.currency == "BRL")
                #expect(reversal.reversesEntryID == sale.id)
                #expect(reversal.description == "Estorno de \(sale.id)")
                #expect(reversal.category == "vendas", "the category nets to zero")
                #expect(sameMillisecond(reversal.occurredAt, harness.clock.now()), "a reversal is a movement of now")
                #expect(reversal.businessDate == "2026-03-10")

                // The same key again replays; another key finds the entry already reversed.
                response = try await client.send(.post, "/v1/entries/\(sale.id)/reversal", headers: r1)
                #expect(response.status == .created && response.headers[.idempotentReplayed] == "true")
                #expect(try response.decode(LedgerEntry.self) == reversal)
                response = try await client.send(
                    .post, "/v1/entries/\(sale.id)/reversal", headers: try await harness.headers("ana", key: "r2"))
                #expect(response.status == .conflict && response.problem?.code == "already_reversed")
                #expect(response.problem?.detail?.contains(reversal.id) == true)

                response = try await client.send(
                    .post, "/v1/entries/\(reversal.id)/reversal", headers: try await harness.headers("ana", key: "r3"))
                #expect(response.status == .conflict && response.problem?.code == "cannot_reverse_a_reversal")

                // The body may set the description and when the movement happened.
                let fee = try await client.record(
                    #"{"type": "debit", "amount_cents": 350}"#, on: account.id, headers: ana, key: "fee")
                response = try await client.send(
                    .post, "/v1/entries/\(fee.id)/reversal",
                    headers: try await harness.headers("fin", roles: [Role.finance], key: "r4"),
                    json: #"{"description": "  Tarifa indevida  ", "occurred_at": "2026-03-10T02:00:00Z"}"#)
                #expect(response.status == .created, "finance may reverse any account's entries")
                let refund = try response.decode(LedgerEntry.self)
                #expect(refund.type == .credit && refund.amountCents == 350 && refund.sequence == 4)
                #expect(refund.description == "Tarifa indevida" && refund.businessDate == "2026-03-09")

                // Refused without effect: bad bodies, strangers, unknown entries.
                let cases: [(String, HTTPResponse.Status, String)] = [
                    (#"{"description": 5}"#, .unprocessableContent, "validation_failed"),
                    (#"{"occurred_at": "2026-03-12T00:00:00Z"}"#, .conflict, "validation_failed"),
                    (
                        #"{"occurred_at": "0818-02-04T18:27:17-03:53", "\u9c72": ["U", -941]}"#, .unprocessableContent,
                        "validation_failed"
                    ),
                    (#"{"description": "\#(String(repeating: "x", count: 501))"}"#, .unprocessableContent, "validation_failed"),
                    ("{", .badRequest, "malformed_json"),
                ]
                let other = try await client.record(
                    #"{"type": "credit", "amount_cents": 1}"#, on: account.id, headers: ana, key: "o")
                for (index, (body, status, code)) in cases.enumerated() {
                    response = try await client.send(
                        .post, "/v1/entries/\(other.id)/reversal", headers: try await harness.headers("ana", key: "bad\(index)"),
                        json: body)
                    #expect(response.status == status && response.problem?.code == code, "\(body)")
                }
                response = try await client.send(
                    .post, "/v1/entries/\(other.id)/reversal", headers: try await harness.headers("bia", key: "b"))
                #expect(response.status == .notFound)
                response = try await client.send(
                    .post, "/v1/entries/\(UUID.v7().lowercased)/reversal", headers: try await harness.headers("ana", key: "u"))
                #expect(response.status == .notFound)
            }
            let entries = try await harness.allEntries()
            #expect(entries.map(\.sequence) == [1, 2, 3, 4, 5])
            #expect(entries.filter(\.isReversal).count == 2)
            #expect(try await harness.outbox().filter { $0.type == LedgerEntryRecorded.type }.count == 5)
            // The refused reversals released their keys: only the five successes hold one.
            #expect(try await harness.count("idempotency_keys") == 5)
        }
    }

    @Test("20 reversals of one entry at once: exactly one 201, the rest 409 already_reversed")
    func concurrentReversals() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let entry = try await client.record(
                    #"{"type": "debit", "amount_cents": 4200}"#, on: account.id, headers: ana, key: "e")
                let responses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            let response = try await client.send(
                                .post, "/v1/entries/\(entry.id)/reversal",
                                headers: try await harness.headers("ana", key: "rev\(index)"))
                            return (response.status, response.problem?.code)
                        }
                    }
                    return try await group.reduce(into: [(HTTPResponse.Status, String?)]()) { $0.append($1) }
                }
                #expect(responses.filter { $0.0 == .created }.count == 1)
                #expect(responses.filter { $0.0 == .conflict && $0.1 == "already_reversed" }.count == 19)
            }
            let entries = try await harness.allEntries()
            #expect(entries.map(\.sequence) == [1, 2], "no sequence was burnt by the refused ones")
            #expect(entries.filter(\.isReversal).count == 1)
            #expect(try await harness.nextSequence(of: entries[0].accountID) == 3)
            #expect(try await harness.outbox().filter { $0.type == LedgerEntryRecorded.type }.count == 2)
        }
    }
}
