import ArgumentParser
import Consolidation
import Contracts
import Foundation
import Ledger
import MalhaClient
import MalhaCore
import MalhaHTTP

/// Ledger entries at a fixed arrival rate, then every account's daily balances checked against
/// them. One user opens `--accounts` accounts; `--rate` entries a second in all arrive for
/// `--duration` seconds (open loop: writer `i` of C takes arrivals i, i + C, i + 2C… at their
/// scheduled times, and latency counts from the scheduled time). Each entry has its own
/// `Idempotency-Key`; a request without a definite answer (no connection, timeout, 5xx, 409 while
/// the first is still running) goes again with the same key and body until it is answered, for up
/// to `--retry-for` seconds after the load — so a server killed and restarted mid-run still ends
/// with every entry recorded exactly once. `--read-rate` reads daily balances alongside.
///
/// Afterwards it waits for the consolidation to catch up (its freshness reaches the last sequence
/// of every account) and compares each day of each account with the entries it was answered and
/// with the ledger's own list (which also holds entries whose answer was lost), and checks that
/// each day's balances add up and follow the day before. It fails (exit 1) on any entry lost,
/// counted twice, a day that differs, an entry left unanswered, or a failed read.
struct LoadCashFlow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cashflow",
        abstract: "Ledger entries at a fixed rate, balance reads alongside; then the daily balances checked entry by entry.")

    @Option(help: "The gateway.") var url = "http://127.0.0.1:8080"
    @Option(help: "Post and list entries straight to this ledger instance instead (the no-gateway reference).")
    var ledgerURL: String?
    @Option(help: "Entries per second offered, in all.") var rate: Double = 1000
    @Option(help: "Seconds of load (keep the whole run within the 15-minute access token).") var duration = 15
    @Option(help: "Accounts the entries spread over.") var accounts = 8
    @Option(help: "Concurrent writers, and as many readers.") var concurrency = 64
    @Option(help: "Entries occur over this many past days: later entries correct earlier days' balances.")
    var days = 3
    @Option(help: "Balance reads per second alongside the entries (0: none).") var readRate: Double = 0
    @Option(help: "Seconds after the load during which an entry without a definite answer is sent again.")
    var retryFor = 60
    @Option(help: "Seconds to wait after the load for the consolidation to catch up.") var settle = 60
    @Option(help: "Write the summary as JSON to this file too.") var output: String?
    @Option(help: "Write the user's token, the account ids and the days as JSON (to read the same balances with wrk).")
    var sessionOutput: String?

    static let timeZone = "America/Sao_Paulo"
    /// How long a request of the load may take before it counts as unanswered (and, an entry, is sent again).
    static let requestTimeout = Duration.seconds(10)

    func validate() throws {
        if !(rate > 0) || !(readRate >= 0) { throw ValidationError("--rate must be positive and --read-rate not negative") }
        if duration < 1 || concurrency < 1 || accounts < 1 {
            throw ValidationError("--duration, --concurrency and --accounts must be at least 1")
        }
        // The balances of a range are read in one request, which covers at most 366 days.
        if !(1...360).contains(days) { throw ValidationError("--days must be from 1 to 360") }
        if retryFor < 0 || settle < 1 { throw ValidationError("--retry-for must not be negative, --settle at least 1") }
    }

    func run() async throws {
        let summary = try await withClients(url, direct: ledgerURL) { gateway, ledger in
            try await drive(gateway, ledger: ledger)
        }
        if summary.failed { throw ExitCode(1) }
    }

    /// `gateway` opens the accounts and reads the balances; `ledger` takes and lists the entries
    /// (the gateway too, unless `--ledger-url` says otherwise).
    func drive(_ gateway: APIClient, ledger: APIClient) async throws -> CashFlowSummary {
        let run = UUID().uuidString.prefix(8).lowercased()
        let token = try await gateway.customer("cashflow-\(run)@example.com")
        let accountIDs = try await openAccounts(gateway, token: token, run: run)
        let window = BusinessDate.window(endingAt: Date(), days: days, in: TimeZone(identifier: Self.timeZone)!)
        let consolidation = CashFlowConsolidation(client: gateway, token: token)
        try await consolidation.waitUntilKnown(accountIDs, day: window.last!, within: .seconds(settle))
        if let sessionOutput {
            let session: [String: Any] = ["token": token, "accounts": accountIDs, "days": window]
            try JSONSerialization.data(withJSONObject: session).write(to: URL(fileURLWithPath: sessionOutput))
        }
        print(
            "load: \(accountIDs.count) accounts, \(rate) entries/s for \(duration) s over \(days) days, "
                + "\(concurrency) writers" + (readRate > 0 ? ", \(readRate) balance reads/s" : ""))

        let start = ContinuousClock.now
        let end = start + .seconds(duration)
        let writers = CashFlowWriters(
            client: ledger, token: token, accounts: accountIDs, days: days,
            schedule: ArrivalSchedule(rate: rate, workers: concurrency, start: start, end: end),
            retryDeadline: end + .seconds(retryFor))
        let readers = CashFlowReaders(
            client: gateway, token: token, accounts: accountIDs, days: window,
            schedule: ArrivalSchedule(rate: readRate, workers: concurrency, start: start, end: end))
        async let reading = readers.run()
        let writes = await writers.run()
        let reads = await reading
        let loadSeconds = start.duration(to: writes.finished ?? start).seconds

        let settled = try await consolidation.settle(
            accountIDs, recorded: writes.entries, ledger: ledger, window: window, within: .seconds(settle))
        let check = CashFlowCheck(
            accounts: accountIDs, recorded: writes.entries, ledger: settled.ledger, balances: settled.balances,
            days: settled.days)
        let summary = CashFlowSummary(
            offeredPerSecond: rate, durationSeconds: duration, accounts: accountIDs.count, writes: writes,
            loadSeconds: loadSeconds, readsOffered: readRate, reads: reads, caughtUp: settled.caughtUp,
            settleSeconds: settled.seconds, check: check)
        try report(summary, problems: writes.failures + reads.failures + settled.behind + check.problems)
        return summary
    }

    /// Prints the summary and the first problems found, and writes the summary to `--output`.
    func report(_ summary: CashFlowSummary, problems: [String]) throws {
        print(summary.text)
        if !problems.isEmpty {
            print("first problems:\n" + problems.prefix(10).map { "  \($0)" }.joined(separator: "\n"))
        }
        if let output {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(summary).write(to: URL(fileURLWithPath: output))
        }
    }

    func openAccounts(_ client: APIClient, token: String, run: String) async throws -> [String] {
        var ids: [String] = []
        for index in 1...accounts {
            let opened = try await client.send(
                .POST, "/v1/accounts", json: ["name": "Caixa \(run) \(index)", "currency": "BRL", "timezone": Self.timeZone],
                token: token)
            guard opened.status == 201, let id = opened.json["id"] as? String else {
                throw ValidationError("could not open an account: \(opened.status) \(opened.text)")
            }
            ids.append(id)
        }
        return ids
    }
}

