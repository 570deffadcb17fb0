import ArgumentParser
import AsyncHTTPClient
import Foundation
import MalhaCore
import NIOCore
import NIOHTTP1

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
        let gateway = LoadClient(base: url)
        let ledger = ledgerURL.map { LoadClient(base: $0) } ?? gateway
        let summary: CashFlowSummary
        do {
            summary = try await drive(gateway, ledger: ledger)
        } catch {
            try? await gateway.http.shutdown()
            if ledgerURL != nil { try? await ledger.http.shutdown() }
            throw error
        }
        try await gateway.http.shutdown()
        if ledgerURL != nil { try await ledger.http.shutdown() }
        if summary.failed { throw ExitCode(1) }
    }

    /// `gateway` opens the accounts and reads the balances; `ledger` takes and lists the entries
    /// (the gateway too, unless `--ledger-url` says otherwise).
    func drive(_ gateway: LoadClient, ledger: LoadClient) async throws -> CashFlowSummary {
        let run = UUID().uuidString.prefix(8).lowercased()
        let token = try await gateway.customer("cashflow-\(run)@example.com")
        let accountIDs = try await openAccounts(gateway, token: token, run: run)
        let window = CashFlowCalendar.window(endingAt: Date(), days: days, timeZone: Self.timeZone)
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

    func openAccounts(_ client: LoadClient, token: String, run: String) async throws -> [String] {
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

/// An entry as the ledger answers it, reduced to what the balances count.
struct CashFlowEntry: Sendable, Hashable, Decodable {
    var id: String
    var accountID: String
    var sequence: Int64
    var type: String
    var amountCents: Int64
    var businessDate: String

    enum CodingKeys: String, CodingKey {
        case id, sequence, type
        case accountID = "account_id"
        case amountCents = "amount_cents"
        case businessDate = "business_date"
    }
}

/// The entry writers: each entry goes with its own key until the ledger answers it for good.
struct CashFlowWriters: Sendable {
    let client: LoadClient
    let token: String
    let accounts: [String]
    let days: Int
    let schedule: ArrivalSchedule
    let retryDeadline: ContinuousClock.Instant

    struct Result: Sendable {
        /// Every entry answered 201, each once (a replay answers the same entry).
        var entries: [CashFlowEntry] = []
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
        let decoder = JSONDecoder()
        let spread = Double(days) * 86_400
        let notSent = await schedule.arrivals(of: index) { due in
            // About 60% credits; spread over the past days, so earlier days keep being corrected.
            let type = Double.random(in: 0..<1) < 0.6 ? "credit" : "debit"
            let occurredAt = formatter.string(from: Date().addingTimeInterval(-Double.random(in: 0..<spread)))
            let body = #"{"type":"\#(type)","amount_cents":\#(Int.random(in: 1...100_000)),"occurred_at":"\#(occurredAt)"}"#
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
                let answer = try await client.exchange(
                    .POST, "/v1/accounts/\(account)/entries", body: body, token: token, headers: [("Idempotency-Key", key)])
                switch answer.status {
                case 201:
                    guard let entry = try? decoder.decode(CashFlowEntry.self, from: answer.body) else {
                        // Recorded, but the tool cannot tell what: the check counts it as answered to no one.
                        result.unresolved += 1
                        if result.failures.count < 5 { result.failures.append("201, but not an entry: \(answer.text)") }
                        return
                    }
                    result.entries.append(entry)
                    result.latencies.append(due.duration(to: .now).milliseconds)
                    if answer.replayed { result.replayed += 1 }
                    return
                case 409, 429, 500...:
                    problem = "\(answer.status) \(answer.text)"
                case 404 where answer.problemCode == "route_not_found":
                    // The gateway's answer, not the ledger's: no instance serves the route yet (one restarting).
                    problem = "\(answer.status) \(answer.text)"
                default:
                    result.rejected += 1
                    if result.failures.count < 5 { result.failures.append("rejected: \(answer.status) \(answer.text)") }
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
    let client: LoadClient
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
                let answer = try await client.exchange(.GET, path, token: token)
                guard answer.status == 200 else { throw ReadFailed(detail: "\(path): \(answer.status) \(answer.text)") }
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

extension LoadClient {
    struct Exchange {
        var status: Int
        /// `Idempotent-Replayed: true`: the answer of an earlier request with the same key.
        var replayed: Bool
        var body: Data
        var text: String { String(decoding: body.prefix(300), as: UTF8.self) }
        /// A problem+json answer's `code`.
        var problemCode: String? { (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["code"] as? String }
    }

    /// A request with a body already encoded (so that a retry sends the very same bytes).
    func exchange(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, token: String, headers: [(String, String)] = []
    ) async throws -> Exchange {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let collected = try await response.body.collect(upTo: 16 << 20)
        return Exchange(
            status: Int(response.status.code), replayed: response.headers.first(name: "Idempotent-Replayed") == "true",
            body: Data(collected.readableBytesView))
    }
}

// MARK: Consolidation

/// A range of an account's daily balances, as the consolidation answers it.
struct CashFlowBalances: Sendable, Decodable {
    struct Day: Sendable, Decodable {
        var date: String
        var openingBalanceCents: Int64
        var creditsCents: Int64
        var debitsCents: Int64
        var netCents: Int64
        var closingBalanceCents: Int64
        var entryCount: Int

        enum CodingKeys: String, CodingKey {
            case date
            case openingBalanceCents = "opening_balance_cents"
            case creditsCents = "credits_cents"
            case debitsCents = "debits_cents"
            case netCents = "net_cents"
            case closingBalanceCents = "closing_balance_cents"
            case entryCount = "entry_count"
        }
    }

    struct Freshness: Sendable, Decodable, CustomStringConvertible {
        var completeThroughSequence: Int64
        var latestSequenceSeen: Int64
        var pendingOutOfOrder: Int64?

        enum CodingKeys: String, CodingKey {
            case completeThroughSequence = "complete_through_sequence"
            case latestSequenceSeen = "latest_sequence_seen"
            case pendingOutOfOrder = "pending_out_of_order"
        }

        var description: String {
            "complete through sequence \(completeThroughSequence), latest seen \(latestSequenceSeen), "
                + "\(pendingOutOfOrder.map(String.init) ?? "?") pending out of order"
        }
    }

    var days: [Day]
    var freshness: Freshness

    /// Every entry up to `sequence` is counted, and nothing it has seen is waiting for a gap.
    func isComplete(through sequence: Int64) -> Bool {
        freshness.completeThroughSequence == freshness.latestSequenceSeen && freshness.completeThroughSequence >= sequence
    }
}

/// The consolidation as the load tool sees it: through the gateway, with the user's token.
struct CashFlowConsolidation: Sendable {
    let client: LoadClient
    let token: String

    /// Waits until the consolidation answers a day of each account (it learns of an account from
    /// the ledger's event), so that reads do not fail merely because the load started first.
    func waitUntilKnown(_ accounts: [String], day: String, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        for account in accounts {
            while true {
                let answer = try? await client.exchange(.GET, "/v1/accounts/\(account)/balances/\(day)", token: token)
                if answer?.status == 200 { break }
                guard ContinuousClock.now < deadline else {
                    throw ValidationError(
                        "the consolidation did not know account \(account) after \(limit): "
                            + (answer.map { "\($0.status) \($0.text)" } ?? "no answer"))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    struct Settled {
        var ledger: [String: [CashFlowEntry]]
        var balances: [String: CashFlowBalances]
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
        _ accounts: [String], recorded: [CashFlowEntry], ledger: LoadClient, window: [String], within limit: Duration
    ) async throws -> Settled {
        let started = ContinuousClock.now
        let deadline = started + limit
        let windowRange = CashFlowCalendar.days(from: CashFlowCalendar.previous(window.first!), through: window.last!)
        var polled = try await balances(accounts, days: windowRange, through: lastSequences(recorded), until: deadline)
        let seconds = started.duration(to: .now).seconds
        var listed: [String: [CashFlowEntry]] = [:]
        for account in accounts { listed[account] = try await entries(of: account, on: ledger) }
        let all = listed.values.flatMap { $0 } + recorded
        let dates = all.map(\.businessDate) + window
        let days = CashFlowCalendar.days(from: CashFlowCalendar.previous(dates.min()!), through: dates.max()!)
        let last = lastSequences(all)
        polled = try await balances(accounts, days: days, through: last, until: deadline)
        let behind = accounts.compactMap { account -> String? in
            // No balances at all: the check says so.
            guard let balances = polled.balances[account], !balances.isComplete(through: last[account] ?? 0) else { return nil }
            return "account \(account) not caught up: \(balances.freshness); the ledger's last sequence is \(last[account] ?? 0)"
        }
        return Settled(
            ledger: listed, balances: polled.balances, days: days, caughtUp: polled.complete, seconds: seconds, behind: behind)
    }

    func lastSequences(_ entries: [CashFlowEntry]) -> [String: Int64] {
        entries.reduce(into: [:]) { last, entry in last[entry.accountID] = max(last[entry.accountID] ?? 0, entry.sequence) }
    }

    /// Polls every account's balances over `days` until each is complete through its sequence in
    /// `sequences`, or `deadline` passes (at least once): the last answers, and whether they were.
    func balances(
        _ accounts: [String], days: [String], through sequences: [String: Int64], until deadline: ContinuousClock.Instant
    ) async throws -> (balances: [String: CashFlowBalances], complete: Bool) {
        let path = "/balances?from=\(days.first!)&to=\(days.last!)"
        while true {
            var found: [String: CashFlowBalances] = [:]
            for account in accounts {
                let answer = try? await client.exchange(.GET, "/v1/accounts/\(account)\(path)", token: token)
                if let answer, answer.status == 200 {
                    found[account] = try JSONDecoder().decode(CashFlowBalances.self, from: answer.body)
                }
            }
            let complete = accounts.allSatisfy { found[$0]?.isComplete(through: sequences[$0] ?? 0) == true }
            if complete || ContinuousClock.now >= deadline { return (found, complete) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Every entry of `account`, as the ledger lists them (by sequence, a page at a time).
    func entries(of account: String, on ledger: LoadClient) async throws -> [CashFlowEntry] {
        struct Page: Decodable {
            var items: [CashFlowEntry]
            var nextCursor: String?
            enum CodingKeys: String, CodingKey {
                case items
                case nextCursor = "next_cursor"
            }
        }
        var entries: [CashFlowEntry] = []
        var cursor: String?
        repeat {
            let path = "/v1/accounts/\(account)/entries?limit=500" + (cursor.map { "&cursor=\($0)" } ?? "")
            let answer: LoadClient.Exchange
            do {
                answer = try await ledger.exchange(.GET, path, token: token)
            } catch {
                throw ValidationError("listing the entries of \(account) (to compare the balances with): \(error)")
            }
            guard answer.status == 200 else {
                throw ValidationError("listing the entries of \(account): \(answer.status) \(answer.text)")
            }
            let page = try JSONDecoder().decode(Page.self, from: answer.body)
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
        accounts: [String], recorded: [CashFlowEntry], ledger: [String: [CashFlowEntry]],
        balances: [String: CashFlowBalances], days: [String]
    ) {
        let recordedByAccount = Dictionary(grouping: recorded, by: \.accountID)
        for account in accounts {
            check(
                account, recorded: recordedByAccount[account] ?? [], ledger: ledger[account] ?? [],
                balances: balances[account], days: days)
        }
    }

    mutating func check(
        _ account: String, recorded: [CashFlowEntry], ledger: [CashFlowEntry], balances: CashFlowBalances?, days: [String]
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
            lost += max(0, entries - day.entryCount)
            duplicated += max(0, day.entryCount - want.count)
            let wrong = Self.differences(day, want: want, previousClosing: previousClosing)
            if !wrong.isEmpty {
                mismatchedDays += 1
                note("account \(account) \(date): " + wrong.joined(separator: "; "))
            }
            previousClosing = day.closingBalanceCents
        }
    }

    static func differences(_ day: CashFlowBalances.Day, want: Totals, previousClosing: Int64) -> [String] {
        var wrong: [String] = []
        let have = Totals(credits: day.creditsCents, debits: day.debitsCents, count: day.entryCount)
        if have != want { wrong.append("\(have), but the ledger has \(want)") }
        if day.netCents != day.creditsCents - day.debitsCents { wrong.append("net \(day.netCents) ≠ credits − debits") }
        if day.closingBalanceCents != day.openingBalanceCents + day.netCents {
            wrong.append("closing \(day.closingBalanceCents) ≠ opening \(day.openingBalanceCents) + net \(day.netCents)")
        }
        if day.openingBalanceCents != previousClosing {
            wrong.append("opening \(day.openingBalanceCents) ≠ the day before's closing \(previousClosing)")
        }
        return wrong
    }

    static func totals(_ entries: [CashFlowEntry]) -> [String: Totals] {
        entries.reduce(into: [:]) { totals, entry in
            var day = totals[entry.businessDate] ?? Totals()
            if entry.type == "credit" { day.credits += entry.amountCents } else { day.debits += entry.amountCents }
            day.count += 1
            totals[entry.businessDate] = day
        }
    }

    mutating func note(_ problem: String) {
        if problems.count < 10 { problems.append(problem) }
    }
}

/// Business days ("YYYY-MM-DD") the way the ledger dates entries: in the account's time zone.
enum CashFlowCalendar {
    /// The business days from `days` days before `end` through `end`'s, in `timeZone`.
    static func window(endingAt end: Date, days: Int, timeZone: String) -> [String] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone)!
        func day(_ date: Date) -> String {
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            return format(parts.year!, parts.month!, parts.day!)
        }
        return self.days(from: day(end.addingTimeInterval(-Double(days) * 86_400)), through: day(end))
    }

    /// `from` through `through`, one day apart (plain calendar arithmetic: the text names the day).
    static func days(from: String, through: String) -> [String] {
        var days = [from]
        while days.last! < through { days.append(shifted(days.last!, by: 1)) }
        return days
    }

    static func previous(_ day: String) -> String { shifted(day, by: -1) }

    static func shifted(_ day: String, by count: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = day.split(separator: "-").compactMap { Int($0) }
        let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))!
        let moved = calendar.dateComponents([.year, .month, .day], from: calendar.date(byAdding: .day, value: count, to: date)!)
        return format(moved.year!, moved.month!, moved.day!)
    }

    static func format(_ year: Int, _ month: Int, _ day: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            String(repeating: "0", count: max(0, width - String(value).count)) + String(value)
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
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
