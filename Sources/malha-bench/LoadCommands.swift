import ArgumentParser
import Foundation
import MalhaClient
import MalhaCore

/// `malha-bench load …`: load generators that end by checking what they did, for benchmarks and for
/// people who want to see the system under pressure. They talk HTTP to a running gateway only.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive load through the gateway and report throughput, latency and consistency.",
        subcommands: [LoadCheckout.self, LoadCashFlow.self])
}

/// Checkouts at a fixed concurrency: each worker is one customer who puts one unit in the cart,
/// checks out, and waits for that order to end (confirmed or cancelled) before the next — so the
/// offered load follows what the sagas sustain and completion times are not a queue's length.
/// `--open-loop` checks out again without waiting (overload: the saga queues grow). `--rate N`
/// offers a fixed arrival rate instead: N checkouts a second in all, customer `i` taking arrivals
/// i, i + C, i + 2C… (C customers) at their scheduled times, without waiting for the orders —
/// the throughput a system sustains is the highest rate whose sagas keep up at an acceptable
/// p99, and the checkout latency is measured from the scheduled time (a late start counts). After
/// `--duration` seconds it waits for every accepted order to end and reports sagas per second and
/// completion times (from the orders' own timestamps: created at checkout, updated by the saga's
/// last transition).
struct LoadCheckout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout", abstract: "TechStore checkouts: completed sagas per second and their completion time.")

    @Option(help: "The gateway.") var url = "http://127.0.0.1:8080"
    @Option(help: "Send cart and checkout straight to this orders instance instead (the no-gateway reference).")
    var ordersURL: String?
    @Option(help: "An admin's e-mail (creates the product).") var adminEmail: String
    @Option(help: "The admin's password.") var adminPassword: String
    @Option(help: "Concurrent customers.") var concurrency = 32
    @Option(help: "Seconds of load.") var duration = 15
    @Option(help: "Every Nth checkout uses a declined card (0: none).") var declineEvery = 0
    @Option(help: "Write the summary as JSON to this file too.") var output: String?
    @Flag(help: "Check out again without waiting for the previous order to end.") var openLoop = false
    @Option(help: "How often a customer looks at its order while waiting (ms); polling is load too.")
    var pollMs = 100
    @Option(help: "Offer this many checkouts per second in all (open loop at a fixed arrival rate).")
    var rate: Double?

    func validate() throws {
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
        if rate != nil, openLoop { throw ValidationError("--rate and --open-loop are two different load shapes") }
        if concurrency < 1 || duration < 1 { throw ValidationError("--concurrency and --duration must be at least 1") }
    }

    func run() async throws {
        let summary = try await withClients(url, direct: ordersURL) { client, orders in
            try await drive(client, orders: orders)
        }
        if summary.unfinished > 0 || summary.accepted == 0 { throw ExitCode(1) }
    }

    /// `client` talks to the gateway; `orders` takes cart and checkout (the gateway too, unless
    /// `--orders-url` says otherwise).
    func drive(_ client: APIClient, orders: APIClient) async throws -> LoadSummary {
        let admin = try await client.login(adminEmail, adminPassword)
        let sku = "LOAD-\(UUID().uuidString.prefix(8))"
        let product = try await client.send(
            .POST, "/v1/products",
            json: [
                "sku": sku, "name": "Produto de carga \(sku)", "description": "load", "price_cents": 9_990,
                "initial_stock": 1_000_000,
            ],
            token: admin)
        guard product.status == 201, let productID = product.json["id"] as? String else {
            throw ValidationError("could not create the load product: \(product.status) \(product.text)")
        }
        let run = UUID().uuidString.prefix(8).lowercased()
        let customers = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<concurrency {
                group.addTask { try await client.customer("load-\(run)-\(index)@example.com") }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        print(
            "load: \(concurrency) customers, \(duration) s, product \(productID)"
                + (rate.map { ", \($0) checkouts/s offered" } ?? ""))

        let start = ContinuousClock.now
        let deadline = start + .seconds(duration)
        let customerCount = customers.count
        let rate = rate
        let declineEvery = declineEvery
        let openLoop = openLoop
        let poll = Duration.milliseconds(pollMs)
        let results = try await withThrowingTaskGroup(of: WorkerResult.self) { group in
            for (index, token) in customers.enumerated() {
                group.addTask {
                    var result = WorkerResult()
                    var round = 0
                    while ContinuousClock.now < deadline {
                        round += 1
                        var started = ContinuousClock.now
                        // With a rate, arrivals are numbered from 1 across customers (every Nth declined).
                        let arrival = rate == nil ? round : index + (round - 1) * customerCount + 1
                        if let rate {
                            started = start + .nanoseconds(Int64(Double(arrival - 1) / rate * 1e9))
                            if started >= deadline { break }
                            if started > .now { try? await Task.sleep(until: started) }
                        }
                        let declined = declineEvery > 0 && arrival % declineEvery == 0
                        guard
                            let cart = try? await orders.send(
                                .PUT, "/v1/cart/items/\(productID)", json: ["quantity": 1], token: token),
                            cart.status == 200,
                            let order = try? await orders.send(
                                .POST, "/v1/orders", json: declined ? ["payment_method": "pm_card_declined"] : [:], token: token,
                                headers: [("Idempotency-Key", "\(run)-\(index)-\(round)")])
                        else {
                            result.errors += 1
                            continue
                        }
                        guard order.status == 201, let id = order.json["id"] as? String else {
                            result.errors += 1
                            continue
                        }
                        result.accepted += 1
                        result.checkoutLatencies.append(started.duration(to: .now))
                        if !openLoop, rate == nil { await orders.waitUntilFinal(id, token: token, every: poll) }
                    }
                    result.token = token
                    return result
                }
            }
            return try await group.reduce(into: [WorkerResult]()) { $0.append($1) }
        }
        let accepted = results.reduce(0) { $0 + $1.accepted }
        let errors = results.reduce(0) { $0 + $1.errors }
        let latencies = results.flatMap(\.checkoutLatencies).map { $0.milliseconds }.sorted()

        // Wait for every accepted order to end, then read the saga timings from the orders.
        var orders: [[String: Any]] = []
        let settleDeadline = ContinuousClock.now + .seconds(120)
        repeat {
            orders = []
            for result in results { orders += try await client.allOrders(token: result.token) }
            let open = orders.filter { !["confirmed", "cancelled"].contains($0["status"] as? String ?? "") }
            if open.isEmpty { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < settleDeadline
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func date(_ value: Any?) -> Date? { (value as? String).flatMap { formatter.date(from: $0) } }
        let final = orders.filter { ["confirmed", "cancelled"].contains($0["status"] as? String ?? "") }
        let completions = final.compactMap { order -> Double? in
            guard let created = date(order["created_at"]), let updated = date(order["updated_at"]) else { return nil }
            return updated.timeIntervalSince(created) * 1000
        }.sorted()
        let first = final.compactMap { date($0["created_at"]) }.min()
        let last = final.compactMap { date($0["updated_at"]) }.max()
        let span = (first != nil && last != nil) ? last!.timeIntervalSince(first!) : 0
        let summary = LoadSummary(
            offeredPerSecond: rate, accepted: accepted, errors: errors, orders: orders.count,
            confirmed: final.filter { $0["status"] as? String == "confirmed" }.count,
            cancelled: final.filter { $0["status"] as? String == "cancelled" }.count,
            unfinished: orders.count - final.count,
            checkoutsPerSecond: Double(accepted) / Double(duration),
            sagasPerSecond: span > 0 ? Double(final.count) / span : 0,
            checkoutP50: percentile(latencies, 0.50), checkoutP99: percentile(latencies, 0.99),
            completionP50: percentile(completions, 0.50), completionP99: percentile(completions, 0.99))
        print(summary.text)
        if let output {
            try JSONEncoder().encode(summary).write(to: URL(fileURLWithPath: output))
        }
        return summary
    }

    struct WorkerResult: Sendable {
        var token = ""
        var accepted = 0
        var errors = 0
        var checkoutLatencies: [Duration] = []
    }
}

struct LoadSummary: Codable {
    var offeredPerSecond: Double?
    var accepted: Int
    var errors: Int
    var orders: Int
    var confirmed: Int
    var cancelled: Int
    var unfinished: Int
    var checkoutsPerSecond: Double
    var sagasPerSecond: Double
    var checkoutP50: Double
    var checkoutP99: Double
    var completionP50: Double
    var completionP99: Double

    var text: String {
        """
        accepted checkouts  \(accepted) (\(String(format: "%.0f", checkoutsPerSecond))/s), errors \(errors)
        orders              \(orders): confirmed \(confirmed), cancelled \(cancelled), unfinished \(unfinished)
        sagas completed/s   \(String(format: "%.0f", sagasPerSecond))
        checkout latency    p50 \(String(format: "%.1f", checkoutP50)) ms, p99 \(String(format: "%.1f", checkoutP99)) ms
        saga completion     p50 \(String(format: "%.1f", completionP50)) ms, p99 \(String(format: "%.1f", completionP99)) ms
        """
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

extension Duration {
    var milliseconds: Double { seconds * 1000 }
}

/// Runs `body` with a client of `url` and one of `directURL` (a service instance, bypassing the
/// gateway; the first client again when nil), both shut down afterwards.
func withClients<Result>(
    _ url: String, direct directURL: String?, _ body: (APIClient, APIClient) async throws -> Result
) async throws -> Result {
    try await APIClient.with(base: url) { client in
        guard let directURL else { return try await body(client, client) }
        return try await APIClient.with(base: directURL) { direct in try await body(client, direct) }
    }
}

/// What the load tools ask of the API beyond plain requests.
extension APIClient {
    /// Registers a customer with `email` and signs them in: their access token.
    func customer(_ email: String) async throws -> String {
        let password = "load passphrase 42"
        let registered = try await send(
            .POST, "/v1/auth/register", json: ["email": email, "password": password, "name": "Carga"])
        guard registered.status == 201 else {
            throw ValidationError("register \(email): \(registered.status) \(registered.text)")
        }
        return try await login(email, password)
    }

    /// Polls the order until it is confirmed or cancelled (every `interval`, for at most a minute).
    func waitUntilFinal(_ id: String, token: String, every interval: Duration) async {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let order = try? await send(.GET, "/v1/orders/\(id)", token: token),
                ["confirmed", "cancelled"].contains(order.json["status"] as? String ?? "")
            {
                return
            }
            try? await Task.sleep(for: interval)
        }
    }

    func allOrders(token: String) async throws -> [[String: Any]] {
        var orders: [[String: Any]] = []
        var cursor: String?
        repeat {
            let page = try await send(.GET, "/v1/orders?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), token: token)
            orders += (page.json["items"] as? [[String: Any]]) ?? []
            cursor = page.json["next_cursor"] as? String
        } while cursor != nil
        return orders
    }
}
