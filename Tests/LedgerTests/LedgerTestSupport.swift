import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Ledger

let testLogger: Logger = {
    var logger = Logger(label: "ledger-tests")
    logger.logLevel = .critical
    return logger
}()

/// 2026-03-10T12:00:00Z: the ledger's "now" in every test (09:00 in São Paulo).
let testNow = Date(timeIntervalSince1970: 1_773_144_000)

/// A migrated ledger database, a router over it with a clock the test moves, and tokens for anyone.
struct LedgerHarness: Sendable {
    let store: any SQLStore
    let tokens: TestTokens
    let runtime: ServiceRuntime
    let clock: ManualClock

    /// Runs `body` on SQLite, then on PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set.
    static func run(_ body: (LedgerHarness) async throws -> Void) async throws {
        try await TestDatabases.withEachBackend { store in
            try await LedgerService.migrate(store, logger: testLogger)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: LedgerService.name), logger: testLogger)
            try await body(
                LedgerHarness(store: store, tokens: await TestTokens.make(), runtime: runtime, clock: ManualClock(testNow)))
        }
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = LedgerService.buildRouter(runtime: runtime, store: store, verifier: tokens.verifier, clock: clock)
        try await Application(router: router).test(.router, body)
    }

    /// A user's headers (JSON, bearer token), with an `Idempotency-Key` when given.
    func headers(_ subject: String, roles: [String] = [Role.customer], key: String? = nil) async throws -> HTTPFields {
        var headers = try await tokens.headers(subject: subject, roles: roles)
        if let key { headers[.idempotencyKey] = key }
        return headers
    }

    // MARK: Looking past the HTTP surface

    func count(_ table: String, where condition: String = "1 = 1") async throws -> Int {
        try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table) WHERE \(unsafeRaw: condition)").first()?
                .decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// Every entry of the database, by account and sequence.
    func allEntries() async throws -> [LedgerEntry] {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: LedgerEntries.columns) FROM ledger_entries ORDER BY account_id, sequence")
                .all().map(LedgerEntry.init(row:))
        }
    }

    /// The outbox, oldest row first.
    func outbox() async throws -> [Envelope] {
        try await store.read { db in
            try await db.raw("SELECT \(unsafeRaw: Envelope.sqlColumns) FROM outbox ORDER BY seq").all()
                .map(Envelope.init(sqlRow:))
        }
    }

    func nextSequence(of accountID: String) async throws -> Int64? {
        try await store.read { db in
            try await db.raw("SELECT next_sequence FROM ledger_accounts WHERE id = \(bind: accountID)").first()?
                .decode(column: "next_sequence", as: Int64.self)
        }
    }
}

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], json: String? = nil
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { $0 }
    }

    /// Opens an account as `headers`' user; fails the test unless it is created.
    func openAccount(
        _ headers: HTTPFields, name: String = "Caixa", timezone: String? = nil, currency: String? = nil
    ) async throws -> LedgerAccount {
        var body = ["\"name\": \"\(name)\""]
        if let timezone { body.append("\"timezone\": \"\(timezone)\"") }
        if let currency { body.append("\"currency\": \"\(currency)\"") }
        let response = try await send(.post, "/v1/accounts", headers: headers, json: "{\(body.joined(separator: ", "))}")
        try #require(response.status == .created, "\(String(buffer: response.body))")
        return try response.decode(LedgerAccount.self)
    }

    /// Records an entry with `key`; fails the test unless it is created.
    func record(
        _ json: String, on accountID: String, headers: HTTPFields, key: String
    ) async throws -> LedgerEntry {
        var headers = headers
        headers[.idempotencyKey] = key
        let response = try await send(.post, "/v1/accounts/\(accountID)/entries", headers: headers, json: json)
        try #require(response.status == .created, "\(String(buffer: response.body))")
        return try response.decode(LedgerEntry.self)
    }
}

/// A page as a client reads it.
struct PageBody<Item: Decodable>: Decodable {
    var items: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

/// Whether two instants are the same millisecond (dates cross JSON and SQL as milliseconds).
func sameMillisecond(_ a: Date, _ b: Date) -> Bool {
    (a.timeIntervalSince1970 * 1000).rounded() == (b.timeIntervalSince1970 * 1000).rounded()
}
