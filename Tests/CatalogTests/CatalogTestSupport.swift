import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

@testable import Catalog

/// A clock tests move by hand, starting at a fixed instant.
func testClock() -> ManualClock { ManualClock(Date(timeIntervalSince1970: 1_790_000_000)) }

let testLogger = Logger(label: "catalog-tests")

/// When PostgreSQL tests run (`MALHA_TEST_POSTGRES_URL`).
let postgresURL = TestDatabases.postgresURL

/// A fresh SQLite database, closed afterwards.
func withSQLiteStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
    try await TestDatabases.withSQLite(body)
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
func withPostgresStore<T>(_ body: (PostgresStore) async throws -> T) async throws -> T {
    try await TestDatabases.withPostgres(body)
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
