import Foundation
import HummingbirdTesting
import Logging
import MalhaHTTP
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Ledger

/// A store failure is the service's fault, not the client's: 500 (or 503 when a retry may pass),
/// never a 4xx such as the `409 already_reversed` every store error used to answer.
@Suite("Ledger store failures", .serialized)
struct LedgerStoreFailureTests {
    @Test("A constraint the ledger did not plan for is a 500 internal_error with nothing internal, and writes nothing")
    func unexpectedConstraintIsAServerError() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                let entry = try await client.record(
                    #"{"type": "credit", "amount_cents": 500}"#, on: account.id, headers: ana, key: "a")
                // An index nobody asked for: the next entry of the same amount violates it.
                try await harness.store.transaction { db in
                    try await db.raw("CREATE UNIQUE INDEX one_per_amount ON ledger_entries (amount_cents)").run()
                }
                var headers = ana
                headers[.idempotencyKey] = "b"
                let path = "/v1/accounts/\(account.id)/entries"
                var response = try await client.send(
                    .post, path, headers: headers, json: #"{"type": "credit", "amount_cents": 500}"#)
                #expect(response.status == .internalServerError)
                #expect(response.problem?.code == "internal_error")
                #expect(response.problem?.detail == "an unexpected error occurred", "nothing about the database")
                #expect(!String(buffer: response.body).lowercased().contains("unique"))

                // The same holds for a reversal (the path that answered 409 already_reversed).
                headers[.idempotencyKey] = "c"
                try await harness.store.transaction { db in
                    try await db.raw("DROP INDEX one_per_amount").run()
                    try await db.raw("CREATE UNIQUE INDEX one_per_type ON ledger_entries (entry_type)").run()
                }
                _ = try await client.record(#"{"type": "debit", "amount_cents": 100}"#, on: account.id, headers: ana, key: "d")
                response = try await client.send(.post, "/v1/entries/\(entry.id)/reversal", headers: headers)
                #expect(response.status == .internalServerError && response.problem?.code == "internal_error")

                // Nothing was written, and the keys were not used up: once the index is gone they work.
                #expect(try await harness.allEntries().count == 2)
                try await harness.store.transaction { db in try await db.raw("DROP INDEX one_per_type").run() }
                headers[.idempotencyKey] = "b"
                response = try await client.send(.post, path, headers: headers, json: #"{"type": "credit", "amount_cents": 500}"#)
                #expect(response.status == .created && response.headers[.idempotentReplayed] == nil)
            }
        }
    }

    /// PostgreSQL keeps no U+0000 in text (SQLite does): a request holding one is the client's to
    /// fix, so it is a 422 there, never a 500, and nothing is written.
    @Test("A text the database cannot store (U+0000 on PostgreSQL) is a 422, not a 500")
    func unstorableTextIsTheClientsError() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let response = try await client.send(.post, "/v1/accounts", headers: ana, json: #"{"name": "Caixa\u0000"}"#)
                if harness.store.backend == .postgres {
                    #expect(response.status == .unprocessableContent)
                    #expect(response.problem?.code == "unsupported_character")
                    #expect(try await harness.count("ledger_accounts") == 0)
                } else {
                    #expect(response.status == .created)
                }
            }
        }
    }

    @Test("A database locked by someone else past the busy timeout is a 503 service_unavailable with Retry-After")
    func lockedDatabaseIsUnavailable() async throws {
        try await TestDatabases.withSQLite { store in
            try await LedgerService.migrate(store, logger: testLogger)
            let harness = LedgerHarness(
                store: store, tokens: await TestTokens.make(),
                runtime: ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger),
                clock: ManualClock(testNow))
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let account = try await client.openAccount(ana)
                // Another process's writer holds the file's write lock for longer than the 5 s busy timeout.
                let other = try await SQLiteStore.open(path: store.path, logger: testLogger)
                let holding = Task {
                    try await other.transaction { db in
                        try await db.raw("UPDATE ledger_accounts SET name = name").run()
                        try await Task.sleep(for: .seconds(7))
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                var headers = ana
                headers[.idempotencyKey] = "k"
                let response = try await client.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: headers,
                    json: #"{"type": "credit", "amount_cents": 500}"#)
                #expect(response.status == .serviceUnavailable)
                #expect(response.problem?.code == "service_unavailable")
                #expect(response.headers[.retryAfter] == "1")
                try await holding.value
                await other.close()
                #expect(try await harness.allEntries().isEmpty)
            }
        }
    }
}
