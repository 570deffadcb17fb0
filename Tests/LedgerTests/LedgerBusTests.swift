import Contracts
import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import MalhaTesting
import Testing

@testable import Ledger

@Suite("Ledger on the bus", .serialized)
struct LedgerBusTests {
    @Test func anAccountsEventsReachTheBusInTheOrderTheyWereRecorded() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let (store, busStore) = (stores[0], stores[1])
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            // Bound before anything is published, as the consolidation's subscription would be.
            try await transport.bind(
                subscription: "test.consolidation", to: [LedgerAccountOpened.type, LedgerEntryRecorded.type])
            let tokens = await TestTokens.make()
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger)
            let app = try await LedgerService.buildApplication(
                configuration: LedgerConfiguration(), runtime: runtime, store: store, verifier: tokens.verifier,
                transport: transport, services: [transport])
            let ana = try await tokens.headers(subject: "ana")

            try await app.test(.router) { client in
                #expect(try await client.send(.get, "/health/ready").status == .ok)
                #expect(try await client.send(.get, "/openapi.json").status == .ok)
                let account = try await client.openAccount(ana)
                var recorded: [LedgerEntry] = []
                for (index, cents) in [1000, 250, 75].enumerated() {
                    recorded.append(
                        try await client.record(
                            #"{"type": "credit", "amount_cents": \#(cents)}"#, on: account.id, headers: ana, key: "k\(index)"))
                }
                var keyed = ana
                keyed[.idempotencyKey] = "rev"
                #expect(try await client.send(.post, "/v1/entries/\(recorded[1].id)/reversal", headers: keyed).status == .created)

                var heard: [Envelope] = []
                let arrived = await eventually(timeout: .seconds(30)) {
                    let batch = (try? await transport.receive(from: "test.consolidation", limit: 10, lease: .seconds(30))) ?? []
                    for delivery in batch {
                        heard.append(delivery.envelope)
                        _ = try? await transport.acknowledge(delivery)
                    }
                    return heard.count >= 5
                }
                #expect(arrived, "heard \(heard.count) of 5")
                #expect(heard.map(\.type) == [LedgerAccountOpened.type] + Array(repeating: LedgerEntryRecorded.type, count: 4))
                #expect(heard.allSatisfy { $0.key == account.id && $0.source == "ledger" })
                let entries = try heard.dropFirst().map { try $0.decode(LedgerEntryRecorded.self) }
                #expect(entries.map(\.sequence) == [1, 2, 3, 4])
                #expect(entries.map(\.signedAmountCents) == [1000, 250, 75, -250])
                #expect(entries.last?.reversesEntryID == recorded[1].id)
                let drained = await eventually(timeout: .seconds(10)) {
                    (try? await store.read { db in
                        try await db.raw("SELECT COUNT(*) AS n FROM outbox").first()?.decode(column: "n", as: Int.self)
                    }) == 0
                }
                #expect(drained, "the relay deletes what it published")
            }
        }
    }
}
