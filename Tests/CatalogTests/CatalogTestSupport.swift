import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaStore
import SQLKit
import Synchronization
import Testing

@testable import Catalog

/// A clock tests move by hand.
final class TestClock: WallClock {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

let testLogger = Logger(label: "catalog-tests")

/// A fresh SQLite database in its own temporary directory, closed afterwards.
func withSQLiteStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-catalog-\(UUID().uuidString)")
    let store = try await SQLiteStore.open(path: directory.appendingPathComponent("catalog.sqlite").path, logger: testLogger)
    do {
        let result = try await body(store)
        await store.close()
        try? FileManager.default.removeItem(at: directory)
        return result
    } catch {
        await store.close()
        try? FileManager.default.removeItem(at: directory)
        throw error
    }
}

/// `MALHA_TEST_POSTGRES_URL` (postgres://postgres@127.0.0.1:PORT/postgres), when PostgreSQL tests should run.
let postgresURL = ProcessInfo.processInfo.environment["MALHA_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// A fresh PostgreSQL database (`malha_test_<random>`) for one test. The stores' clients run
/// in a task group for the duration and are cancelled afterwards.
func withPostgresStore<T: Sendable>(_ body: @escaping @Sendable (PostgresStore) async throws -> T) async throws -> T {
    let url = try #require(postgresURL)
    let admin = try PostgresStore(url: url, logger: testLogger)
    let name = "malha_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await admin.run() }
        defer { group.cancelAll() }
        try await admin.read { database in try await database.raw("CREATE DATABASE \(unsafeRaw: String(name))").run() }
        var components = try #require(URLComponents(string: url))
        components.path = "/" + name
        let store = try PostgresStore(url: try #require(components.string), logger: testLogger)
        let storeTask = Task { try await store.run() }
        let result: T
        do {
            result = try await body(store)
        } catch {
            storeTask.cancel()
            throw error
        }
        storeTask.cancel()
        _ = await storeTask.result
        try? await admin.read { database in
            try await database.raw("DROP DATABASE IF EXISTS \(unsafeRaw: String(name)) WITH (FORCE)").run()
        }
        return result
    }
}

/// A migrated catalog over SQLite with an HTTP router, a token signer and an inspectable cache.
struct CatalogHarness: Sendable {
    static let issuer = "https://identity.test"
    static let audience = "malha-test"

    let store: SQLiteStore
    let cache: InMemoryCache
    let repository: CatalogRepository
    let runtime: ServiceRuntime
    let verifier: AccessTokenVerifier
    let signer: TokenSigner

    /// A new router over the harness's repository (routers are not `Sendable`, so none is stored).
    func makeRouter() -> Router<ServiceRequestContext> {
        CatalogService.buildRouter(runtime: runtime, repository: repository, verifier: verifier)
    }

    static func run(_ body: (CatalogHarness) async throws -> Void) async throws {
        try await withSQLiteStore { store in
            try await Migrator.migrate(store, CatalogService.migrations, logger: testLogger)
            let key = SigningKey.generate()
            let signer = await TokenSigner(key: key)
            let verifier = AccessTokenVerifier(
                settings: .init(issuer: issuer, audience: audience),
                provider: ClosureJWKSProvider { JWKSDocument(keys: [key.publicJWK]) },
                logger: testLogger)
            let cache = InMemoryCache()
            let repository = CatalogRepository(store: store, cache: cache)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: CatalogService.name), logger: testLogger)
            try await body(
                CatalogHarness(
                    store: store, cache: cache, repository: repository, runtime: runtime, verifier: verifier, signer: signer))
        }
    }

    func token(roles: [String], subject: String = UUID().uuidString.lowercased()) async throws -> String {
        try await signer.sign(
            AccessTokenClaims(
                sub: subject, roles: roles, iss: Self.issuer, aud: Self.audience, issuedAt: Date(), lifetime: .seconds(900)))
    }

    func adminHeaders() async throws -> HTTPFields {
        [.authorization: "Bearer \(try await token(roles: [Role.admin]))", .contentType: "application/json"]
    }

    func customerHeaders() async throws -> HTTPFields {
        [.authorization: "Bearer \(try await token(roles: [Role.customer]))", .contentType: "application/json"]
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: makeRouter()).test(.router, body)
    }
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONCoding.decoder.decode(type, from: Data(body.readableBytesView))
    }

    var problem: ProblemBody? { try? decode(ProblemBody.self) }
}

func jsonBody(_ object: [String: Any]) -> ByteBuffer {
    ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object)) ?? Data())
}

struct PageBody: Decodable {
    var items: [Product]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

struct CategoriesBody: Decodable {
    var items: [Catalog.Category]
}

func productBody(
    sku: String, name: String = "Notebook Teste 14", price: Int = 100_000, category: String? = nil, extra: [String: Any] = [:]
) -> [String: Any] {
    var body: [String: Any] = ["sku": sku, "name": name, "description": "Um notebook de teste", "price_cents": price]
    if let category { body["category_id"] = category }
    for (key, value) in extra { body[key] = value }
    return body
}

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: ByteBuffer? = nil
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: body) { $0 }
    }
}
