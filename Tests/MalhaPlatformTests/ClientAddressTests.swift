import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import Testing

@Suite("Client address")
struct ClientAddressTests {
    @Test func forwardedForCountsOnlyFromATrustedProxy() throws {
        let trusted = try #require(TrustedProxies(parsing: "10.0.0.5, 10.1.0.0/16, ::1"))
        #expect(trusted.contains("10.0.0.5") && trusted.contains("10.1.200.7") && trusted.contains("::1"))
        #expect(!trusted.contains("10.2.0.1") && !trusted.contains("127.0.0.1"))
        // From the gateway: the last entry, the one it appended (earlier ones are the client's claim).
        #expect(trusted.clientAddress(peer: "10.1.0.9", forwardedFor: ["6.6.6.6, 198.51.100.7"]) == "198.51.100.7")
        // From anyone else: the peer, whatever the header says.
        #expect(trusted.clientAddress(peer: "203.0.113.5", forwardedFor: ["198.51.100.7"]) == "203.0.113.5")
        #expect(trusted.clientAddress(peer: "10.0.0.5", forwardedFor: []) == "10.0.0.5")
        #expect(TrustedProxies(parsing: "10.0.0.0/33") == nil)
        #expect(TrustedProxies(parsing: "gateway") == nil)
        #expect(TrustedProxies.loopback.contains("127.0.0.1") && TrustedProxies.loopback.contains("127.9.0.1"))
    }

    /// The hole: a client that reached a service's port directly chose its own address (and so its
    /// throttle bucket) by sending X-Forwarded-For. Over a real socket, from a peer that is not a
    /// trusted proxy, the header is ignored.
    @Test func aClientOnAServicePortCannotPickItsAddress() async throws {
        var logger = Logger(label: "test.address")
        logger.logLevel = .critical
        for (trusted, expected) in [(TrustedProxies([.address("10.9.9.9")]), "127.0.0.1"), (.loopback, "198.51.100.77")] {
            let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "address"), logger: logger, trustedProxies: trusted)
            let router = runtime.makeRouter(openAPI: HTTPPlatformTests.openAPI)
            router.get("/whoami") { _, context in context.clientAddress ?? "none" }
            let app = runtime.makeApplication(responder: router.buildResponder(), host: "127.0.0.1", port: 0)
            let task = Task { try await app.runService(gracefulShutdownSignals: []) }
            defer { task.cancel() }
            let port = try await runtime.boundAddress.value().port
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/whoami")
            request.headers.add(name: "X-Forwarded-For", value: "198.51.100.77")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            let body = String(buffer: try await response.body.collect(upTo: 1024))
            #expect(body == expected, "trusted \(trusted.entries)")
            task.cancel()
            _ = await task.result
        }
    }
}