// MARK: Load

/// Fixed-rate arrivals shared by `workers`: arrival n is due at `start + n / rate`; worker w takes
/// arrivals w, w + workers, w + 2·workers… until `end`.
struct ArrivalSchedule: Sendable {
    var rate: Double
    var workers: Int
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant

    /// Runs `body` for each of `worker`'s arrivals, at its due time or late (never early). An
    /// arrival still waiting when the clock passes `end` is not run but counted: the answer says
    /// how far behind the system fell.
    func arrivals(of worker: Int, _ body: (ContinuousClock.Instant) async -> Void) async -> Int {
        var missed = 0
        var arrival = worker
        while true {
            let due = start + .nanoseconds(Int64((Double(arrival) / rate * 1e9).rounded()))
            guard due < end else { return missed }
            arrival += workers
            if ContinuousClock.now >= end || Task.isCancelled {
                missed += 1
                continue
            }
            if due > .now { try? await Task.sleep(until: due) }
            await body(due)
        }
    }
}

/// The entry writers: each entry goes with its own key until the ledger answers it for good.
struct CashFlowWriters: Sendable {
    let client: APIClient
    let token: String
    let accounts: [String]
    let days: Int
    let schedule: ArrivalSchedule
    let retryDeadline: ContinuousClock.Instant

