import Contracts
import Foundation
import Hummingbird
import Ledger
import MalhaCore
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Synchronization
import Testing

@testable import Consolidation

@Suite("Projection of ledger events", .serialized)
struct ProjectionTests {
    @Test func creditsAndDebitsLandOnTheirBusinessDay() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            try await harness.deliver(try accountOpened(account, owner: "ana"))
            let entries: [TestEntry] = [
                .credit(10_000, on: "2026-03-09", account: account, sequence: 1),
                .debit(2_500, on: "2026-03-09", account: account, sequence: 2),
                .credit(700, on: "2026-03-10", account: account, sequence: 3),
                .debit(1_200, on: "2026-03-10", account: account, sequence: 4),
                // A debit larger than the balance takes it below zero: the read model records, it does not judge.
                .debit(9_000, on: "2026-03-12", account: account, sequence: 5),
            ]
            try await harness.deliver(try entries.map { try $0.envelope() })

            #expect(
                try await harness.storedDays(account) == [
                    DayBalance(
                        date: "2026-03-09", openingCents: 0, creditsCents: 10_000, debitsCents: 2_500, closingCents: 7_500,
                        entryCount: 2),
                    DayBalance(
                        date: "2026-03-10", openingCents: 7_500, creditsCents: 700, debitsCents: 1_200, closingCents: 7_000,
                        entryCount: 2),
                    DayBalance(
                        date: "2026-03-12", openingCents: 7_000, creditsCents: 0, debitsCents: 9_000, closingCents: -2_000,
                        entryCount: 1),
                ])
            let stored = try #require(try await harness.account(account))
            #expect(stored.ownerID == "ana" && stored.currency == "BRL" && stored.lastBusinessDate == "2026-03-12")
            #expect(
                stored.freshness
                    == Freshness(
                        completeThroughSequence: 5, completeThroughRecordedAt: entries[4].recordedAt, latestSequenceSeen: 5,
                        pendingOutOfOrder: 0))
            // Another account's entries on the same days are its own.
            let other = newAccountID()
            try await harness.deliver(try TestEntry.credit(1, on: "2026-03-09", account: other, sequence: 1).envelope())
            #expect(try await harness.storedDays(account).count == 3)
            #expect(try await harness.storedDays(other).map(\.closingCents) == [1])
        }
    }

    @Test("A reversal from the real ledger (opposite type, same amount, reverses_entry_id) cancels its entry")
    func reversalCancelsItsEntry() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let ledger = try await LedgerFixture.make(stores[1], tokens: harness.tokens)
            let ana = try await harness.headers("ana")
            let ids = try await Self.recordAndReverse(ledger, ana)
            let events = try await ledger.outbox()
            #expect(events.map(\.type) == [LedgerAccountOpened.type] + Array(repeating: LedgerEntryRecorded.type, count: 4))
            let reversal = try events[4].decode(LedgerEntryRecorded.self)
            #expect(reversal.reversesEntryID == ids.reversed && reversal.entryType == .debit && reversal.amountCents == 5_000)

            try await harness.deliver(events)
            // 03-09: the 5 000 credit and the 1 000 debit; 03-10: the 300 credit and the reversal of the 5 000.
            #expect(
                try await harness.storedDays(ids.account) == [
                    DayBalance(
                        date: "2026-03-09", openingCents: 0, creditsCents: 5_000, debitsCents: 1_000, closingCents: 4_000,
                        entryCount: 2),
                    DayBalance(
                        date: "2026-03-10", openingCents: 4_000, creditsCents: 300, debitsCents: 5_000, closingCents: -700,
                        entryCount: 2),
                ])
            #expect(try await harness.account(ids.account)?.ownerID == "ana")
            // What the account would hold had the reversed credit never been: −1 000 + 300.
            #expect(try await harness.storedDays(ids.account).last?.closingCents == -1_000 + 300)
        }
    }

    /// Opens an account in the ledger, records a 5 000 credit and a 1 000 debit on 03-09 and a 300
    /// credit on 03-10, then reverses the credit (today, 03-10).
    static func recordAndReverse(
        _ ledger: LedgerFixture, _ headers: HTTPFields
    ) async throws -> (account: String, reversed: String) {
        let ids = Mutex<(String, String)?>(nil)
        try await ledger.test { client in
            let account = try await client.openLedgerAccount(headers)
            let credit = try await client.recordLedgerEntry(
                .credit, 5_000, on: "2026-03-09", account: account.id, headers: headers)
            _ = try await client.recordLedgerEntry(.debit, 1_000, on: "2026-03-09", account: account.id, headers: headers)
            _ = try await client.recordLedgerEntry(.credit, 300, on: "2026-03-10", account: account.id, headers: headers)
            var reverse = headers
            reverse[.idempotencyKey] = UUID().uuidString
            let response = try await client.send(.post, "/v1/entries/\(credit.id)/reversal", headers: reverse, json: "{}")
            try #require(response.status == .created, "\(response.text)")
            ids.withLock { $0 = (account.id, credit.id) }
        }
        let recorded = try #require(ids.withLock { $0 })
        return (recorded.0, recorded.1)
    }

    @Test func aLateEntryCorrectsItsDayAndEveryLaterDay() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            var entries: [TestEntry] = [
                .credit(1_000, on: "2026-03-08", account: account, sequence: 1),
                .credit(2_000, on: "2026-03-10", account: account, sequence: 2),
                .debit(500, on: "2026-03-12", account: account, sequence: 3),
            ]
            try await harness.deliver(try entries.map { try $0.envelope() })
            #expect(try await harness.storedDays(account).map(\.closingCents) == [1_000, 3_000, 2_500])

            // For a day without a row yet, between two days with rows.
            entries.append(.credit(300, on: "2026-03-09", account: account, sequence: 4))
            try await harness.deliver(try entries[3].envelope())
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
            #expect(try await harness.storedDays(account).map(\.openingCents) == [0, 1_000, 1_300, 3_300])

            // For the first day, which has a row: every later opening and closing moves.
            entries.append(.debit(100, on: "2026-03-08", account: account, sequence: 5))
            try await harness.deliver(try entries[4].envelope())
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
            #expect(try await harness.storedDays(account).map(\.closingCents) == [900, 1_200, 3_200, 2_700])

            // Before every day the account has.
            entries.append(.credit(50, on: "2026-02-28", account: account, sequence: 6))
            try await harness.deliver(try entries[5].envelope())
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
            #expect(try await harness.storedDays(account).last?.closingCents == 2_750)
            #expect(try await harness.freshness(account)?.completeThroughSequence == 6)
        }
    }

    @Test func entriesOutOfOrderGiveTheSameBalancesAndFreshnessWaitsForTheGap() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries: [TestEntry] = [
                .credit(1_000, on: "2026-03-08", account: account, sequence: 1),
                .debit(400, on: "2026-03-09", account: account, sequence: 2),
                .credit(250, on: "2026-03-10", account: account, sequence: 3),
            ]
            try await harness.deliver(try entries[0].envelope())
            try await harness.deliver(try entries[2].envelope())
            #expect(
                try await harness.freshness(account)
                    == Freshness(
                        completeThroughSequence: 1, completeThroughRecordedAt: entries[0].recordedAt, latestSequenceSeen: 3,
                        pendingOutOfOrder: 1))
            // What is known is shown: 3 is counted, 2 not yet.
            #expect(try await harness.storedDays(account).map(\.closingCents) == [1_000, 1_250])

            try await harness.deliver(try entries[1].envelope())
            #expect(
                try await harness.freshness(account)
                    == Freshness(
                        completeThroughSequence: 3, completeThroughRecordedAt: entries[2].recordedAt, latestSequenceSeen: 3,
                        pendingOutOfOrder: 0))
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
        }
    }

    @Test func freshnessMovesOverEveryEntryThatArrivedEarlyOnceTheGapCloses() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries = (1...8).map { TestEntry.credit(Int64($0), on: "2026-03-09", account: account, sequence: Int64($0)) }
            // 1, then 3…8 except 6, then 2 (complete through 5), then 6 (through 8).
            for index in [0, 2, 3, 4, 6, 7] { try await harness.deliver(try entries[index].envelope()) }
            #expect(try await harness.freshness(account)?.completeThroughSequence == 1)
            #expect(try await harness.freshness(account)?.pendingOutOfOrder == 5)
            try await harness.deliver(try entries[1].envelope())
            let afterTwo = try #require(try await harness.freshness(account))
            #expect(afterTwo.completeThroughSequence == 5 && afterTwo.pendingOutOfOrder == 2 && afterTwo.latestSequenceSeen == 8)
            #expect(afterTwo.completeThroughRecordedAt == entries[4].recordedAt)
            try await harness.deliver(try entries[5].envelope())
            #expect(
                try await harness.freshness(account)
                    == Freshness(
                        completeThroughSequence: 8, completeThroughRecordedAt: entries[7].recordedAt, latestSequenceSeen: 8,
                        pendingOutOfOrder: 0))
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
        }
    }

    @Test("An entry is counted once: the same message redelivered, or another message carrying it")
    func anEntryIsCountedOnce() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let bus = try await harness.bus(on: stores[1])
            let account = newAccountID()
            let entry = TestEntry.credit(4_200, on: "2026-03-09", account: account, sequence: 1)
            let message = try entry.envelope()
            #expect(try await bus.deliver(message) == .applied)
            #expect(try await bus.deliver(message) == .duplicate, "the inbox knows the message")
            let another = try entry.envelope()
            #expect(another.id != message.id)
            #expect(try await bus.deliver(another) == .applied, "a new message, but an entry already applied")
            // Past the inbox too (a rebuild may have applied it): the handler itself keeps it once.
            try await harness.deliver(message)

            #expect(try await harness.storedDays(account) == recomputedDays([entry]))
            #expect(try await harness.freshness(account)?.latestSequenceSeen == 1)
            #expect(try await harness.freshness(account)?.pendingOutOfOrder == 0)
            let applied = try await harness.store.transaction { db in
                try await Projection.apply(entry.projected, now: testNow, backend: harness.store.backend, in: db)
            }
            #expect(!applied)
        }
    }

    @Test("A sequence already taken by another entry id is refused for good (dead letters)")
    func aTakenSequenceIsAPermanentFailure() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let bus = try await harness.bus(on: stores[1])
            let account = newAccountID()
            let first = TestEntry.credit(1_000, on: "2026-03-09", account: account, sequence: 1)
            #expect(try await bus.deliver(try first.envelope()) == .applied)
            let before = try await harness.snapshot(account)

            let impostor = TestEntry.debit(300, on: "2026-03-10", account: account, sequence: 1)
            await #expect(throws: InconsistentEvent.self) { try await harness.deliver(try impostor.envelope()) }
            #expect(try await bus.deliver(try impostor.envelope()) == .deadLettered)
            let dead = try await bus.deadLetters()
            #expect(dead.count == 1)
            #expect(dead.first?.lastError.contains("already has sequence 1") == true, "\(dead)")
            #expect(try await harness.snapshot(account) == before, "nothing of it was applied")

            // An amount that is not positive cannot be applied either.
            var zero = TestEntry.credit(1, on: "2026-03-10", account: account, sequence: 2)
            zero.amountCents = 0
            #expect(try await bus.deliver(try zero.envelope()) == .deadLettered)
            #expect(try await harness.snapshot(account) == before)
        }
    }

    @Test func anEntryBeforeItsAccountCreatesAnOwnerlessAccountThatTheOpeningFillsIn() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            try await harness.deliver(try TestEntry.credit(900, on: "2026-03-09", account: account, sequence: 1).envelope())
            let early = try #require(try await harness.account(account))
            #expect(early.ownerID == nil && early.currency == "BRL" && early.freshness.completeThroughSequence == 1)

            let path = "/v1/accounts/\(account)/balances/2026-03-09"
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            let admin = try await harness.headers("root", roles: [Role.admin])
            try await harness.test { client async throws in
                #expect(try await client.send(.get, path, headers: ana).status == .notFound, "no owner yet: not hers")
                #expect(try await client.send(.get, path, headers: finance).status == .ok)
                #expect(try await client.send(.get, path, headers: admin).status == .ok)
            }
            try await harness.deliver(try accountOpened(account, owner: "ana"))
            #expect(try await harness.account(account)?.ownerID == "ana")
            try await harness.test { client in
                let response = try await client.send(.get, path, headers: ana)
                #expect(response.status == .ok, "the opening is applied and the cached owner forgotten")
                #expect(try response.decode(DayResponse.self).day.closingCents == 900)
                #expect(try await client.send(.get, path, headers: try await harness.headers("bia")).status == .notFound)
            }
            #expect(try await harness.storedDays(account).map(\.closingCents) == [900], "the opening moves no money")
        }
    }

    /// A rebuild locks the account, then writes the entries it read from the ledger. An entry the
    /// consumer is applying at that moment must wait for the rebuild before claiming the entry:
    /// claiming first, then waiting for the account, deadlocks with the rebuild's insert.
    @Test(.enabled(if: TestDatabases.postgresURL != nil, "PostgreSQL only: SQLite has a single writer"))
    func anEntryArrivingDuringARebuildWaitsForItWithoutDeadlock() async throws {
        try await TestDatabases.withPostgres { store in
            let harness = try await ConsolidationHarness.make(store)
            let account = newAccountID()
            let first = TestEntry.credit(1_000, on: "2026-03-09", account: account, sequence: 1)
            let second = TestEntry.debit(400, on: "2026-03-10", account: account, sequence: 2)
            try await harness.deliver(try first.envelope())
            let locked = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await store.transaction { db in
                        _ = try await Projection.lock(account, currency: "BRL", now: testNow, backend: .postgres, in: db)
                        locked.continuation.yield()
                        // Once the consumer waits for the account, write the entry as a rebuild does.
                        let waiting = try await eventually { try await Self.sessionsWaitingForALock(store) > 0 }
                        #expect(waiting, "the consumer never waited for the account")
                        try await Rebuild.rewrite(
                            accountID: account, from: nil, to: nil, missing: [second.projected], unexpected: [], now: testNow,
                            in: db)
                    }
                }
                for await _ in locked.stream { break }
                tasks.addTask { try await harness.deliver(try second.envelope()) }
                try await tasks.waitForAll()
            }
            #expect(try await harness.storedDays(account) == recomputedDays([first, second]))
            #expect(try await harness.freshness(account)?.completeThroughSequence == 2)
        }
    }

    static func sessionsWaitingForALock(_ store: any SQLStore) async throws -> Int {
        try await store.read { db in
            try await db.raw(
                """
                SELECT COUNT(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                """
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    @Test func anEventOfAnotherTypeIsRefused() async throws {
        try await ConsolidationHarness.run { harness in
            var envelope = try accountOpened(newAccountID(), owner: "ana")
            envelope.type = "ledger.something-else.v1"
            await #expect(throws: InvalidMessage.self) { try await harness.deliver(envelope) }
        }
    }
}
