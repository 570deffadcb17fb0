import AsyncHTTPClient
import Foundation
import Logging
import MalhaCore
import MalhaGateway
import MalhaHTTP
import MalhaIdentity
import MalhaRegistry
import MalhaTesting
import NIOCore
import NIOHTTP1
import Testing

/// A running gateway with its clients, token signer and instance source.
struct GatewayHarness: Sendable {
    static let issuer = "https://identity.malha.test"
    static let audience = "malha"

    let gateway: GatewayTestServer
    let client: HTTPClient
    let runtime: ServiceRuntime
    let clock: ManualClock
    let key: SigningKey
    let source: MutableInstanceSource

    func url(_ path: String) -> String { gateway.baseURL + path }

    func token(roles: [String], key: SigningKey? = nil) async throws -> String {
        let claims = AccessTokenClaims(
            sub: "user-1", roles: roles, iss: Self.issuer, aud: Self.audience, issuedAt: clock.now(), lifetime: .seconds(900))
        return try await TokenSigner(key: key ?? self.key).sign(claims)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> GatewayTestResponse {
        try await client.send(url(path), headers: headers)
    }

    /// Active health checks are off unless a test asks for them (they run on real time, and the
    /// other tests reason about passive ejection alone).
    static func run(
        instances: [ServiceInstance], staticRoutesFile: String? = nil, healthCheckInterval: Duration? = nil,
        declaredRoutes: [String: [RouteRule]] = [:], _ body: (GatewayHarness) async throws -> Void
    ) async throws {
        let clock = ManualClock(Date())
        let key = SigningKey.generate(at: clock.now())
        let jwk = key.publicJWK
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: issuer, audience: audience), provider: ClosureJWKSProvider { JWKSDocument(keys: [jwk]) },
            clock: clock, logger: Logger(label: "test.verifier"))
        var configuration = GatewayConfiguration(issuer: issuer, audience: audience)
        configuration.staticRoutesFile = staticRoutesFile
        configuration.connectTimeout = .seconds(2)
        configuration.healthCheckInterval = healthCheckInterval
        configuration.healthCheckTimeout = .seconds(1)
        configuration.declaredRoutes = declaredRoutes
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "gateway"), logger: Logger(label: "test.gateway"))
        let upstreamClient = GatewayService.makeHTTPClient(configuration: configuration)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let source = MutableInstanceSource(instances)
        let gateway = try await GatewayTestServer.gateway(
            configuration: configuration, runtime: runtime, instances: source, verifier: verifier, httpClient: upstreamClient,
            clock: clock)
        let harness = GatewayHarness(
            gateway: gateway, client: client, runtime: runtime, clock: clock, key: key, source: source)
        do {
            try await body(harness)
        } catch {
            await gateway.stop()
            try await client.shutdown()
            try await upstreamClient.shutdown()
            throw error
        }
        await gateway.stop()
        try await client.shutdown()
        try await upstreamClient.shutdown()
    }
}

@Suite("Gateway proxy")
struct GatewayProxyTests {
    @Test func routesByLongestPrefixOnSegmentBoundaries() async throws {
        let catalog = try await GatewayTestServer.upstream("catalog")
        let other = try await GatewayTestServer.upstream("other")
        defer {
            Task {
                await catalog.stop(); await other.stop()
            }
        }
        let instances = [
            gatewayInstance("c1", service: "catalog", baseURL: catalog.baseURL, routes: [.public("/v1/products")]),
            gatewayInstance("o1", service: "other", baseURL: other.baseURL, routes: [.public("/v1")]),
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            #expect(try await gateway.get("/v1/products").echo().upstream == "catalog")
            #expect(try await gateway.get("/v1/products/42").echo().upstream == "catalog")
            #expect(try await gateway.get("/v1/productsx").echo().upstream == "other")
            #expect(try await gateway.get("/v1/orders").echo().upstream == "other")

            let missing = try await gateway.get("/nope")
            #expect(missing.status == 404)
            #expect(missing.headers.first(name: "content-type") == "application/problem+json")
            #expect(try missing.problem().code == "route_not_found")
            // /v1x is not under /v1.
            #expect(try await gateway.get("/v1x").status == 404)
        }
    }

