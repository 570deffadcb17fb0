import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

@testable import Consolidation

@Suite("Verify and rebuild from the ledger", .serialized)
struct RebuildTests {
    /// Six entries over five days (03-02 … 03-06): 10 000 in; 2 000 out; 500 in and 700 out;
    /// 1 200 in; 300 out.
    static func ledgerEntries(_ account: String) -> [TestEntry] {
        [
            .credit(10_000, on: "2026-03-02", account: account, sequence: 1),
            .debit(2_000, on: "2026-03-03", account: account, sequence: 2),
            .credit(500, on: "2026-03-04", account: account, sequence: 3),
            .debit(700, on: "2026-03-04", account: account, sequence: 4),
            .credit(1_200, on: "2026-03-05", account: account, sequence: 5),
            .debit(300, on: "2026-03-06", account: account, sequence: 6),
        ]
    }

    /// `Rebuild.run` as the route calls it, with `ledger` as what the ledger answered.
    static func run(
        _ harness: ConsolidationHarness, _ account: String, ledger: [TestEntry], from: String? = nil, to: String? = nil,
        lastSequence: Int64? = nil, repair: Bool
    ) async throws -> RebuildReport {
        // Every run is a later moment: a write would show in `updated_at`.
        harness.clock.advance(by: .seconds(60))
        return try await Rebuild.run(
            accountID: account, from: from, to: to, repair: repair,
            ledgerAccount: LedgerReader.Account(
                id: account, currency: "BRL", ownerID: "ana", timezone: "UTC", lastSequence: lastSequence),
            ledgerEntries: ledger.map(\.projected), now: harness.clock.now(), store: harness.store)
    }

    @Test func verifyingAConsistentAccountFindsNothingAndWritesNothing() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries = Self.ledgerEntries(account)
            try await harness.deliver(try accountOpened(account, owner: "ana"))
            try await harness.deliver(try entries.map { try $0.envelope() })
            let before = try await harness.snapshot(account)

            let report = try await Self.run(harness, account, ledger: entries, repair: false)
            #expect(report.consistent && !report.repaired && report.mode == "verify")
            #expect(report.ledgerEntries == 6 && report.daysChecked == 5)
            #expect(report.differences.isEmpty && report.missingEntries.isEmpty && report.unexpectedEntries.isEmpty)
            #expect(report.missingEntryCount == 0 && report.unexpectedEntryCount == 0)
            #expect(try await harness.snapshot(account) == before)