    struct Result: Sendable {
        /// Every entry answered 201, each once (a replay answers the same entry).
        var entries: [LedgerEntry] = []
        /// Milliseconds from the due time to the 201, retries included.
        var latencies: [Double] = []
        var rejected = 0
        var unresolved = 0
        var retries = 0
        var replayed = 0
        var notSent = 0
        var failures: [String] = []
        /// When the last writer stopped.
        var finished: ContinuousClock.Instant?

        mutating func merge(_ other: Result) {
            entries += other.entries
            latencies += other.latencies
            rejected += other.rejected
            unresolved += other.unresolved
            retries += other.retries
            replayed += other.replayed
            notSent += other.notSent
            failures += other.failures.prefix(max(0, 5 - failures.count))
            finished = [finished, other.finished].compactMap { $0 }.max()
        }
    }

    func run() async -> Result {
        var result = await withTaskGroup(of: Result.self) { group in
            for index in 0..<schedule.workers { group.addTask { await self.worker(index) } }
            return await group.reduce(into: Result()) { $0.merge($1) }
        }
        var unique = Set<String>()
        result.entries = result.entries.filter { unique.insert($0.id).inserted }
        return result
    }

    func worker(_ index: Int) async -> Result {
        var result = Result()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let decoder = JSONCoding.decoder
        let spread = Double(days) * 86_400
        let notSent = await schedule.arrivals(of: index) { due in
            // About 60% credits; spread over the past days, so earlier days keep being corrected.
            let type: LedgerEntryType = Double.random(in: 0..<1) < 0.6 ? .credit : .debit
            let occurredAt = formatter.string(from: Date().addingTimeInterval(-Double.random(in: 0..<spread)))
            let body =
                #"{"type":"\#(type.rawValue)","amount_cents":\#(Int.random(in: 1...100_000)),"occurred_at":"\#(occurredAt)"}"#
            await record(Data(body.utf8), on: accounts.randomElement()!, due: due, decoder: decoder, into: &result)
        }
        result.notSent = notSent
        result.finished = .now
        return result
    }

    /// Posts one entry until it gets a definite answer: 201 (recorded), another 4xx (rejected), or
    /// none before `retryDeadline` (unresolved).
    func record(
        _ body: Data, on account: String, due: ContinuousClock.Instant, decoder: JSONDecoder, into result: inout Result
    ) async {
        let key = UUID().uuidString
        var attempt = 0
        var problem = ""
        while true {
            do {
                let answer = try await client.send(
                    .POST, "/v1/accounts/\(account)/entries", body: body, token: token, headers: [("Idempotency-Key", key)],
                    timeout: LoadCashFlow.requestTimeout)
                switch answer.status {
                case 201:
                    guard let entry = try? decoder.decode(LedgerEntry.self, from: answer.body) else {
                        // Recorded, but the tool cannot tell what: the check counts it as answered to no one.
                        result.unresolved += 1
                        if result.failures.count < 5 { result.failures.append("201, but not an entry: \(answer.excerpt)") }
                        return
                    }
                    result.entries.append(entry)
                    result.latencies.append(due.duration(to: .now).milliseconds)
                    if answer.replayed { result.replayed += 1 }
                    return
                case 409, 429, 500...:
                    problem = "\(answer.status) \(answer.excerpt)"
                case 404 where answer.problemCode == "route_not_found":
                    // The gateway's answer, not the ledger's: no instance serves the route yet (one restarting).
                    problem = "\(answer.status) \(answer.excerpt)"
                default:
                    result.rejected += 1
                    if result.failures.count < 5 { result.failures.append("rejected: \(answer.status) \(answer.excerpt)") }
                    return
                }
            } catch {
                problem = "\(error)"
            }
            guard ContinuousClock.now < retryDeadline, !Task.isCancelled else {
                result.unresolved += 1
                if result.failures.count < 5 { result.failures.append("unresolved: \(problem)") }
                return
            }
            result.retries += 1
            try? await Task.sleep(for: Self.backoff(attempt))
            attempt += 1
        }
    }