    @Test func spreadsRequestsRoundRobin() async throws {
        let first = try await GatewayTestServer.upstream("first")
        let second = try await GatewayTestServer.upstream("second")
        defer {
            Task {
                await first.stop(); await second.stop()
            }
        }
        let instances = [
            gatewayInstance("a", service: "catalog", baseURL: first.baseURL, routes: [.public("/v1/products")]),
            gatewayInstance("b", service: "catalog", baseURL: second.baseURL, routes: [.public("/v1/products")]),
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            var served: [String] = []
            for _ in 0..<4 { served.append(try await gateway.get("/v1/products").echo().upstream) }
            #expect(Set(served) == ["first", "second"])
            #expect(served[0] != served[1])
            #expect(served[0] == served[2])
            #expect(served[1] == served[3])
        }
    }

    /// An upstream that answers before reading a body the client is still sending. The gateway
    /// once crashed here: the proxy's body writer still waited on the client's stream while the
    /// server read the same stream for the next request (NIO traps on two readers).
    @Test func anUpstreamAnsweringBeforeTheBodyEndsLeavesTheGatewayServing() async throws {
        let upstream = try await GatewayTestServer.upstream("early")
        defer { Task { await upstream.stop() } }
        let instances = [
            gatewayInstance(
                "e", service: "early", baseURL: upstream.baseURL, routes: [.public("/refuse-early"), .public("/v1/echo")])
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            for _ in 0..<3 {
                var request = HTTPClientRequest(url: gateway.url("/refuse-early"))
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
                let writer = Task {
                    for part in 0..<4 {
                        continuation.yield(ByteBuffer(string: #"{"part":\#(part)}"#))
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                    continuation.finish()
                }
                request.body = .stream(chunks, length: .unknown)
                let response = try await gateway.client.execute(request, timeout: .seconds(10))
                #expect(response.status == .unauthorized)
                _ = try await response.body.collect(upTo: 1 << 16)
                await writer.value
            }
            // Still serving, on new connections and old.
            #expect(try await gateway.get("/v1/echo/ping").status == 200)
        }
    }

    @Test func traceAndConnectStopAtTheGateway() async throws {
        let upstream = try await GatewayTestServer.upstream("echo")
        defer { Task { await upstream.stop() } }
        let instances = [gatewayInstance("e", service: "echo", baseURL: upstream.baseURL, routes: [.public("/v1/echo")])]
        try await GatewayHarness.run(instances: instances) { gateway in
            let response = try await gateway.client.send(gateway.url("/v1/echo/items"), method: .TRACE)
            #expect(response.status == 405)
            #expect(try response.problem().code == "method_not_allowed")
        }
    }

    @Test func forwardsRequestAndStripsHopByHopHeaders() async throws {
        let upstream = try await GatewayTestServer.upstream("echo")
        defer { Task { await upstream.stop() } }
        let instances = [gatewayInstance("e", service: "echo", baseURL: upstream.baseURL, routes: [.public("/v1/echo")])]
        try await GatewayHarness.run(instances: instances) { gateway in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let response = try await gateway.client.send(
                gateway.url("/v1/echo/items?q=1&r=a%20b"), method: .POST,
                headers: [
                    ("Content-Type", "application/json"), ("X-Custom", "kept"), ("Connection", "keep-alive, X-Drop-Me"),
                    ("X-Drop-Me", "secret"), ("Keep-Alive", "timeout=5"), ("Proxy-Authorization", "Basic Zm9v"),
                    ("TE", "trailers"), ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"),
                    ("X-Request-ID", "req-123"), ("traceparent", traceparent),
                ],
                body: #"{"name":"thing"}"#)
            #expect(response.status == 201)
            let echo = try response.echo()
            #expect(echo.method == "POST")
            #expect(echo.target == "/v1/echo/items?q=1&r=a%20b")
            #expect(echo.body == #"{"name":"thing"}"#)
            #expect(echo.headers["content-type"] == "application/json")
            #expect(echo.headers["content-length"] == "16")
            #expect(echo.headers["x-custom"] == "kept")
            #expect(echo.headers["traceparent"] == traceparent)
            #expect(echo.headers["x-request-id"] == "req-123")
            #expect(echo.headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1")
            #expect(echo.headers["x-forwarded-proto"] == "http")
            for hop in ["x-drop-me", "keep-alive", "proxy-authorization", "te"] {
                #expect(echo.headers[hop] == nil, "\(hop) must not be forwarded")
            }
            // The host is the upstream's, not the gateway's.
            #expect(echo.headers["host"].map { upstream.baseURL.hasSuffix($0) } == true)

            // Response: status, headers and body back; hop-by-hop (and what Connection names) stripped.
            #expect(response.headers.first(name: "x-upstream") == "echo")
            #expect(response.headers.first(name: "keep-alive") == nil)
            #expect(response.headers.first(name: "x-secret-hop") == nil)
            #expect(response.headers.first(name: "x-request-id") == "req-123")

            // Without a request id the gateway makes one, sends it upstream and echoes it.
            let plain = try await gateway.get("/v1/echo")
            let generated = try #require(plain.headers.first(name: "x-request-id"))
            #expect(try plain.echo().headers["x-request-id"] == generated)
            #expect(try plain.echo().headers["x-forwarded-for"] == "127.0.0.1")
        }
    }

    @Test func enforcesRoutePolicies() async throws {
        let upstream = try await GatewayTestServer.upstream("svc")
        defer { Task { await upstream.stop() } }
        let routes: [RouteRule] = [
            .public("/v1/open"), .authenticated("/v1/me"), .roles([Role.admin], "/v1/admin"),
            .public("/v1/items", methods: ["GET"]), .roles([Role.admin], "/v1/items", methods: ["POST", "DELETE"]),
        ]
        let instances = [gatewayInstance("s", service: "svc", baseURL: upstream.baseURL, routes: routes)]
        try await GatewayHarness.run(instances: instances) { gateway in
            let customer = try await gateway.token(roles: [Role.customer])
            let admin = try await gateway.token(roles: [Role.admin])

            #expect(try await gateway.get("/v1/open").status == 200)

            // client_secret_basic: Basic credentials pass a public route to the upstream, which
            // checks them (the token endpoint); anywhere else only a bearer token is accepted.
            let basic = "Basic " + Data("client-1:secret".utf8).base64EncodedString()
            let passed = try await gateway.get("/v1/open", headers: [("Authorization", basic)])
            #expect(passed.status == 200)
            #expect(try passed.echo().headers["authorization"] == basic)
            #expect(try await gateway.get("/v1/me", headers: [("Authorization", basic)]).status == 401)
            #expect(try await gateway.get("/v1/open", headers: [("Authorization", "Digest x")]).status == 401)

            let anonymous = try await gateway.get("/v1/me")
            #expect(anonymous.status == 401)
            #expect(anonymous.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(try anonymous.problem().code == "unauthorized")

            let me = try await gateway.get("/v1/me", headers: [("Authorization", "Bearer \(customer)")])
            #expect(me.status == 200)
            // The token travels on: services verify it again.
            #expect(try me.echo().headers["authorization"] == "Bearer \(customer)")

            let forbidden = try await gateway.get("/v1/admin/users", headers: [("Authorization", "Bearer \(customer)")])
            #expect(forbidden.status == 403)
            #expect(try forbidden.problem().code == "forbidden")
            #expect(forbidden.headers.first(name: "www-authenticate") == nil)
            #expect(try await gateway.get("/v1/admin/users", headers: [("Authorization", "Bearer \(admin)")]).status == 200)
            #expect(try await gateway.get("/v1/admin").status == 401)

            // Method-specific rules under one prefix.
            #expect(try await gateway.get("/v1/items").status == 200)
            let post = try await gateway.client.send(gateway.url("/v1/items"), method: .POST, body: "{}")
            #expect(post.status == 401)
            let adminPost = try await gateway.client.send(
                gateway.url("/v1/items"), method: .POST, headers: [("Authorization", "Bearer \(admin)")], body: "{}")
            #expect(adminPost.status == 201)
            let put = try await gateway.client.send(gateway.url("/v1/items"), method: .PUT, body: "{}")
            #expect(put.status == 405)

            // Percent-encoding does not dodge a policy: /v1/%61dmin is /v1/admin.
            #expect(try await gateway.get("/v1/%61dmin").status == 401)
        }
    }

    @Test func refusesForgedAndUnsignedTokens() async throws {
        let upstream = try await GatewayTestServer.upstream("svc")
        defer { Task { await upstream.stop() } }
        let instances = [
            gatewayInstance(
                "s", service: "svc", baseURL: upstream.baseURL, routes: [.public("/v1/open"), .authenticated("/v1/me")])
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            let forger = SigningKey(kid: gateway.key.kid, privateKey: .init(), createdAt: gateway.clock.now())
            let forged = try await gateway.token(roles: [Role.admin], key: forger)
            let valid = try await gateway.token(roles: [Role.customer])
            let payload = valid.split(separator: ".")[1]
            let noneHeader = Data(#"{"alg":"none","kid":"\#(gateway.key.kid)","typ":"JWT"}"#.utf8).base64URLEncodedString()
            let unsigned = "\(noneHeader).\(payload)."
            for token in [forged, unsigned, "not-a-jwt"] {
                for path in ["/v1/me", "/v1/open"] {
                    let response = try await gateway.get(path, headers: [("Authorization", "Bearer \(token)")])
                    #expect(response.status == 401, "\(path) with a bad token")
                    #expect(response.headers.first(name: "www-authenticate")?.contains("invalid_token") == true)
                }
            }
            let basic = try await gateway.get("/v1/me", headers: [("Authorization", "Basic Zm9vOmJhcg==")])
            #expect(basic.status == 401)
        }
    }

    @Test func stoppedUpstreamAnswers503AndTrafficReturns() async throws {
        let catalog = try await GatewayTestServer.upstream("catalog")
        let rule = RouteRule.public("/v1/products")
        let extra = RouteRule.public("/v1/extra")
        let instances = [gatewayInstance("c1", service: "catalog", baseURL: catalog.baseURL, routes: [rule, extra])]
        try await GatewayHarness.run(instances: instances, declaredRoutes: ["catalog": [rule]]) { gateway in
            #expect(try await gateway.get("/v1/products").status == 200)
            await catalog.stop()

            let down = try await gateway.get("/v1/products")
            #expect(down.status == 503)
            #expect(down.headers.first(name: "content-type") == "application/problem+json")
            #expect(down.headers.first(name: "retry-after") == "1")
            #expect(try down.problem().code == "service_unavailable")

            // Deregistered: the declared route is still the catalog's, so 503 (not 404); what the
            // instance claimed beyond its declaration is gone with it (404), no restart needed.
            gateway.source.set([])
            let absent = try await gateway.get("/v1/products")
            #expect(absent.status == 503)
            #expect(try absent.problem().code == "service_unavailable")
            let undeclared = try await gateway.get("/v1/extra")
            #expect(undeclared.status == 404)
            #expect(try undeclared.problem().code == "route_not_found")

            // A new instance registers: traffic returns without restarting the gateway.
            let restarted = try await GatewayTestServer.upstream("catalog-2")
            defer { Task { await restarted.stop() } }
            gateway.source.set([gatewayInstance("c2", service: "catalog", baseURL: restarted.baseURL, routes: [rule])])
            #expect(try await gateway.get("/v1/products").echo().upstream == "catalog-2")

            let metrics = String(decoding: try await gateway.get("/metrics").body, as: UTF8.self)
            #expect(metrics.contains(#"gateway_upstream_requests_total{service="catalog",status="503"}"#))
            #expect(metrics.contains(#"gateway_upstream_requests_total{service="catalog",status="200"}"#))
            #expect(metrics.contains("gateway_upstream_duration_seconds"))
        }
    }

    @Test func slowUpstreamBeyondRouteTimeoutAnswers504() async throws {
        let slow = try await GatewayTestServer.upstream("slow")
        defer { Task { await slow.stop() } }
        let instances = [
            gatewayInstance(
                "s", service: "slow", baseURL: slow.baseURL,
                routes: [RouteRule(prefix: "/slow", policy: .public, timeoutMilliseconds: 100)])
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            let response = try await gateway.get("/slow")
            slow.released.open()
            #expect(response.status == 504)
            #expect(try response.problem().code == "upstream_timeout")
        }
    }

    @Test func staticRoutesFileServesLegacyUpstreams() async throws {
        let legacy = try await GatewayTestServer.upstream("legacy")
        defer { Task { await legacy.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-routes-\(UUID()).json")
        let json = """
            {"routes":[
              {"prefix":"/legacy","upstreams":["\(legacy.baseURL)"],"policy":"public","timeout_ms":2000,"strip_prefix":true,"service":"legacy"},
              {"prefix":"/old","upstreams":["\(legacy.baseURL)/"],"policy":"authenticated","strip_prefix":false}
            ]}
            """
        try Data(json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try await GatewayHarness.run(instances: [], staticRoutesFile: file.path) { gateway in
            let stripped = try await gateway.get("/legacy/hello?x=1")
            #expect(stripped.status == 200)
            #expect(try stripped.echo().target == "/hello?x=1")
            #expect(try await gateway.get("/legacy").echo().target == "/")
            #expect(try await gateway.get("/old/thing").status == 401)
            let token = try await gateway.token(roles: [Role.customer])
            let kept = try await gateway.get("/old/thing", headers: [("Authorization", "Bearer \(token)")])
            #expect(try kept.echo().target == "/old/thing")
        }
    }

    /// With `/legacy` public and `/legacy/admin` admin-only, no other spelling of the admin path
    /// reaches the upstream without the admin's token; the upstream gets the spelling checked.
    @Test func aPathSpelledDifferentlyMeetsTheSamePolicy() async throws {
        let legacy = try await GatewayTestServer.upstream("legacy")
        defer { Task { await legacy.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-routes-\(UUID()).json")
        let json = """
            {"routes":[
              {"prefix":"/legacy","upstreams":["\(legacy.baseURL)"],"policy":"public"},
              {"prefix":"/legacy/admin","upstreams":["\(legacy.baseURL)"],"policy":"roles:admin"}
            ]}
            """
        try Data(json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try await GatewayHarness.run(instances: [], staticRoutesFile: file.path) { gateway in
            #expect(try await gateway.get("/legacy/admin/users").status == 401)
            for spelling in ["/legacy//admin/users", "//legacy/admin/users", "/legacy///admin//users"] {
                #expect(try await gateway.get(spelling).status == 401, "\(spelling)")
            }
            for spelling in [
                "/legacy;x=1/admin/users", "/legacy/admin;x=1/users", "/legacy%3B/admin/users", "/legacy%2Fadmin/users",
                "/legacy/x/..%2Fadmin/users", "/legacy/x/%2E%2E/admin/users", "/legacy%5Cadmin/users",
            ] {
                let response = try await gateway.get(spelling)
                #expect(response.status == 400, "\(spelling)")
                #expect(try response.problem().code == "invalid_path", "\(spelling)")
            }
            let admin = try await gateway.token(roles: [Role.admin])
            let served = try await gateway.get("/legacy//admin//users?a=b//c", headers: [("Authorization", "Bearer \(admin)")])
            #expect(served.status == 200)
            #expect(try served.echo().target == "/legacy/admin/users?a=b//c")
            #expect(try await gateway.get("/legacy//open").echo().target == "/legacy/open")
        }
    }

    @Test(arguments: [HealthSwitch.Mode.notReady, .hanging])
    func instanceFailingItsHealthChecksLeavesRotationAndReturns(_ failure: HealthSwitch.Mode) async throws {
        let sick = try await GatewayTestServer.upstream("sick")
        let well = try await GatewayTestServer.upstream("well")
        defer {
            Task {
                await sick.stop(); await well.stop()
            }
        }
        let rule = RouteRule.public("/v1/products")
        let instances = [
            gatewayInstance("a-sick", service: "catalog", baseURL: sick.baseURL, routes: [rule]),
            gatewayInstance("b-well", service: "catalog", baseURL: well.baseURL, routes: [rule]),
        ]
        try await GatewayHarness.run(instances: instances, healthCheckInterval: .milliseconds(100)) { gateway in
            @Sendable func servedBy(_ requests: Int) async throws -> Set<String> {
                var served: Set<String> = []
                for _ in 0..<requests { served.insert(try await gateway.get("/v1/products").echo().upstream) }
                return served
            }
            #expect(try await servedBy(4) == ["sick", "well"])
            // Still accepting connections (passive ejection cannot see it), but failing its probes:
            // after two failed probes every request goes to the other instance.
            sick.setHealth(failure)
            #expect(try await eventually { try await servedBy(4) == ["well"] })
            let metrics = String(decoding: try await gateway.get("/metrics").body, as: UTF8.self)
            let line = metrics.split(separator: "\n").first {
                $0.hasPrefix("gateway_upstream_healthy{") && $0.contains(sick.baseURL)
            }
            let value = line?.split(separator: " ").last.flatMap { Double($0) }
            #expect(value == 0, "gauge for the failing upstream: \(line ?? "absent")")
            // A passing probe brings it back without any change in the registry.
            sick.setHealth(.ready)
            #expect(try await eventually { try await servedBy(4) == ["sick", "well"] })
        }
    }

    @Test func refusedInstanceIsSkippedThenRetriedAfterEjection() async throws {
        let dead = try await GatewayTestServer.upstream("dead")
        await dead.stop()
        let live = try await GatewayTestServer.upstream("live")
        defer { Task { await live.stop() } }
        let rule = RouteRule.public("/v1/products")
        let instances = [
            gatewayInstance("a-dead", service: "catalog", baseURL: dead.baseURL, routes: [rule]),
            gatewayInstance("b-live", service: "catalog", baseURL: live.baseURL, routes: [rule]),
        ]
        try await GatewayHarness.run(instances: instances) { gateway in
            // A refused connection is retried on the next instance: every GET succeeds.
            for _ in 0..<2 { #expect(try await gateway.get("/v1/products").echo().upstream == "live") }
            // The dead instance is now ejected: requests with a body go to the live one.
            for _ in 0..<4 {
                let response = try await gateway.client.send(gateway.url("/v1/products"), method: .POST, body: "{}")
                #expect(response.status == 201)
            }
            // After the ejection lapses the dead instance is tried again. Nothing reached it, and
            // the gateway holds the body whole, so a request with a body goes on to the live
            // instance too (it was once answered 503 here, the body being a stream it could not replay).
            gateway.clock.advance(by: .seconds(10))
            var answers: [GatewayTestResponse] = []
            for _ in 0..<2 {
                answers.append(try await gateway.client.send(gateway.url("/v1/products"), method: .POST, body: "{}"))
            }
            #expect(answers.map(\.status) == [201, 201])
            #expect(try answers.map { try $0.echo().body } == ["{}", "{}"])
        }
    }

    @Test func ownEndpointsAndReadiness() async throws {
        try await GatewayHarness.run(instances: []) { gateway in
            #expect(try await gateway.get("/health/live").status == 200)
            #expect(try await gateway.get("/health/ready").status == 503)
            gateway.runtime.readiness.set(.registry, true)
            #expect(try await gateway.get("/health/ready").status == 200)
            let metrics = try await gateway.get("/metrics")
            #expect(metrics.status == 200)
            #expect(try await gateway.get("/openapi.json").status == 200)
            // The gateway's own paths are not proxied, and a method they do not serve is not either.
            let post = try await gateway.client.send(gateway.url("/metrics"), method: .POST, body: "{}")
            #expect(post.status == 404)
            #expect(try post.problem().code == "route_not_found")
        }
    }
}
