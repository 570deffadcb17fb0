import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaBus
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaOpenAPI
import MalhaStore
import MalhaTesting
import Testing

/// The dead-letter admin API in process: its validation and paging, on the real SQL transport.
@Suite("Bus admin API")
struct BusAdminHTTPTests {
    struct Probe: MessageContract {
        static let type = "test.probe.v1"
        var n: Int
    }

    static func withAPI(
        letters: Int, _ body: @Sendable (any TestClientProtocol, HTTPFields, HTTPFields, [String]) async throws -> Void
    ) async throws {
        let store = try await TestDatabases.sqlite()
        let clock = ManualClock(Date())
        let transport = try await SQLTransport.open(store: store, clock: clock, logger: testLogger)
        try await transport.bind(subscription: "s", to: [Probe.type])
        var ids: [String] = []
        for n in 0..<letters {
            let message = try Envelope(Probe(n: n), source: "test", at: clock.now())
            ids.append(message.id)
            try await transport.publish([message])
            let delivery = try await transport.receive(from: "s", limit: 1, lease: .seconds(30))
            try await transport.deadLetter(delivery[0], error: "failed \(n)")
            clock.advance(by: .seconds(1))
        }
        let key = SigningKey.generate()
        let signer = await TokenSigner(key: key)
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: "i", audience: "a"), provider: ClosureJWKSProvider { JWKSDocument(keys: [key.publicJWK]) },
            logger: testLogger)
        func headers(_ roles: [String]) async throws -> HTTPFields {
            let token = try await signer.sign(
                AccessTokenClaims(sub: "u", roles: roles, iss: "i", aud: "a", issuedAt: Date(), lifetime: .seconds(900)))
            return [.authorization: "Bearer \(token)", .contentType: "application/json"]
        }
        let admin = try await headers([Role.admin])
        let customer = try await headers([Role.customer])
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: BusService.name), logger: testLogger)
        let router = BusService.buildRouter(runtime: runtime, deadLetters: transport, verifier: verifier)
        let frozenIDs = ids
        try await Application(router: router).test(.router) { client in
            try await body(client, admin, customer, frozenIDs)
        }
        await store.close()
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
    }

    @Test func pagesOldestFirstAndValidatesQueries() async throws {
        try await Self.withAPI(letters: 5) { client, admin, customer, ids in
            try await client.execute(uri: "/v1/admin/dead-letters", method: .get, headers: customer) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/v1/admin/dead-letters", method: .get) { #expect($0.status == .unauthorized) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/admin/dead-letters?subscription=s&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                try await client.execute(uri: uri, method: .get, headers: admin) { response in
                    #expect(response.status == .ok)
                    let page = Self.json(response)
                    let items = page["items"] as? [[String: Any]] ?? []
                    seen += items.compactMap { ($0["message"] as? [String: Any])?["id"] as? String }
                    cursor = page["next_cursor"] as? String
                }
            } while cursor != nil
            #expect(seen == ids, "every dead letter once, oldest first")
            for bad in ["limit=0", "limit=101", "limit=abc"] {
                try await client.execute(uri: "/v1/admin/dead-letters?\(bad)", method: .get, headers: admin) { response in
                    #expect(response.status == .unprocessableContent, "\(bad)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            try await client.execute(uri: "/v1/admin/dead-letters/s/\(ids[0])", method: .get, headers: admin) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["last_error"] as? String == "failed 0")
            }
            try await client.execute(uri: "/v1/admin/dead-letters/other/\(ids[0])", method: .get, headers: admin) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test func replayAndPurgeTakeAnExplicitSelection() async throws {
        try await Self.withAPI(letters: 3) { client, admin, _, ids in
            for (body, status) in [
                ("{}", HTTPResponse.Status.unprocessableContent), (#"{"ids":[]}"#, .unprocessableContent),
                (#"{"ids":["x"],"all":true}"#, .unprocessableContent), (#"{"all":false}"#, .unprocessableContent),
                (#"{"ids":"x"}"#, .unprocessableContent), ("{not json", .badRequest),
            ] {
                try await client.execute(
                    uri: "/v1/admin/dead-letters/s/replay", method: .post, headers: admin, body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == status, "\(body)")
                }
            }
            try await client.execute(
                uri: "/v1/admin/dead-letters/s/purge", method: .post, headers: admin,
                body: ByteBuffer(string: #"{"ids":["\#(ids[0])","unknown"]}"#)
            ) { response in
                #expect(Self.json(response)["count"] as? Int == 1)
            }
            try await client.execute(
                uri: "/v1/admin/dead-letters/s/replay", method: .post, headers: admin, body: ByteBuffer(string: #"{"all":true}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["count"] as? Int == 2)
            }
            try await client.execute(uri: "/v1/admin/dead-letters", method: .get, headers: admin) { response in
                #expect((Self.json(response)["items"] as? [Any])?.isEmpty == true)
            }
        }
    }

    /// What the document says of a selection is what the handler does: every body the schema
    /// accepts is answered 200, every one it refuses 422 (null means absent).
    @Test func theDocumentedSelectionIsTheHandlersSelection() async throws {
        let document = BusService.openAPI
        let schema = JSONSchema.reference("DeadLetterSelection")
        let bodies: [String] = [
            #"{"ids":["x"]}"#, #"{"ids":["x"],"all":false}"#, #"{"ids":["x"],"all":null}"#, #"{"all":true}"#,
            #"{"all":true,"ids":null}"#, "{}", #"{"ids":[]}"#, #"{"ids":["x"],"all":true}"#, #"{"all":false}"#,
            #"{"all":null,"ids":null}"#,
        ]
        try await Self.withAPI(letters: 1) { client, admin, _, _ in
            for body in bodies {
                let value = try JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
                let valid = document.validator.violations(of: value, against: schema).isEmpty
                try await client.execute(
                    uri: "/v1/admin/dead-letters/s/purge", method: .post, headers: admin, body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == (valid ? .ok : .unprocessableContent), "\(body): schema says \(valid)")
                }
            }
        }
    }

    /// Path segments are percent-decoded before they are judged or looked up.
    @Test func aPercentEncodedSubscriptionIsDecoded() async throws {
        try await Self.withAPI(letters: 1) { client, admin, _, ids in
            try await client.execute(uri: "/v1/admin/dead-letters/%73/\(ids[0])", method: .get, headers: admin) { response in
                #expect(response.status == .ok)
            }
            let long = String(repeating: "%C3%A9", count: 100)  // 100 code points, 600 characters raw
            try await client.execute(uri: "/v1/admin/dead-letters/\(long)/x", method: .get, headers: admin) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func openAPIMatchesTheRoutes() async throws {
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: "i", audience: "a"), provider: ClosureJWKSProvider { JWKSDocument(keys: []) },
            logger: testLogger)
        let store = try await TestDatabases.sqlite()
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: BusService.name), logger: testLogger)
        let router = BusService.buildRouter(
            runtime: runtime, deadLetters: SQLTransport(store: store, logger: testLogger), verifier: verifier)
        #expect(Set(router.routes.map { "\($0.method) \($0.path)" }) == BusService.openAPI.routeKeys)
        await store.close()
    }
}