    /// 20 ms doubling to 1 s, jittered so that writers cut off together do not come back together.
    static func backoff(_ attempt: Int) -> Duration {
        .milliseconds(Double.random(in: 0.5...1) * Double(min(1000, 20 << min(attempt, 6))))
    }
}

/// The balance readers: one account's day, picked at random from the window, per arrival.
struct CashFlowReaders: Sendable {
    let client: APIClient
    let token: String
    let accounts: [String]
    let days: [String]
    let schedule: ArrivalSchedule

    struct Result: Sendable {
        var reads = 0
        var errors = 0
        var latencies: [Double] = []
        var failures: [String] = []

        mutating func merge(_ other: Result) {
            reads += other.reads
            errors += other.errors
            latencies += other.latencies
            failures += other.failures.prefix(max(0, 5 - failures.count))
        }
    }

    func run() async -> Result {
        guard schedule.rate > 0 else { return Result() }
        return await withTaskGroup(of: Result.self) { group in
            for index in 0..<schedule.workers { group.addTask { await self.worker(index) } }
            return await group.reduce(into: Result()) { $0.merge($1) }
        }
    }

    func worker(_ index: Int) async -> Result {
        var result = Result()
        _ = await schedule.arrivals(of: index) { due in
            result.reads += 1
            let path = "/v1/accounts/\(accounts.randomElement()!)/balances/\(days.randomElement()!)"
            do {
                let answer = try await client.send(.GET, path, token: token, timeout: LoadCashFlow.requestTimeout)
                guard answer.status == 200 else { throw ReadFailed(detail: "\(path): \(answer.status) \(answer.excerpt)") }
                result.latencies.append(due.duration(to: .now).milliseconds)
            } catch {
                result.errors += 1
                if result.failures.count < 5 { result.failures.append("read: \(error)") }
            }
        }
        return result
    }

    struct ReadFailed: Error, CustomStringConvertible {
        var detail: String
        var description: String { detail }
    }
}

// MARK: Consolidation

extension BalanceRange {
    /// Every entry up to `sequence` is counted, and nothing it has seen is waiting for a gap.
    func isComplete(through sequence: Int64) -> Bool {
        freshness.completeThroughSequence == freshness.latestSequenceSeen && freshness.completeThroughSequence >= sequence
    }
}

extension Freshness {
    /// For a problem found: how far the consolidation is.
    var summary: String {
        "complete through sequence \(completeThroughSequence), latest seen \(latestSequenceSeen), "
            + "\(pendingOutOfOrder) pending out of order"
    }
}

/// The consolidation as the load tool sees it: through the gateway, with the user's token.
struct CashFlowConsolidation: Sendable {
    let client: APIClient
    let token: String

