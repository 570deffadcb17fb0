import AsyncHTTPClient
import Foundation
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaRegistry
import MalhaTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import MalhaGateway

@Suite("Gateway routing")
struct GatewayRoutingTests {
    func instance(_ id: String, service: String, _ routes: [RouteRule]) -> ServiceInstance {
        gatewayInstance(id, service: service, baseURL: "http://127.0.0.1:\(id.hashValue & 0x3FFF + 1024)", routes: routes)
    }

    func service(of match: RouteTable.Match) -> String? {
        if case .route(let entry) = match { return entry.service }
        return nil
    }

    @Test func longestPrefixOnSegmentBoundaries() {
        let table = RouteTable.build(
            instances: [
                instance("1", service: "catalog", [.public("/v1/products")]),
                instance("2", service: "root", [.public("/v1")]),
                instance("3", service: "slash", [.public("/v2/")]),
            ], staticRoutes: .init(routes: []), defaultTimeout: .seconds(10))
        #expect(service(of: table.match(path: "/v1/products", method: "GET")) == "catalog")
        #expect(service(of: table.match(path: "/v1/products/x", method: "GET")) == "catalog")
        #expect(service(of: table.match(path: "/v1/productsx", method: "GET")) == "root")
        #expect(service(of: table.match(path: "/v1", method: "GET")) == "root")
        #expect(service(of: table.match(path: "/v2/a", method: "GET")) == "slash")
        #expect(service(of: table.match(path: "/v1x", method: "GET")) == nil)
        #expect(service(of: table.match(path: "/", method: "GET")) == nil)
    }

    @Test func methodsSelectTheRuleAndRefuseOthers() throws {
        let table = RouteTable.build(
            instances: [
                instance(
                    "1", service: "catalog",
                    [.public("/v1/products", methods: ["get"]), .roles(["admin"], "/v1/products", methods: ["POST"])]),
                instance("2", service: "root", [.public("/v1")]),
            ], staticRoutes: .init(routes: []), defaultTimeout: .seconds(10))
        guard case .route(let get) = table.match(path: "/v1/products", method: "GET") else {
            Issue.record("no GET route"); return
        }
        #expect(get.policy == .public)
        guard case .route(let post) = table.match(path: "/v1/products/1", method: "POST") else {
            Issue.record("no POST route"); return
        }
        #expect(post.policy == .anyRole(["admin"]))
        guard case .methodNotAllowed = table.match(path: "/v1/products", method: "DELETE") else {
            Issue.record("DELETE must not fall through to the shorter /v1 rule")
            return
        }
    }

    @Test func instancesOfOneServiceShareAnEntryAndTimeoutsApply() {
        let rule = RouteRule(prefix: "/v1/products", policy: .authenticated, timeoutMilliseconds: 250)
        let table = RouteTable.build(
            instances: [instance("a", service: "catalog", [rule]), instance("b", service: "catalog", [rule])],
            staticRoutes: .init(routes: [.init(prefix: "/legacy", upstreams: ["http://127.0.0.1:9000/"], policy: .public)]),
            defaultTimeout: .seconds(3))
        guard case .route(let entry) = table.match(path: "/v1/products", method: "GET") else { Issue.record("no route"); return }
        #expect(entry.upstreams.count == 2)
        #expect(entry.timeout == .milliseconds(250))
        guard case .route(let legacy) = table.match(path: "/legacy/x", method: "GET") else {
            Issue.record("no legacy route"); return
        }
        #expect(legacy.upstreams.map(\.baseURL) == ["http://127.0.0.1:9000"])
        #expect(legacy.timeout == .seconds(3))
        #expect(legacy.service == "static")
    }