            let rebuild = try await Self.run(harness, account, ledger: entries, repair: true)
            #expect(rebuild.consistent && !rebuild.repaired && rebuild.mode == "rebuild")
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
        }
    }

    @Test("A corrupted day and a forgotten entry: verify reports them and writes nothing; rebuild repairs")
    func verifyReportsAndRebuildRepairs() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries = Self.ledgerEntries(account)
            // The account-opened event never arrived: the rebuild brings the owner from the ledger.
            try await harness.deliver(try entries.map { try $0.envelope() })
            try await harness.corruptCredits(of: account, on: "2026-03-03", by: 100)
            try await harness.forgetEntry(entries[4].id)
            try await harness.store.transaction { db in
                try await db.raw(
                    "UPDATE consolidation_accounts SET complete_through = 2, pending = 9 WHERE account_id = \(bind: account)"
                ).run()
            }
            let before = try await harness.snapshot(account)

            let report = try await Self.run(harness, account, ledger: entries, repair: false)
            #expect(!report.consistent && !report.repaired)
            #expect(report.missingEntries == [entries[4].id] && report.missingEntryCount == 1)
            #expect(report.unexpectedEntries.isEmpty)
            #expect(
                report.differences == [
                    RebuildReport.Difference(
                        date: "2026-03-03",
                        expected: .init(
                            openingCents: 10_000, creditsCents: 0, debitsCents: 2_000, closingCents: 8_000, entryCount: 1),
                        actual: .init(
                            openingCents: 10_000, creditsCents: 100, debitsCents: 2_000, closingCents: 8_100, entryCount: 1))
                ])
            #expect(try await harness.snapshot(account) == before, "verify writes nothing")

            let rebuild = try await Self.run(harness, account, ledger: entries, repair: true)
            #expect(!rebuild.consistent && rebuild.repaired && rebuild.mode == "rebuild")
            #expect(rebuild.differences == report.differences && rebuild.missingEntries == report.missingEntries)
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
            #expect(try await harness.appliedEntryIDs(account) == Set(entries.map(\.id)))
            let repaired = try #require(try await harness.account(account))
            #expect(repaired.ownerID == "ana")
            #expect(
                repaired.freshness
                    == Freshness(
                        completeThroughSequence: 6, completeThroughRecordedAt: entries[5].recordedAt, latestSequenceSeen: 6,
                        pendingOutOfOrder: 0))
            #expect(try await Self.run(harness, account, ledger: entries, repair: false).consistent)

            // The ledger's event for the entry the rebuild brought back changes nothing.
            try await harness.deliver(try entries[4].envelope())
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
        }
    }

    @Test("An entry the ledger lacks is removed; one recorded after the ledger was read is left alone")
    func unexpectedEntriesAndEntriesNewerThanTheRead() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let ledger = Self.ledgerEntries(account)
            try await harness.deliver(try ledger.map { try $0.envelope() })
            // Entry 3 replaced by one the ledger never had, holding its sequence.
            let bogus = TestEntry.credit(9_999, on: "2026-03-03", account: account, sequence: 3)
            try await harness.forgetEntry(ledger[2].id)
            try await harness.deliver(try bogus.envelope())
            // Entry 7, applied after the ledger's answer was read.
            let newer = TestEntry.credit(50, on: "2026-03-06", account: account, sequence: 7)
            try await harness.deliver(try newer.envelope())
            let before = try await harness.snapshot(account)

            let report = try await Self.run(harness, account, ledger: ledger, repair: false)
            #expect(!report.consistent)
            #expect(report.unexpectedEntries == [bogus.id] && report.unexpectedEntryCount == 1)
            #expect(report.missingEntries == [ledger[2].id])
            #expect(report.differences.map(\.date) == ["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"])
            #expect(try await harness.snapshot(account) == before)

            let rebuild = try await Self.run(harness, account, ledger: ledger, repair: true)
            #expect(rebuild.repaired)
            #expect(try await harness.appliedEntryIDs(account) == Set((ledger + [newer]).map(\.id)))
            #expect(try await harness.storedDays(account) == recomputedDays(ledger + [newer]))
            #expect(try await harness.freshness(account)?.completeThroughSequence == 7)
            #expect(try await harness.freshness(account)?.pendingOutOfOrder == 0)
            #expect(try await Self.run(harness, account, ledger: ledger, repair: false).consistent)
            #expect(try await Self.run(harness, account, ledger: ledger + [newer], repair: false).consistent)
        }
    }

    @Test("In a range, an entry the ledger lacks is found by the account's last sequence, not the range's highest")
    func rangeRebuildUsesTheAccountsLastSequence() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let ledger = Self.ledgerEntries(account)
            try await harness.deliver(try ledger.map { try $0.envelope() })
            // Entry 5 (dated 03-05) replaced by one dated inside the range that the ledger never had.
            let bogus = TestEntry.credit(9_999, on: "2026-03-03", account: account, sequence: 5)
            try await harness.forgetEntry(ledger[4].id)
            try await harness.deliver(try bogus.envelope())
            let inRange = ledger.filter { $0.businessDate <= "2026-03-03" }

            // Sequence 5 is above every sequence listed in the range (1, 2): without the account's
            // last sequence it could have been recorded after the read.
            let blind = try await Self.run(harness, account, ledger: inRange, from: "2026-03-02", to: "2026-03-03", repair: false)
            #expect(blind.unexpectedEntries.isEmpty)
            let report = try await Self.run(
                harness, account, ledger: inRange, from: "2026-03-02", to: "2026-03-03", lastSequence: 6, repair: false)
            #expect(report.unexpectedEntries == [bogus.id] && !report.consistent)
            let rebuild = try await Self.run(
                harness, account, ledger: inRange, from: "2026-03-02", to: "2026-03-03", lastSequence: 6, repair: true)
            #expect(rebuild.repaired)
            #expect(try await harness.appliedEntryIDs(account).contains(bogus.id) == false)
        }
    }

    @Test("A range rebuild leaves the days before it alone and re-chains the days after it")
    func rangeRebuild() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries = Self.ledgerEntries(account)
            // Entry 3 (03-04) never arrived: 03-04 lacks it, and the later days its 500.
            try await harness.deliver(try entries.enumerated().filter { $0.offset != 2 }.map { try $0.element.envelope() })
            let early = try #require(try await harness.freshness(account))
            #expect(early.completeThroughSequence == 2 && early.pendingOutOfOrder == 3)
            func firstDay() async throws -> [Substring] {
                try await harness.snapshot(account).split(separator: "\n").filter { $0.hasPrefix("day 2026-03-02 ") }
            }
            let firstDayBefore = try await firstDay()
            #expect(firstDayBefore.count == 1)

            // The ledger answers the range's entries only (03-03 … 03-05).
            let inRange = entries.filter { ("2026-03-03"..."2026-03-05").contains($0.businessDate) }
            let report = try await Self.run(
                harness, account, ledger: inRange, from: "2026-03-03", to: "2026-03-05", repair: true)
            #expect(report.repaired && report.missingEntries == [entries[2].id])
            #expect(report.differences.map(\.date) == ["2026-03-04", "2026-03-05", "2026-03-06"])

            #expect(try await firstDay() == firstDayBefore, "03-02 untouched, updated_at included")
            let days = try await harness.storedDays(account)
            #expect(days == recomputedDays(entries))
            let last = try #require(days.last)
            #expect(last.date == "2026-03-06" && last.openingCents == 9_000 && last.closingCents == 8_700, "re-chained")
            #expect(try await harness.freshness(account)?.completeThroughSequence == 6)
            #expect(try await harness.freshness(account)?.pendingOutOfOrder == 0)
            #expect(try await Self.run(harness, account, ledger: entries, repair: false).consistent)
        }
    }

    @Test("A range rebuild trusts the days before it: the range opens with their stored closing")
    func rangeRebuildTrustsTheDaysBeforeIt() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            let entries = Self.ledgerEntries(account)
            try await harness.deliver(try entries.map { try $0.envelope() })
            try await harness.corruptCredits(of: account, on: "2026-03-02", by: 100)

            let after = try await Self.run(
                harness, account, ledger: entries.filter { $0.businessDate >= "2026-03-04" }, from: "2026-03-04",
                repair: false)
            #expect(after.consistent, "03-04 opens with 03-03's stored closing, which is right: \(after.differences)")
            let from = try await Self.run(
                harness, account, ledger: entries.filter { $0.businessDate >= "2026-03-03" }, from: "2026-03-03",
                repair: false)
            #expect(from.differences.map(\.date) == ["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"])
            #expect(from.differences.first?.expected.openingCents == 10_100, "the bad 03-02 closing, trusted")
            let whole = try await Self.run(harness, account, ledger: entries, repair: false)
            #expect(whole.differences.map(\.date) == ["2026-03-02"])
            _ = try await Self.run(harness, account, ledger: entries, repair: true)
            #expect(try await harness.storedDays(account) == recomputedDays(entries))
        }
    }

    // MARK: HTTP, against the real ledger

    @Test func rebuildOverHTTPReadsTheRealLedger() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let ledger = try await LedgerFixture.make(stores[1], tokens: harness.tokens)
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            let recorded = Mutex<(account: String, entries: [LedgerEntry])?>(nil)
            try await ledger.test { client in
                let account = try await client.openLedgerAccount(ana)
                var entries: [LedgerEntry] = []
                for (type, cents, date) in [
                    (LedgerEntryType.credit, Int64(10_000), "2026-03-02"), (.debit, 2_000, "2026-03-03"),
                    (.credit, 500, "2026-03-04"), (.debit, 700, "2026-03-04"),
                ] {
                    entries.append(try await client.recordLedgerEntry(type, cents, on: date, account: account.id, headers: ana))
                }
                recorded.withLock { $0 = (account.id, entries) }
            }
            let (account, entries) = try #require(recorded.withLock { $0 })
            // The consolidation never got the 500 credit's event.
            let events = try await ledger.outbox()
            try await harness.deliver(
                try events.filter { try $0.type != LedgerEntryRecorded.type || $0.decode(LedgerEntryRecorded.self).sequence != 3 }
            )

            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let outcome: Result<Void, any Error>
            do {
                outcome = .success(
                    try await ledger.live { url in
                        try await Self.exerciseRebuild(
                            harness, reader: LedgerReader(baseURL: url, httpClient: http, credential: harness.ledgerReader),
                            account: account,
                            missing: entries[2].id, ana: ana, finance: finance)
                    })
            } catch {
                outcome = .failure(error)
            }
            try await http.shutdown()
            try outcome.get()
        }
    }

    @Test("A rebuild brings back the owner of an account whose opening never arrived, even with nothing to repair")
    func rebuildRestoresTheOwner() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let ledger = try await LedgerFixture.make(stores[1], tokens: harness.tokens)
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            let opened = Mutex<String?>(nil)
            try await ledger.test { client in
                let account = try await client.openLedgerAccount(ana)
                _ = try await client.recordLedgerEntry(.credit, 2_000, on: "2026-03-09", account: account.id, headers: ana)
                opened.withLock { $0 = account.id }
            }
            let account = try #require(opened.withLock { $0 })
            // Only the entry's event arrives.
            try await harness.deliver(try await ledger.outbox().filter { $0.type == LedgerEntryRecorded.type })
            #expect(try await harness.account(account)?.ownerID == nil)

            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let outcome: Result<Void, any Error>
            do {
                outcome = .success(
                    try await ledger.live { url in
                        try await harness.test(
                            ledger: LedgerReader(baseURL: url, httpClient: http, credential: harness.ledgerReader)
                        ) { client in
                            let path = "/v1/accounts/\(account)/balances/2026-03-09"
                            #expect(try await client.send(.get, path, headers: finance).status == .ok)
                            #expect(try await client.send(.get, path, headers: ana).status == .notFound, "no owner known yet")
                            let response = try await client.send(
                                .post, "/v1/admin/consolidation/rebuild", headers: finance,
                                json: #"{"account_id": "\#(account)"}"#)
                            let report = try response.decode(ReportResponse.self)
                            #expect(report.consistent && !report.repaired, "the figures were right")
                            let owned = try await client.send(.get, path, headers: ana)
                            #expect(owned.status == .ok, "the owner, read from the ledger, sees the account")
                            #expect(try owned.decode(DayResponse.self).day.closingCents == 2_000)
                        }
                        // The ledger is read with the consolidation's own token, never the caller's:
                        // without ledger.read it is refused however senior the caller.
                        let unscoped = LedgerReader(
                            baseURL: url, httpClient: http,
                            credential: harness.tokens.serviceCredential("consolidation", scopes: ["catalog.read"]))
                        try await harness.test(ledger: unscoped) { client in
                            let refused = try await client.send(
                                .post, "/v1/admin/consolidation/rebuild", headers: finance,
                                json: #"{"account_id": "\#(account)", "verify": true}"#)
                            #expect(refused.status == .badGateway && refused.problem?.code == "ledger_unavailable")
                        }
                    })
            } catch {
                outcome = .failure(error)
            }
            try await http.shutdown()
            try outcome.get()
            #expect(try await harness.account(account)?.ownerID == "ana")
        }
    }

    @Test("The ledger's entries are read past its first page (500)")
    func theLedgerIsReadPageByPage() async throws {
        try await TestDatabases.withEachBackend(stores: 2) { stores in
            let harness = try await ConsolidationHarness.make(stores[0])
            let ledger = try await LedgerFixture.make(stores[1], tokens: harness.tokens)
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            let opened = Mutex<String?>(nil)
            try await ledger.test { client in
                let account = try await client.openLedgerAccount(ana)
                for index in 0..<501 {
                    let date = BusinessDate.adding(index % 7, to: "2026-03-01")
                    _ = try await client.recordLedgerEntry(.credit, 1, on: date, account: account.id, headers: ana)
                }
                opened.withLock { $0 = account.id }
            }
            let account = try #require(opened.withLock { $0 })
            // The consolidation has every entry but the last.
            let events = try await ledger.outbox()
            #expect(events.count == 502)
            try await harness.deliver(Array(events.dropLast()))

            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let outcome: Result<Void, any Error>
            do {
                outcome = .success(
                    try await ledger.live { url in
                        try await harness.test(
                            ledger: LedgerReader(baseURL: url, httpClient: http, credential: harness.ledgerReader)
                        ) { client in
                            let response = try await client.send(
                                .post, "/v1/admin/consolidation/rebuild", headers: finance,
                                json: #"{"account_id": "\#(account)", "verify": true}"#)
                            let report = try response.decode(ReportResponse.self)
                            #expect(report.ledgerEntries == 501)
                            #expect(report.missingEntryCount == 1 && report.unexpectedEntryCount == 0)
                            #expect(
                                report.missingEntries
                                    == [try events.last!.decode(LedgerEntryRecorded.self).entryID])
                        }
                    })
            } catch {
                outcome = .failure(error)
            }
            try await http.shutdown()
            try outcome.get()
        }
    }

    static func exerciseRebuild(
        _ harness: ConsolidationHarness, reader: LedgerReader, account: String, missing: String, ana: HTTPFields,
        finance: HTTPFields
    ) async throws {
        let admin = try await harness.headers("root", roles: [Role.admin])
        try await harness.test(ledger: reader) { client in
            func rebuild(_ json: String, as headers: HTTPFields? = nil) async throws -> TestResponse {
                try await client.send(.post, "/v1/admin/consolidation/rebuild", headers: headers ?? finance, json: json)
            }
            func closing(on date: String) async throws -> Int64 {
                let response = try await client.send(.get, "/v1/accounts/\(account)/balances/\(date)", headers: ana)
                try #require(response.status == .ok, "\(response.text)")
                return try response.decode(DayResponse.self).day.closingCents
            }
            #expect(try await closing(on: "2026-03-04") == 7_300, "without the 500")

            #expect(try await rebuild(#"{"account_id": "\#(account)"}"#, as: ana).status == .forbidden)
            #expect(try await client.send(.post, "/v1/admin/consolidation/rebuild", json: "{}").status == .unauthorized)
            let badID = try await rebuild(#"{"account_id": "nope"}"#)
            #expect(badID.status == .unprocessableContent)
            #expect(badID.problem?.errors?.map(\.field) == ["account_id"])
            let both = try await rebuild(#"{"account_id": "\#(account)", "date": "2026-03-04", "from": "2026-03-01"}"#)
            #expect(both.status == .unprocessableContent)
            #expect(both.problem?.errors?.map(\.field) == ["date"])
            #expect(try await rebuild(#"{"account_id": "\#(account)", "date": "2026-02-30"}"#).status == .unprocessableContent)
            let backwards = try await rebuild(#"{"account_id": "\#(account)", "from": "2026-03-05", "to": "2026-03-01"}"#)
            // No day is in the range: an empty report, nothing compared or written.
            #expect(backwards.status == .ok, "\(backwards.text)")
            let empty = try backwards.decode(ReportResponse.self)
            #expect(empty.consistent && empty.ledgerEntries == 0 && empty.differences.isEmpty && empty.mode == "rebuild")
            #expect(
                try await rebuild(#"{"account_id": "\#(newAccountID())", "from": "2026-03-05", "to": "2026-03-01"}"#).status
                    == .notFound, "still only for an account the ledger has")
            let blank = try await rebuild(#"{"account_id": "\#(account)", "date": "", "from": "", "to": "", "verify": null}"#)
            #expect(blank.status == .unprocessableContent && blank.problem?.code == "validation_failed")
            #expect(
                try await rebuild(#"{"account_id": "\#(newAccountID())"}"#).status == .notFound, "the ledger has no such account")

            let verify = try await rebuild(#"{"account_id": "\#(account)", "verify": true}"#)
            #expect(verify.status == .ok, "\(verify.text)")
            let found = try verify.decode(ReportResponse.self)
            #expect(found.mode == "verify" && !found.consistent && !found.repaired && found.ledgerEntries == 4)
            #expect(found.missingEntries == [missing] && found.unexpectedEntries.isEmpty)
            #expect(found.differences.map(\.date) == ["2026-03-04"])
            #expect(try await closing(on: "2026-03-04") == 7_300, "verify writes nothing")

            let repaired = try await rebuild(#"{"account_id": "\#(account.uppercased())", "date": "2026-03-04"}"#, as: admin)
            #expect(repaired.status == .ok, "\(repaired.text)")
            let report = try repaired.decode(ReportResponse.self)
            #expect(report.mode == "rebuild" && report.repaired && report.accountID == account)
            #expect(try await closing(on: "2026-03-04") == 7_800, "the cached day was invalidated by the rebuild")
            #expect(try await closing(on: "2026-03-10") == 7_800)

            let again = try await rebuild(#"{"account_id": "\#(account)", "verify": true}"#)
            #expect(try again.decode(ReportResponse.self).consistent)
        }
        // Without a ledger URL the instance cannot rebuild.
        try await harness.test(ledger: nil) { client in
            let response = try await client.send(
                .post, "/v1/admin/consolidation/rebuild", headers: finance, json: #"{"account_id": "\#(account)"}"#)
            #expect(response.status == .serviceUnavailable && response.problem?.code == "ledger_not_configured")
        }
    }
}