    /// Waits until the consolidation answers a day of each account (it learns of an account from
    /// the ledger's event), so that reads do not fail merely because the load started first.
    func waitUntilKnown(_ accounts: [String], day: String, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        for account in accounts {
            while true {
                let answer = try? await client.send(
                    .GET, "/v1/accounts/\(account)/balances/\(day)", token: token, timeout: LoadCashFlow.requestTimeout)
                if answer?.status == 200 { break }
                guard ContinuousClock.now < deadline else {
                    throw ValidationError(
                        "the consolidation did not know account \(account) after \(limit): "
                            + (answer.map { "\($0.status) \($0.excerpt)" } ?? "no answer"))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    struct Settled {
        var ledger: [String: [LedgerEntry]]
        var balances: [String: BalanceRange]
        var days: [String]
        var caughtUp: Bool
        /// From the end of the load until the consolidation counted every entry answered.
        var seconds: Double
        /// The accounts it had not caught up with, and how far it was.
        var behind: [String]
    }

    /// Waits until every entry answered is counted, lists the ledger's own entries, waits for those
    /// too (an entry recorded without its answer reaching the tool), and reads the final balances:
    /// from the day before the first entry's day (when each account was still empty) to the last.
    func settle(
        _ accounts: [String], recorded: [LedgerEntry], ledger: APIClient, window: [String], within limit: Duration
    ) async throws -> Settled {
        let started = ContinuousClock.now
        let deadline = started + limit
        let windowRange = BusinessDate.range(from: BusinessDate.adding(-1, to: window.first!), through: window.last!)
        var polled = try await balances(accounts, days: windowRange, through: lastSequences(recorded), until: deadline)
        let seconds = started.duration(to: .now).seconds
        var listed: [String: [LedgerEntry]] = [:]
        for account in accounts { listed[account] = try await entries(of: account, on: ledger) }
        let all = listed.values.flatMap { $0 } + recorded
        let dates = all.map(\.businessDate) + window
        let days = BusinessDate.range(from: BusinessDate.adding(-1, to: dates.min()!), through: dates.max()!)
        let last = lastSequences(all)
        polled = try await balances(accounts, days: days, through: last, until: deadline)
        let behind = accounts.compactMap { account -> String? in
            // No balances at all: the check says so.
            guard let balances = polled.balances[account], !balances.isComplete(through: last[account] ?? 0) else { return nil }
            return "account \(account) not caught up: \(balances.freshness.summary); "
                + "the ledger's last sequence is \(last[account] ?? 0)"
        }
        return Settled(
            ledger: listed, balances: polled.balances, days: days, caughtUp: polled.complete, seconds: seconds, behind: behind)
    }

    func lastSequences(_ entries: [LedgerEntry]) -> [String: Int64] {
        entries.reduce(into: [:]) { last, entry in last[entry.accountID] = max(last[entry.accountID] ?? 0, entry.sequence) }
    }

    /// Polls every account's balances over `days` until each is complete through its sequence in
    /// `sequences`, or `deadline` passes (at least once): the last answers, and whether they were.
    func balances(
        _ accounts: [String], days: [String], through sequences: [String: Int64], until deadline: ContinuousClock.Instant
    ) async throws -> (balances: [String: BalanceRange], complete: Bool) {
        let path = "/balances?from=\(days.first!)&to=\(days.last!)"
        while true {
            var found: [String: BalanceRange] = [:]
            for account in accounts {
                let answer = try? await client.send(
                    .GET, "/v1/accounts/\(account)\(path)", token: token, timeout: LoadCashFlow.requestTimeout)
                if let answer, answer.status == 200 {
                    found[account] = try JSONCoding.decoder.decode(BalanceRange.self, from: answer.body)
                }
            }
            let complete = accounts.allSatisfy { found[$0]?.isComplete(through: sequences[$0] ?? 0) == true }
            if complete || ContinuousClock.now >= deadline { return (found, complete) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Every entry of `account`, as the ledger lists them (by sequence, a page at a time).
    func entries(of account: String, on ledger: APIClient) async throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        var cursor: String?
        repeat {
            let path = "/v1/accounts/\(account)/entries?limit=500" + (cursor.map { "&cursor=\($0)" } ?? "")
            let answer: APIClient.Response
            do {
                answer = try await ledger.send(.GET, path, token: token, timeout: LoadCashFlow.requestTimeout)
            } catch {
                throw ValidationError("listing the entries of \(account) (to compare the balances with): \(error)")
            }
            guard answer.status == 200 else {
                throw ValidationError("listing the entries of \(account): \(answer.status) \(answer.excerpt)")
            }
            let page = try JSONCoding.decoder.decode(Page<LedgerEntry>.self, from: answer.body)
            entries += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return entries
    }
}

// MARK: Check

/// The balances against the entries, day by day: pure, from what was collected.
struct CashFlowCheck: Codable, Sendable {
    var daysChecked = 0
    /// Entries (answered, or listed by the ledger) that a day's balance does not count.
    var lost = 0
    /// Entries a day's balance counts beyond those the ledger has.
    var duplicated = 0
    /// Days whose totals differ from the ledger's, that do not add up, or do not follow the day before.
    var mismatchedDays = 0
    /// Entries answered 201 that the ledger does not list (or lists otherwise).
    var notInLedger = 0
    /// Entries the ledger lists whose answer never reached the tool.
    var unanswered = 0
    var problems: [String] = []

    struct Totals: Equatable, CustomStringConvertible {
        var credits: Int64 = 0
        var debits: Int64 = 0
        var count = 0
        var description: String { "credits \(credits), debits \(debits), \(count) entries" }
    }

    init(
        accounts: [String], recorded: [LedgerEntry], ledger: [String: [LedgerEntry]],
        balances: [String: BalanceRange], days: [String]
    ) {
        let recordedByAccount = Dictionary(grouping: recorded, by: \.accountID)
        for account in accounts {
            check(
                account, recorded: recordedByAccount[account] ?? [], ledger: ledger[account] ?? [],
                balances: balances[account], days: days)
        }
    }

    mutating func check(
        _ account: String, recorded: [LedgerEntry], ledger: [LedgerEntry], balances: BalanceRange?, days: [String]
    ) {
        let listed = Dictionary(ledger.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in recorded where listed[entry.id] != entry {
            notInLedger += 1
            let found = listed[entry.id].map { "\($0)" } ?? "no such entry"
            note("entry \(entry.id) was answered 201 as \(entry); the ledger lists \(found)")
        }
        let answeredIDs = Set(recorded.map(\.id))
        unanswered += ledger.filter { !answeredIDs.contains($0.id) }.count
        let expected = Self.totals(ledger)
        let answered = Self.totals(recorded)
        let reported = Dictionary((balances?.days ?? []).map { ($0.date, $0) }, uniquingKeysWith: { first, _ in first })
        if balances == nil { note("account \(account): no balances from the consolidation") }
        // The range starts the day before the account's first entry: nothing before it.
        var previousClosing: Int64 = 0
        for date in days {
            daysChecked += 1
            let want = expected[date] ?? Totals()
            let entries = max(want.count, answered[date]?.count ?? 0)
            guard let day = reported[date] else {
                lost += entries
                mismatchedDays += 1
                if balances != nil { note("account \(account) \(date): the consolidation lists no such day") }
                continue
            }
            lost += max(0, entries - Int(day.entryCount))
            duplicated += max(0, Int(day.entryCount) - want.count)
            let wrong = Self.differences(day, want: want, previousClosing: previousClosing)
            if !wrong.isEmpty {
                mismatchedDays += 1
                note("account \(account) \(date): " + wrong.joined(separator: "; "))
            }
            previousClosing = day.closingCents
        }
    }

    static func differences(_ day: DayBalance, want: Totals, previousClosing: Int64) -> [String] {
        var wrong: [String] = []
        let have = Totals(credits: day.creditsCents, debits: day.debitsCents, count: Int(day.entryCount))
        if have != want { wrong.append("\(have), but the ledger has \(want)") }
        // `net_cents` is not compared with credits − debits here: `DayBalance` writes it as exactly
        // that and reads it back the same way (ConsolidationTests check the wire value).
        if day.closingCents != day.openingCents + day.netCents {
            wrong.append("closing \(day.closingCents) ≠ opening \(day.openingCents) + net \(day.netCents)")
        }
        if day.openingCents != previousClosing {
            wrong.append("opening \(day.openingCents) ≠ the day before's closing \(previousClosing)")
        }
        return wrong
    }

    static func totals(_ entries: [LedgerEntry]) -> [String: Totals] {
        entries.reduce(into: [:]) { totals, entry in
            var day = totals[entry.businessDate] ?? Totals()
            if entry.type == .credit { day.credits += entry.amountCents } else { day.debits += entry.amountCents }
            day.count += 1
            totals[entry.businessDate] = day
        }
    }

    mutating func note(_ problem: String) {
        if problems.count < 10 { problems.append(problem) }
    }
}

/// Ranges of business days, counted the way the ledger dates entries and the consolidation
/// walks them.
extension BusinessDate {
    /// The business days from `days` days before `end` through `end`'s, in `timeZone`.
    static func window(endingAt end: Date, days: Int, in timeZone: TimeZone) -> [String] {
        range(from: of(end.addingTimeInterval(-Double(days) * 86_400), in: timeZone), through: of(end, in: timeZone))
    }

    /// `from` through `through`, one day apart (just `from` when `through` is earlier).
    static func range(from: String, through: String) -> [String] {
        (0...max(0, distance(from: from, to: through))).map { adding($0, to: from) }
    }
}

// MARK: Summary

/// Latency percentiles in milliseconds.
struct LatencySummary: Codable {
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double

    init(_ latencies: [Double]) {
        let sorted = latencies.sorted()
        p50 = percentile(sorted, 0.50)
        p90 = percentile(sorted, 0.90)
        p99 = percentile(sorted, 0.99)
        max = sorted.last ?? 0
    }

    var text: String { "p50 \(decimal(p50)) ms, p90 \(decimal(p90)) ms, p99 \(decimal(p99)) ms, max \(decimal(max)) ms" }
}

struct CashFlowSummary: Codable {
    var offeredPerSecond: Double
    var durationSeconds: Int
    var accounts: Int
    var accepted: Int
    var rejected: Int
    var unresolved: Int
    var retries: Int
    var replayed: Int
    /// Arrivals still waiting for a writer when the load ended (the system fell behind the rate).
    var notSent: Int
    /// From the first arrival until the last writer stopped.
    var loadSeconds: Double
    var entriesPerSecond: Double
    var write: LatencySummary
    var readsOffered: Double
    var reads: Int
    var readErrors: Int
    var readsPerSecond: Double
    var read: LatencySummary
    var caughtUp: Bool
    var settleSeconds: Double
    var check: CashFlowCheck

    init(
        offeredPerSecond: Double, durationSeconds: Int, accounts: Int, writes: CashFlowWriters.Result, loadSeconds: Double,
        readsOffered: Double, reads: CashFlowReaders.Result, caughtUp: Bool, settleSeconds: Double, check: CashFlowCheck
    ) {
        self.offeredPerSecond = offeredPerSecond
        self.durationSeconds = durationSeconds
        self.accounts = accounts
        accepted = writes.entries.count
        rejected = writes.rejected
        unresolved = writes.unresolved
        retries = writes.retries
        replayed = writes.replayed
        notSent = writes.notSent
        self.loadSeconds = loadSeconds
        entriesPerSecond = loadSeconds > 0 ? Double(accepted) / loadSeconds : 0
        write = LatencySummary(writes.latencies)
        self.readsOffered = readsOffered
        self.reads = reads.reads
        readErrors = reads.errors
        readsPerSecond = Double(reads.reads) / Double(durationSeconds)
        read = LatencySummary(reads.latencies)
        self.caughtUp = caughtUp
        self.settleSeconds = settleSeconds
        self.check = check
    }

    var failed: Bool {
        check.lost > 0 || check.duplicated > 0 || check.mismatchedDays > 0 || check.notInLedger > 0 || unresolved > 0
            || readErrors > 0 || !caughtUp
    }

    var text: String {
        var lines = [
            "entries      \(accepted) accepted (\(decimal(entriesPerSecond, 0))/s over \(decimal(loadSeconds)) s), "
                + "rejected \(rejected), unresolved \(unresolved), retries \(retries) (replayed \(replayed)), not sent \(notSent)",
            "write        " + write.text,
        ]
        if readsOffered > 0 {
            lines.append("reads        \(reads) (\(decimal(readsPerSecond, 0))/s), errors \(readErrors), " + read.text)
        }
        lines += [
            caughtUp
                ? "consolidated \(decimal(settleSeconds)) s after the load; \(check.daysChecked) account-days checked"
                : "consolidated NOT caught up within --settle; \(check.daysChecked) account-days checked",
            "consistency  lost \(check.lost), duplicated \(check.duplicated), mismatched days \(check.mismatchedDays), "
                + "not in ledger \(check.notInLedger), recorded without an answer \(check.unanswered)"
                + (failed ? "  — FAILED" : "  — ok"),
        ]
        return lines.joined(separator: "\n")
    }
}

/// `value` with `digits` decimals.
private func decimal(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