    @Test func policiesParse() {
        #expect(AccessPolicy(wire: "public") == .public)
        #expect(AccessPolicy(wire: "authenticated") == .authenticated)
        #expect(AccessPolicy(wire: "roles:admin, finance") == .anyRole(["admin", "finance"]))
        #expect(AccessPolicy(wire: "roles:") == nil)
        #expect(AccessPolicy(wire: "admin") == nil)
        #expect(AccessPolicy(wire: "scopes:ledger.read") == .scopes(["ledger.read"]))
        #expect(AccessPolicy(wire: "authenticated;scopes:ledger.read") == AccessPolicy.authenticated.orScopes(["ledger.read"]))
        #expect(
            AccessPolicy(wire: "roles:finance; scopes:ledger.read,ledger.write")?.wire
                == "roles:finance;scopes:ledger.read,ledger.write")
        for invalid in [
            "public;scopes:x", "scopes:", "authenticated;roles:admin", "roles:a;scopes:x;scopes:y", "scopes:x;scopes:y", ";",
        ] {
            #expect(AccessPolicy(wire: invalid) == nil, "\(invalid)")
        }
        for policy in [AccessPolicy.public, .authenticated, .admin, .scopes(["a", "b"]), .anyRole(["x"]).orScopes(["y"])] {
            #expect(AccessPolicy(wire: policy.wire) == policy, "\(policy.wire)")
        }
    }

    @Test func ejectionSkipsAnInstanceUntilItLapses() {
        let clock = ManualClock()
        let health = UpstreamHealth(ejectionDuration: .seconds(5))
        let entry = RouteEntry(
            prefix: "/v1", methods: nil, policy: .public, timeout: .seconds(1), stripPrefix: false, service: "s",
            upstreams: [.init(baseURL: "http://a", service: "s"), .init(baseURL: "http://b", service: "s")])
        #expect(Set(entry.candidates(health: health, now: clock.now()).map(\.baseURL)) == ["http://a", "http://b"])
        health.eject("http://a", now: clock.now())
        for _ in 0..<3 { #expect(entry.candidates(health: health, now: clock.now()).map(\.baseURL) == ["http://b"]) }
        clock.advance(by: .seconds(5))
        #expect(entry.candidates(health: health, now: clock.now()).count == 2)
        health.eject("http://a", now: clock.now())
        health.readmit("http://a")
        #expect(entry.candidates(health: health, now: clock.now()).count == 2, "a live answer readmits at once")
    }

    @Test func whenEveryUpstreamFailsItsChecksTheChecksAreIgnored() {
        let now = Date()
        let health = UpstreamHealth(ejectionDuration: .seconds(5), thresholds: .init(unhealthy: 1, healthy: 1))
        let entry = RouteEntry(
            prefix: "/v1", methods: nil, policy: .public, timeout: .seconds(1), stripPrefix: false, service: "s",
            upstreams: [.init(baseURL: "http://a", service: "s"), .init(baseURL: "http://b", service: "s")])
        health.record(probeOf: "http://a", succeeded: false)
        #expect(entry.candidates(health: health, now: now).map(\.baseURL) == ["http://b"])
        health.record(probeOf: "http://b", succeeded: false)
        #expect(Set(entry.candidates(health: health, now: now).map(\.baseURL)) == ["http://a", "http://b"], "panic mode")
        health.eject("http://a", now: now)
        #expect(entry.candidates(health: health, now: now).map(\.baseURL) == ["http://b"], "passive ejection still holds")
    }

    @Test func closedPooledConnectionsAreToldApartFromOtherFailures() {
        func staleSent(_ error: any Error) -> Bool? {
            if case .staleConnection(let sent) = GatewayFailure(error) { return sent }
            return nil
        }
        #expect(staleSent(ChannelError.ioOnClosedChannel) == false, "nothing was written")
        #expect(staleSent(HTTPClientError.remoteConnectionClosed) == true, "maybe written, no answer")
        #expect(staleSent(HTTPClientError.deadlineExceeded) == nil)
        #expect(GatewayFailure(HTTPClientError.deadlineExceeded).problem.code == "upstream_timeout")
        #expect(GatewayFailure(ChannelError.ioOnClosedChannel).problem.code == "bad_gateway")
        #expect(GatewayFailure.idempotentMethods.contains(.get) && !GatewayFailure.idempotentMethods.contains(.post))
    }

    @Test func activeChecksUseConsecutiveThresholds() {
        let now = Date()
        let health = UpstreamHealth(ejectionDuration: .seconds(5), thresholds: .init(unhealthy: 3, healthy: 2))
        #expect(health.isRoutable("http://a", now: now), "never probed: routable")
        #expect(health.record(probeOf: "http://a", succeeded: false) == nil)
        #expect(health.record(probeOf: "http://a", succeeded: false) == nil)
        #expect(health.record(probeOf: "http://a", succeeded: true) == nil, "a pass resets the failure count")
        #expect(health.record(probeOf: "http://a", succeeded: false) == nil)
        #expect(health.record(probeOf: "http://a", succeeded: false) == nil)
        #expect(health.isRoutable("http://a", now: now))
        #expect(health.record(probeOf: "http://a", succeeded: false) == true, "third consecutive failure: out")
        #expect(!health.isRoutable("http://a", now: now))
        #expect(health.failingUpstreams() == ["http://a"])
        // Failing checks are not lifted by time, nor by the passive readmission of a live answer.
        health.readmit("http://a")
        #expect(!health.isRoutable("http://a", now: now.addingTimeInterval(3600)))
        #expect(health.record(probeOf: "http://a", succeeded: true) == nil)
        #expect(!health.isRoutable("http://a", now: now))
        #expect(health.record(probeOf: "http://a", succeeded: true) == false, "second consecutive pass: back")
        #expect(health.isRoutable("http://a", now: now))
        // Passing checks also lift a passive ejection.
        health.eject("http://a", now: now)
        for _ in 0..<3 { health.record(probeOf: "http://a", succeeded: false) }
        for _ in 0..<2 { health.record(probeOf: "http://a", succeeded: true) }
        #expect(health.isRoutable("http://a", now: now))
        // Forgotten upstreams start afresh.
        for _ in 0..<3 { health.record(probeOf: "http://b", succeeded: false) }
        health.retainProbes(of: ["http://a"])
        #expect(health.isRoutable("http://b", now: now))
    }

    @Test func tableIsRebuiltOnlyWhenTheInstanceSetChanges() {
        let source = MutableInstanceSource([instance("a", service: "catalog", [.public("/v1/products")])])
        let cache = RouteTableCache(
            source: source, staticRoutes: .init(routes: []), defaultTimeout: .seconds(1),
            declaredRoutes: ["catalog": [.public("/v1/products")]])
        let first = cache.current()
        #expect(cache.current() === first)
        var renewed = source.currentInstances()
        renewed[0].leaseExpiresAt = renewed[0].leaseExpiresAt.addingTimeInterval(10)
        source.set(renewed)
        #expect(cache.current() === first, "a lease renewal does not rebuild the table")
        source.set(renewed + [instance("b", service: "catalog", [.public("/v1/products")])])
        #expect(cache.current() !== first)
        // A known service whose instances all left keeps its declared route, with no upstream
        // (503, not 404).
        source.set([])
        guard case .route(let entry) = cache.current().match(path: "/v1/products", method: "GET") else {
            Issue.record("the route was forgotten")
            return
        }
        #expect(entry.upstreams.isEmpty)
    }

    /// What a registration claimed beyond its service's declared routes leaves with its last
    /// instance: nothing a departed (or rogue) instance registered stays routable.
    @Test func undeclaredRulesLeaveWithTheirLastInstance() {
        let source = MutableInstanceSource([
            instance("a", service: "catalog", [.public("/v1/products"), .public("/v1/extra")]),
            instance("b", service: "legacy", [.public("/legacy")]),
        ])
        let cache = RouteTableCache(
            source: source, staticRoutes: .init(routes: []), defaultTimeout: .seconds(1),
            declaredRoutes: ["catalog": [.public("/v1/products")]])
        #expect(service(of: cache.current().match(path: "/v1/extra", method: "GET")) == "catalog")
        #expect(service(of: cache.current().match(path: "/legacy/x", method: "GET")) == "legacy")
        source.set([])
        let table = cache.current()
        #expect(service(of: table.match(path: "/v1/products", method: "GET")) == "catalog")
        guard case .none = table.match(path: "/v1/extra", method: "GET"),
            case .none = table.match(path: "/legacy/x", method: "GET")
        else {
            Issue.record("a rule no service declares outlived its last instance")
            return
        }
    }

    @Test func oneCanonicalPathIsMatchedAndForwarded() throws {
        typealias Proxy = GatewayProxy<GatewayRequestContext>
        func canonical(_ raw: Substring) throws(CanonicalPath.Refusal) -> [String] {
            let path = try CanonicalPath(raw)
            return [path.encoded, path.decoded]
        }
        func refusal(_ raw: Substring) -> CanonicalPath.Refusal? {
            guard case .failure(let refusal) = Result(catching: { () throws(CanonicalPath.Refusal) in try CanonicalPath(raw) })
            else { return nil }
            return refusal
        }
        #expect(try canonical("/v1/products") == ["/v1/products", "/v1/products"])
        #expect(try canonical("/v1/%61dmin") == ["/v1/%61dmin", "/v1/admin"])
        #expect(try canonical("/v1/a%20b") == ["/v1/a%20b", "/v1/a b"])
        #expect(try canonical("/legacy//admin/users") == ["/legacy/admin/users", "/legacy/admin/users"])
        #expect(try canonical("//legacy///admin//") == ["/legacy/admin/", "/legacy/admin/"])
        #expect(try canonical("/v1/.well-known") == ["/v1/.well-known", "/v1/.well-known"])
        #expect(refusal("/v1/open/../admin") == .dotSegment)
        #expect(refusal("/v1/open/%2E%2E/admin") == .dotSegment)
        #expect(refusal("/v1/./x") == .dotSegment)
        #expect(refusal("/v1/open/%2e/admin") == .dotSegment)
        #expect(refusal("/legacy;x=1/admin") == .parameters)
        #expect(refusal("/legacy/admin;jsessionid=1") == .parameters)
        #expect(refusal("/legacy%3b/admin") == .parameters)
        #expect(refusal("/legacy%2Fadmin") == .encodedSeparator)
        #expect(refusal("/legacy%2fadmin") == .encodedSeparator)
        #expect(refusal("/legacy%5cadmin") == .encodedSeparator)
        #expect(refusal("/legacy\\admin") == .encodedSeparator)
        #expect(refusal("/legacy%00/admin") == .nul)
        #expect(refusal("/bad%zz") == .badPercentEncoding)
        #expect(refusal("legacy") == .notAbsolute)
        #expect(Proxy.stripping("/legacy", from: "/legacy/a?b=1") == "/a?b=1")
        #expect(Proxy.stripping("/legacy", from: "/legacy?b=1") == "/?b=1")
    }

    @Test func hopByHopHeadersAreDroppedBothWays() {
        var fields = HTTPFields()
        fields[.connection] = "close, X-Private"
        fields[HTTPField.Name("X-Private")!] = "1"
        fields[HTTPField.Name("Upgrade")!] = "h2c"
        fields[.transferEncoding] = "chunked"
        fields[HTTPField.Name("Host")!] = "gateway"
        fields[HTTPField.Name("X-Kept")!] = "yes"
        let upstream = ProxyHeaders.upstreamRequestHeaders(from: fields, clientAddress: "10.0.0.9", requestID: "r1")
        #expect(upstream["x-private"].isEmpty)
        #expect(upstream["upgrade"].isEmpty)
        #expect(upstream["transfer-encoding"].isEmpty)
        #expect(upstream["host"].isEmpty)
        #expect(upstream["connection"].isEmpty)
        #expect(upstream.first(name: "x-kept") == "yes")
        #expect(upstream.first(name: "x-forwarded-for") == "10.0.0.9")
        #expect(upstream.first(name: "x-request-id") == "r1")

        let response = HTTPHeaders([("Connection", "X-Hop"), ("X-Hop", "1"), ("Trailer", "x"), ("Content-Type", "text/plain")])
        let downstream = ProxyHeaders.downstreamResponseHeaders(from: response)
        #expect(downstream.map(\.name.canonicalName) == ["content-type"])
    }

    @Test func openAPIMatchesTheGatewayRoutes() throws {
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "gateway"))
        let verifier = AccessTokenVerifier(
            settings: .init(issuer: "i", audience: "a"), provider: ClosureJWKSProvider { JWKSDocument(keys: []) },
            logger: Logger(label: "test"))
        let configuration = GatewayConfiguration(issuer: "i", audience: "a")
        let client = GatewayService.makeHTTPClient(configuration: configuration)
        defer { try? client.syncShutdown() }
        let router = try GatewayService.buildRouter(
            configuration: configuration, runtime: runtime, instances: MutableInstanceSource(), verifier: verifier,
            httpClient: client)
        #expect(Set(router.routes.map { "\($0.method) \($0.path)" }) == GatewayService.openAPI.routeKeys)
    }

    @Test func staticRoutesFileIsValidated() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-bad-\(UUID()).json")
        try Data(#"{"routes":[{"prefix":"legacy","upstreams":["http://x"],"policy":"public"}]}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: GatewayConfigurationError.self) { try StaticRoutesFile.load(path: file.path) }
        try Data(#"{"routes":[{"prefix":"/l","upstreams":["ftp://x"],"policy":"public"}]}"#.utf8).write(to: file)
        #expect(throws: GatewayConfigurationError.self) { try StaticRoutesFile.load(path: file.path) }
        try Data(#"{"routes":[{"prefix":"/l","upstreams":["http://x"],"policy":"root"}]}"#.utf8).write(to: file)
        #expect(throws: GatewayConfigurationError.self) { try StaticRoutesFile.load(path: file.path) }
        try Data(#"{"routes":[{"prefix":"/l","upstreams":["http://x"],"policy":"public","health_path":"status"}]}"#.utf8)
            .write(to: file)
        #expect(throws: GatewayConfigurationError.self) { try StaticRoutesFile.load(path: file.path) }
    }

    @Test func healthCheckTargetsAreInstancesAndStaticUpstreamsWithAHealthPath() throws {
        let source = MutableInstanceSource([instance("a", service: "catalog", [.public("/v1/products")])])
        let routes = StaticRoutesFile(routes: [
            .init(
                prefix: "/legacy", upstreams: ["http://l1:9000/", "http://l2:9000"], policy: .public, service: "legacy",
                healthPath: "/status"),
            .init(prefix: "/unchecked", upstreams: ["http://u:9000"], policy: .public),
        ])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { try? client.syncShutdown() }
        let checker = UpstreamHealthChecker(
            source: source, staticRoutes: routes, health: UpstreamHealth(ejectionDuration: .seconds(1)), httpClient: client,
            interval: .seconds(1), timeout: .seconds(1), logger: Logger(label: "test"))
        let targets = Set(checker.currentTargets().map { "\($0.service) \($0.baseURL) \($0.healthURL)" })
        let instanceURL = source.currentInstances()[0].baseURL
        #expect(
            targets == [
                "catalog \(instanceURL) \(source.currentInstances()[0].healthURL)",
                "legacy http://l1:9000 http://l1:9000/status", "legacy http://l2:9000 http://l2:9000/status",
            ])
    }
}

// MARK: `*` segments (the consolidation's balances under the ledger's /v1/accounts)

extension GatewayRoutingTests {
    static let balancesPattern = "/v1/accounts/*/balances"

    @Test func aStarSegmentMatchesExactlyOneNonEmptySegment() {
        func matches(_ path: Substring) -> Bool { RoutePrefix.path(path, matchesPattern: Self.balancesPattern) }
        #expect(matches("/v1/accounts/42/balances"))
        #expect(matches("/v1/accounts/42/balances/2026-11-29"))
        #expect(matches("/v1/accounts/0b7e5c1a-6f1e-4e8e-9d7a-3c1f2a9b8e01/balances/2026-11-29/more"))
        #expect(!matches("/v1/accounts/42"))
        #expect(!matches("/v1/accounts/42/"))
        #expect(!matches("/v1/accounts"))
        #expect(!matches("/v1/accounts//balances"))
        #expect(!matches("/v1/accounts/42/balancesX"))
        #expect(!matches("/v1/accounts/42/x/balances"))
        #expect(!matches("/v1/accountsX/42/balances"))
        #expect(!matches("/v2/accounts/42/balances"))
        #expect(!matches("v1/accounts/42/balances"))
        #expect(RoutePrefix.path("/v1/a/b", matchesPattern: "/v1/*/b"))
        #expect(RoutePrefix.path("/v1/a/b/c", matchesPattern: "/v1/*/*/c"))
        #expect(!RoutePrefix.path("/v1/a/c", matchesPattern: "/v1/*/*/c"))
    }

    /// The ledger and the consolidation as they register: the ledger owns /v1/accounts, the
    /// consolidation GETs of one account's balances.
    func cashFlowTable() -> RouteTable {
        RouteTable.build(
            instances: [
                instance("l1", service: "ledger", [.authenticated("/v1/accounts"), .authenticated("/v1/entries")]),
                instance(
                    "c1", service: "consolidation",
                    [
                        .authenticated(Self.balancesPattern, methods: ["GET"]),
                        .roles(["finance", "admin"], "/v1/admin/consolidation"),
                    ]),
            ], staticRoutes: .init(routes: []), defaultTimeout: .seconds(10))
    }

    @Test func aStarRuleWinsOverTheShorterPrefixItSitsUnder() {
        let table = cashFlowTable()
        #expect(service(of: table.match(path: "/v1/accounts/42/balances/2026-11-29", method: "GET")) == "consolidation")
        // `?from=…&to=…` is cut off before routing: the path is what matches.
        #expect(service(of: table.match(path: "/v1/accounts/42/balances", method: "GET")) == "consolidation")
        #expect(service(of: table.match(path: "/v1/accounts/42", method: "GET")) == "ledger")
        #expect(service(of: table.match(path: "/v1/accounts", method: "POST")) == "ledger")
        #expect(service(of: table.match(path: "/v1/accounts//balances", method: "GET")) == "ledger")
        #expect(service(of: table.match(path: "/v1/accounts/42/balancesX", method: "GET")) == "ledger")
        #expect(service(of: table.match(path: "/v1/accounts/42/entries", method: "POST")) == "ledger")
        #expect(service(of: table.match(path: "/v1/admin/consolidation/rebuild", method: "POST")) == "consolidation")
        guard case .route(let balances) = table.match(path: "/v1/accounts/42/balances", method: "GET") else {
            Issue.record("no balances route")
            return
        }
        #expect(balances.policy == .authenticated && balances.prefix == Self.balancesPattern)
    }

    @Test func aMethodTheStarRuleDoesNotDeclareIsNotAllowedRatherThanGivenToTheLedger() {
        let table = cashFlowTable()
        for method in ["POST", "DELETE", "PUT"] {
            guard case .methodNotAllowed = table.match(path: "/v1/accounts/42/balances/2026-11-29", method: method) else {
                Issue.record("\(method) must not fall through to the ledger's /v1/accounts")
                continue
            }
        }
    }

    @Test func theProxyRoutesBalancesWithTheirQueryToTheConsolidation() async throws {
        let ledger = try await GatewayTestServer.upstream("ledger")
        let consolidation = try await GatewayTestServer.upstream("consolidation")
        let instances = [
            gatewayInstance("l1", service: "ledger", baseURL: ledger.baseURL, routes: [.authenticated("/v1/accounts")]),
            gatewayInstance(
                "c1", service: "consolidation", baseURL: consolidation.baseURL,
                routes: [.authenticated(Self.balancesPattern, methods: ["GET"])]),
        ]
        let outcome: Result<Void, any Error>
        do {
            try await GatewayHarness.run(instances: instances) { gateway in
                let bearer = [("Authorization", "Bearer \(try await gateway.token(roles: ["customer"]))")]
                let range = try await gateway.get("/v1/accounts/42/balances?from=2026-11-01&to=2026-11-29", headers: bearer)
                #expect(range.status == 200)
                #expect(try range.echo().upstream == "consolidation")
                #expect(try range.echo().target == "/v1/accounts/42/balances?from=2026-11-01&to=2026-11-29")
                #expect(
                    try await gateway.get("/v1/accounts/42/balances/2026-11-29", headers: bearer).echo().upstream
                        == "consolidation")
                #expect(try await gateway.get("/v1/accounts/42", headers: bearer).echo().upstream == "ledger")
                #expect(try await gateway.get("/v1/accounts/42/balancesX", headers: bearer).echo().upstream == "ledger")
                #expect(try await gateway.get("/v1/accounts/42/balances/2026-11-29").status == 401)
                let post = try await gateway.client.send(
                    gateway.url("/v1/accounts/42/balances/2026-11-29"), method: .POST, headers: bearer, body: "{}")
                #expect(post.status == 405)
                #expect(try post.problem().code == "method_not_allowed")
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await ledger.stop()
        await consolidation.stop()
        try outcome.get()
    }
}
