import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaTesting
import Synchronization
import Testing

@testable import Consolidation

@Suite("Balances over HTTP", .serialized)
struct BalancesHTTPTests {
    /// An account of ana's with 10 000 in and 2 500 out on 03-09, and 1 000 in on 03-11.
    static func seed(_ harness: ConsolidationHarness) async throws -> (account: String, entries: [TestEntry]) {
        let account = newAccountID()
        let entries: [TestEntry] = [
            .credit(10_000, on: "2026-03-09", account: account, sequence: 1),
            .debit(2_500, on: "2026-03-09", account: account, sequence: 2),
            .credit(1_000, on: "2026-03-11", account: account, sequence: 3),
        ]
        try await harness.deliver(try accountOpened(account, owner: "ana"))
        try await harness.deliver(try entries.map { try $0.envelope() })
        return (account, entries)
    }

    @Test func theOwnerFinanceAndAdminsReadADayAndNoOneElse() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, entries) = try await Self.seed(harness)
            let path = "/v1/accounts/\(account)/balances/2026-03-09"
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            let admin = try await harness.headers("root", roles: [Role.admin])
            let bia = try await harness.headers("bia")
            try await harness.test { client in
                let response = try await client.send(.get, path, headers: ana)
                #expect(response.status == .ok, "\(response.text)")
                let etag = try #require(response.headers[.eTag])
                #expect(etag.count == 34 && etag.hasPrefix("\"") && etag.hasSuffix("\""))
                #expect(response.headers[.cacheControl] == "private, no-cache")
                #expect(response.headers[.contentType] == "application/json")
                let json = try response.jsonObject()
                #expect(
                    Set(json.keys) == [
                        "account_id", "currency", "date", "opening_balance_cents", "credits_cents", "debits_cents", "net_cents",
                        "closing_balance_cents", "entry_count", "freshness",
                    ])
                // Amounts are JSON integers, not decimals or strings.
                for (key, value) in [
                    ("opening_balance_cents", 0), ("credits_cents", 10_000), ("debits_cents", 2_500), ("net_cents", 7_500),
                    ("closing_balance_cents", 7_500), ("entry_count", 2),
                ] {
                    let written = #""\#(key)":\#(value)"#
                    #expect(
                        response.text.contains(written + ",") || response.text.contains(written + "}"),
                        "\(key) in \(response.text)")
                }
                let day = try response.decode(DayResponse.self)
                #expect(day.accountID == account && day.currency == "BRL")
                #expect(
                    day.day
                        == DayBalance(
                            date: "2026-03-09", openingCents: 0, creditsCents: 10_000, debitsCents: 2_500, closingCents: 7_500,
                            entryCount: 2))
                #expect(
                    day.freshness
                        == Freshness(
                            completeThroughSequence: 3, completeThroughRecordedAt: entries[2].recordedAt, latestSequenceSeen: 3,
                            pendingOutOfOrder: 0))
                let freshness = try #require(json["freshness"] as? [String: Any])
                #expect(
                    Set(freshness.keys) == [
                        "complete_through_sequence", "complete_through_recorded_at", "latest_sequence_seen",
                        "pending_out_of_order",
                    ])

                for headers in [finance, admin] {
                    let seen = try await client.send(.get, path, headers: headers)
                    #expect(seen.status == .ok)
                    #expect(seen.text == response.text && seen.headers[.eTag] == etag)
                }
                let refused = try await client.send(.get, path, headers: bia)
                #expect(refused.status == .notFound)
                #expect(refused.problem?.code == "not_found")
                #expect(refused.headers[.eTag] == nil)
                #expect(try await client.send(.get, path).status == .unauthorized)
                let unknown = "/v1/accounts/\(newAccountID())/balances/2026-03-09"
                #expect(try await client.send(.get, unknown, headers: ana).status == .notFound)
                #expect(try await client.send(.get, unknown, headers: admin).status == .notFound)
                #expect(try await client.send(.get, "/v1/accounts/42/balances/2026-03-09", headers: admin).status == .notFound)
                // Any spelling of the id names the same account.
                let upper = try await client.send(
                    .get, "/v1/accounts/\(account.uppercased())/balances/2026-03-09", headers: ana)
                #expect(upper.status == .ok && upper.text == response.text)
            }
        }
    }

    @Test func openAPIDescribesExactlyTheRoutesAndTheGatewayRulesCoverThem() async throws {
        try await TestDatabases.withSQLite { store in
            let harness = try await ConsolidationHarness.make(store)
            let router = ConsolidationService.buildRouter(
                runtime: harness.runtime, store: store, verifier: harness.tokens.verifier, cache: harness.cache, ledger: nil)
            #expect(Set(router.routes.map { "\($0.method) \($0.path)" }) == ConsolidationService.openAPI.routeKeys)
            #expect(
                ConsolidationService.routeRules.map { "\($0.policy.wire) \($0.prefix) \($0.methods ?? [])" } == [
                    "authenticated /v1/accounts/*/balances [\"GET\"]", "roles:admin,finance /v1/admin/consolidation []",
                ])
        }
    }

    @Test func anAccountWithoutEntriesAnswersZerosWithEveryField() async throws {
        try await ConsolidationHarness.run { harness in
            let account = newAccountID()
            try await harness.deliver(try accountOpened(account, owner: "ana"))
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let response = try await client.send(.get, "/v1/accounts/\(account)/balances/2026-03-09", headers: ana)
                #expect(response.status == .ok, "\(response.text)")
                let day = try response.decode(DayResponse.self)
                #expect(day.day == .quiet("2026-03-09", balance: 0))
                #expect(
                    day.freshness
                        == Freshness(
                            completeThroughSequence: 0, completeThroughRecordedAt: nil, latestSequenceSeen: 0,
                            pendingOutOfOrder: 0))
                // Every key is on the wire, null when there is no value yet.
                let freshness = try #require(try response.jsonObject()["freshness"] as? [String: Any])
                #expect(freshness["complete_through_recorded_at"] is NSNull, "\(response.text)")
                let range = try await client.send(
                    .get, "/v1/accounts/\(account)/balances?from=2026-03-08&to=2026-03-09", headers: ana)
                #expect(
                    try range.decode(RangeResponse.self).days == [
                        .quiet("2026-03-08", balance: 0), .quiet("2026-03-09", balance: 0),
                    ])
            }
        }
    }

    @Test(arguments: ["2026-02-30", "2026-13-01", "x", "2026-3-09", "2026-02-29"])
    func anInvalidDateIs422(date: String) async throws {
        try await ConsolidationHarness.run { harness in
            let (account, _) = try await Self.seed(harness)
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let response = try await client.send(.get, "/v1/accounts/\(account)/balances/\(date)", headers: ana)
                #expect(response.status == .unprocessableContent)
                #expect(response.problem?.code == "invalid_date")
            }
        }
    }

    @Test func quietDaysCarryTheBalanceAndDaysBeforeTheFirstAreZero() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, _) = try await Self.seed(harness)
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                var days: [DayBalance] = []
                for date in ["2026-03-10", "2026-03-08", "1999-01-01", "2026-03-11", "2027-01-01"] {
                    let response = try await client.send(.get, "/v1/accounts/\(account)/balances/\(date)", headers: ana)
                    try #require(response.status == .ok, "\(response.text)")
                    days.append(try response.decode(DayResponse.self).day)
                }
                #expect(
                    days == [
                        .quiet("2026-03-10", balance: 7_500), .quiet("2026-03-08", balance: 0), .quiet("1999-01-01", balance: 0),
                        DayBalance(
                            date: "2026-03-11", openingCents: 7_500, creditsCents: 1_000, debitsCents: 0, closingCents: 8_500,
                            entryCount: 1),
                        .quiet("2027-01-01", balance: 8_500),
                    ])
            }
        }
    }

    @Test("If-None-Match → 304; an applied entry invalidates the cache after its commit (never a stale body)")
    func etagsAndCacheInvalidation() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, _) = try await Self.seed(harness)
            let ana = try await harness.headers("ana")
            let dayPath = "/v1/accounts/\(account)/balances/2026-03-09"
            let laterPath = "/v1/accounts/\(account)/balances/2026-03-11"
            let rangePath = "/v1/accounts/\(account)/balances?from=2026-03-08&to=2026-03-12"
            @Sendable func conditional(_ etag: String) -> HTTPFields {
                var headers = ana
                headers[.ifNoneMatch] = etag
                return headers
            }
            // Rendered and cached before the entry.
            let before = try await Self.fetchAll([dayPath, laterPath, rangePath], ana, harness)
            try await harness.test { client in
                let notModified = try await client.send(.get, dayPath, headers: conditional(before[0].etag))
                #expect(notModified.status == .notModified)
                #expect(notModified.body.readableBytes == 0)
                #expect(notModified.headers[.eTag] == before[0].etag)
                let listed = try await client.send(.get, dayPath, headers: conditional("\"other\", \(before[0].etag)"))
                #expect(listed.status == .notModified, "one of a list of validators")
                #expect(try await client.send(.get, dayPath, headers: conditional("W/\(before[0].etag)")).status == .notModified)
                #expect(try await client.send(.get, dayPath, headers: conditional("*")).status == .notModified)
                #expect(try await client.send(.get, dayPath, headers: conditional("\"other\"")).status == .ok)
                #expect(try await client.send(.get, rangePath, headers: conditional(before[2].etag)).status == .notModified)
                let mismatch = try await client.send(.get, dayPath, headers: conditional("\"other\""))
                #expect(mismatch.status == .ok && mismatch.text == before[0].body)
            }

            // A late 600 debit on 03-09, committed but its after-commit work not run yet: the
            // cache still answers (it is in use), with the figures from before.
            let late = TestEntry.debit(600, on: "2026-03-09", account: account, sequence: 4)
            let context = try await harness.handleWithoutCommitActions(try late.envelope())
            let stale = try await Self.fetchAll([dayPath], ana, harness)
            #expect(stale[0].etag == before[0].etag, "served from the cache until the commit's invalidation runs")

            await context.runAfterCommit()
            let after = try await Self.fetchAll([dayPath, laterPath, rangePath], ana, harness)
            for (old, new) in zip(before, after) { #expect(old.etag != new.etag) }
            let day = try JSONCoding.decoder.decode(DayResponse.self, from: Data(after[0].body.utf8))
            #expect(day.day.debitsCents == 3_100 && day.day.closingCents == 6_900 && day.day.entryCount == 3)
            #expect(day.freshness.completeThroughSequence == 4)
            let later = try JSONCoding.decoder.decode(DayResponse.self, from: Data(after[1].body.utf8))
            #expect(later.day.openingCents == 6_900 && later.day.closingCents == 7_900)
            let range = try JSONCoding.decoder.decode(RangeResponse.self, from: Data(after[2].body.utf8))
            #expect(range.days.map(\.closingCents) == [0, 6_900, 6_900, 7_900, 7_900])
            try await harness.test { client in
                let old = try await client.send(.get, dayPath, headers: conditional(before[0].etag))
                #expect(old.status == .ok, "the old validator no longer matches")
                #expect(old.text == after[0].body)
                #expect(try await client.send(.get, dayPath, headers: conditional(after[0].etag)).status == .notModified)
            }

            // A redelivered entry changes nothing, and the validators stay.
            try await harness.deliver(try late.envelope())
            let again = try await Self.fetchAll([dayPath, laterPath, rangePath], ana, harness)
            #expect(again.map(\.etag) == after.map(\.etag))
        }
    }

    @Test("An account-opened event committed while a read caches the account does not lock the owner out")
    func theOwnerIsNotLockedOutByAHeaderCachedDuringTheOpening() async throws {
        try await TestDatabases.withEachBackend { store in
            let cache = InterleavingCache()
            let harness = try await ConsolidationHarness.make(store, keyValues: cache)
            let account = newAccountID()
            try await harness.deliver(try TestEntry.credit(900, on: "2026-03-09", account: account, sequence: 1).envelope())
            // Ana's read finds no owner yet; before it caches that, the account-opened event commits.
            cache.beforeNextHeaderWrite { try? await harness.deliver(try accountOpened(account, owner: "ana")) }
            let ana = try await harness.headers("ana")
            let path = "/v1/accounts/\(account)/balances/2026-03-09"
            try await harness.test { client in
                let overlapping = try await client.send(.get, path, headers: ana)
                #expect([.notFound, .ok].contains(overlapping.status), "it overlapped the commit: either answer")
                let next = try await client.send(.get, path, headers: ana)
                #expect(next.status == .ok, "the opening is committed: the owner must see the account")
                #expect(try await client.send(.get, path, headers: try await harness.headers("bia")).status == .notFound)
            }
        }
    }

    /// GETs each path as `headers`' user; each must answer 200 with an ETag.
    static func fetchAll(
        _ paths: [String], _ headers: HTTPFields, _ harness: ConsolidationHarness
    ) async throws -> [(etag: String, body: String)] {
        let results = ResultsBox()
        try await harness.test { client in
            for path in paths {
                let response = try await client.send(.get, path, headers: headers)
                try #require(response.status == .ok, "\(path): \(response.text)")
                results.append((try #require(response.headers[.eTag]), response.text))
            }
        }
        return results.values
    }

    @Test func aRangeListsEveryDayQuietOnesIncluded() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, entries) = try await Self.seed(harness)
            let ana = try await harness.headers("ana")
            let finance = try await harness.headers("fatima", roles: [Role.finance])
            try await harness.test { client in
                let response = try await client.send(
                    .get, "/v1/accounts/\(account)/balances?from=2026-03-07&to=2026-03-13", headers: ana)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.eTag] != nil)
                let range = try response.decode(RangeResponse.self)
                #expect(range.accountID == account && range.currency == "BRL")
                #expect(range.from == "2026-03-07" && range.to == "2026-03-13")
                let stored = recomputedDays(entries)
                #expect(
                    range.days == [
                        .quiet("2026-03-07", balance: 0), .quiet("2026-03-08", balance: 0), stored[0],
                        .quiet("2026-03-10", balance: 7_500), stored[1], .quiet("2026-03-12", balance: 8_500),
                        .quiet("2026-03-13", balance: 8_500),
                    ])
                #expect(range.freshness.completeThroughSequence == 3)
                #expect(response.text.contains(#""net_cents":7500,"#))

                // A range that starts after the first day opens with the balance before it.
                let tail = try await client.send(
                    .get, "/v1/accounts/\(account)/balances?from=2026-03-10&to=2026-03-10", headers: finance)
                #expect(try tail.decode(RangeResponse.self).days == [.quiet("2026-03-10", balance: 7_500)])

                let other = try await client.send(
                    .get, "/v1/accounts/\(account)/balances?from=2026-03-07&to=2026-03-13",
                    headers: try await harness.headers("bia"))
                #expect(other.status == .notFound)
            }
        }
    }

    @Test func rangeLimitsAndErrors() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, _) = try await Self.seed(harness)
            let ana = try await harness.headers("ana")
            let base = "/v1/accounts/\(account)/balances"
            try await harness.test { client in
                func problem(_ query: String) async throws -> String? {
                    let response = try await client.send(.get, base + query, headers: ana)
                    #expect(response.status == .unprocessableContent, "\(query): \(response.text)")
                    return response.problem?.code
                }
                #expect(try await problem("") == "invalid_date")
                #expect(try await problem("?from=2026-03-01") == "invalid_date")
                #expect(try await problem("?to=2026-03-01") == "invalid_date")
                #expect(try await problem("?from=2026-02-30&to=2026-03-01") == "invalid_date")
                #expect(try await problem("?from=2026-03-01&to=soon") == "invalid_date")
                func range(_ query: String) async throws -> RangeResponse {
                    let response = try await client.send(.get, base + query, headers: ana)
                    try #require(response.status == .ok, "\(query): \(response.text)")
                    return try response.decode(RangeResponse.self)
                }
                // from after to holds no day: an empty answer, not a refusal.
                let backwards = try await range("?from=2026-03-02&to=2026-03-01")
                #expect(backwards.days.isEmpty && backwards.nextFrom == nil && backwards.from == "2026-03-02")
                // 367 days (2026-01-01 … 2027-01-02) is one too many for a page: the first 366, and where the next starts.
                let paged = try await range("?from=2026-01-01&to=2027-01-02")
                #expect(paged.days.count == 366 && paged.days.last?.date == "2027-01-01" && paged.nextFrom == "2027-01-02")
                let rest = try await range("?from=2027-01-02&to=2027-01-02")
                #expect(rest.days.map(\.date) == ["2027-01-02"] && rest.nextFrom == nil)
                // Any year a full-date can name is a day of the proleptic Gregorian calendar.
                let ancient = try await range("?from=0142-10-06&to=0250-02-10")
                #expect(ancient.days.count == 366 && ancient.days.first?.date == "0142-10-06")
                #expect(ancient.nextFrom == "0143-10-07" && ancient.days.allSatisfy { $0.closingCents == 0 })
                let lastDays = try await range("?from=9999-12-30&to=9999-12-31")
                #expect(lastDays.days.map(\.date) == ["9999-12-30", "9999-12-31"] && lastDays.nextFrom == nil)
                let longest = try await client.send(.get, base + "?from=2026-01-01&to=2027-01-01", headers: ana)
                #expect(longest.status == .ok, "\(longest.text)")
                let days = try longest.decode(RangeResponse.self).days
                #expect(days.count == 366 && days.first?.date == "2026-01-01" && days.last?.date == "2027-01-01")
                #expect(try longest.decode(RangeResponse.self).nextFrom == nil)
                #expect(days.last?.closingCents == 8_500)
                // Including a leap day: 2028-01-01 … 2028-12-31 is 366 days.
                let leap = try await client.send(.get, base + "?from=2028-01-01&to=2028-12-31", headers: ana)
                #expect(try leap.decode(RangeResponse.self).days.count == 366)
                #expect(try leap.decode(RangeResponse.self).days.contains { $0.date == "2028-02-29" })
                let one = try await client.send(.get, base + "?from=2026-03-09&to=2026-03-09", headers: ana)
                #expect(try one.decode(RangeResponse.self).days.count == 1)
                #expect(
                    try await client.send(.get, "/v1/accounts/42/balances?from=2026-03-09&to=2026-03-09", headers: ana).status
                        == .notFound)
            }
        }
    }
}

/// Collects results from inside a `@Sendable` test closure.
final class ResultsBox: Sendable {
    private let storage = Mutex<[(etag: String, body: String)]>([])
    func append(_ value: (etag: String, body: String)) { storage.withLock { $0.append(value) } }
    var values: [(etag: String, body: String)] { storage.withLock { $0 } }
}
