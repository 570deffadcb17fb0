import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaStore
import Testing

@testable import Catalog

@Suite("Catalog application")
struct CatalogApplicationTests {
    @Test func migratesSeedsAndBecomesReadyBeforeServing() async throws {
        try await withSQLiteStore { store in
            let key = SigningKey.generate()
            let verifier = AccessTokenVerifier(
                settings: .init(issuer: CatalogHarness.issuer, audience: CatalogHarness.audience),
                provider: ClosureJWKSProvider { JWKSDocument(keys: [key.publicJWK]) }, logger: testLogger)
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: CatalogService.name), logger: testLogger)
            #expect(!runtime.readiness.isReady)
            let app = try await CatalogService.buildApplication(
                configuration: CatalogConfiguration(seedDemoData: true), runtime: runtime, store: store, verifier: verifier)
            try await app.test(.router) { client in
                #expect(try await client.send(.get, "/health/ready").status == .ok)
                let page = try await client.send(.get, "/v1/products").decode(PageBody.self)
                #expect(page.items.count == 20)
                #expect(page.nextCursor != nil)
            }
            #expect(try await CatalogRepository(store: store, cache: InMemoryCache()).productCount() == 200)
        }
    }
}
