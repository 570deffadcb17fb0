import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import MalhaOpenAPI
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The listener limits over real sockets: slow headers, idle keep-alive, the connection cap and
/// the header size, each on a server built the way every Malha service builds its own.
@Suite("Listener limits", .serialized)
struct ListenerLimitsTests {
    /// A running server with `limits`; `/health/live` answers, `/echo` too.
    static func withServer(
        _ limits: ListenerLimits, _ body: @Sendable (_ port: Int, _ runtime: ServiceRuntime) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test.limits")
        logger.logLevel = .critical
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "limits"), logger: logger, limits: limits)
        let router = runtime.makeRouter(openAPI: HTTPPlatformTests.openAPI)
        router.get("/echo") { _, _ in "ok" }
        let app = runtime.makeApplication(responder: router.buildResponder(), host: "127.0.0.1", port: 0)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { task.cancel() }
        let port = try await runtime.boundAddress.value().port
        try await body(port, runtime)
        task.cancel()
        _ = await task.result
    }

    @Test func connectionsThatNeverFinishTheirHeadersAreClosedAndTheServerKeepsAnswering() async throws {
        let limits = ListenerLimits(headerTimeout: .seconds(2), idleTimeout: .seconds(30))
        try await Self.withServer(limits) { port, runtime in
            // Opened 100 at a time, each hundred accepted before the next: the backlog (4096) would
            // let all 2,000 connect at once and wait in the kernel's accept queue, and a
            // connection's clock here starts at its connect while the server's starts at its
            // accept — with the whole suite on 2 cores the queue alone held some for over 3 s.
            var opened: [RawConnection] = []
            for _ in 0..<20 {
                for _ in 0..<100 { opened.append(try await RawConnection.open(port: port)) }
                // (Those already closed by their timeout no longer count on the server.)
                for _ in 0..<500 where runtime.connections.current < opened.count(where: \.isOpen) {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let slow = opened
            for connection in slow { connection.send("GET /echo HTTP/1.1\r\nHost: x\r\n") }
            // They keep sending header lines, never the blank line that ends the head.
            let trickle = Task {
                while !Task.isCancelled {
                    for connection in slow { connection.send("X-Slow: 1\r\n") }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { trickle.cancel() }
            // Meanwhile the server answers others.
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            let live = try await client.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/live"), timeout: .seconds(5))
            #expect(live.status == .ok)
            for connection in slow { #expect(await connection.closed(within: .seconds(20))) }
            // Each at its own header timeout from its opening, not much after. (Not "not before":
            // the client sees the connection open later than the server accepted it, by as much as
            // a loaded event loop delays; the idle test checks that nothing closes early.)
            let lifetimes = slow.compactMap(\.lifetime)
            #expect(lifetimes.count == slow.count)
            #expect(lifetimes.allSatisfy { $0 < .seconds(5) }, "\(lifetimes.max().map { "\($0)" } ?? "")")
            #expect(slow.allSatisfy { $0.received.isEmpty }, "no response to a head that never ended")
            // Left open: the HTTP client's pooled keep-alive connection (the /health/live call's).
            for _ in 0..<50 where runtime.connections.current > 1 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(runtime.connections.current <= 1, "the slow connections' slots are free again")
            let after = try await client.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/echo"), timeout: .seconds(5))
            #expect(after.status == .ok)
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeoutNotBefore() async throws {
        let limits = ListenerLimits(headerTimeout: .milliseconds(500), idleTimeout: .milliseconds(1500))
        try await Self.withServer(limits) { port, _ in
            let connection = try await RawConnection.open(port: port)
            connection.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await connection.receivedResponse(within: .seconds(5)))
            // Past the header timeout but within the idle one: kept for the next request.
            try await Task.sleep(for: .milliseconds(700))
            #expect(connection.isOpen, "an idle keep-alive connection is not held to the header timeout")
            #expect(await connection.closed(within: .seconds(5)))
            // A connection that sends nothing at all is held to the header timeout.
            let silent = try await RawConnection.open(port: port)
            let opened = ContinuousClock.now
            #expect(await silent.closed(within: .seconds(5)))
            #expect(ContinuousClock.now - opened < .milliseconds(1400))
        }
    }

    @Test func connectionsPastTheCapAreRefusedWith503() async throws {
        let limits = ListenerLimits(headerTimeout: .seconds(30), idleTimeout: .seconds(30), maxConnections: 5)
        try await Self.withServer(limits) { port, runtime in
            var held: [RawConnection] = []
            for _ in 0..<5 { held.append(try await RawConnection.open(port: port)) }
            for _ in 0..<50 where runtime.connections.current < 5 { try await Task.sleep(for: .milliseconds(20)) }
            let refused = try await RawConnection.open(port: port)
            #expect(await refused.closed(within: .seconds(5)))
            #expect(refused.received.hasPrefix("HTTP/1.1 503"))
            #expect(refused.received.contains("too_many_connections"))
            held[0].close()
            for _ in 0..<50 where runtime.connections.current >= 5 { try await Task.sleep(for: .milliseconds(20)) }
            let next = try await RawConnection.open(port: port)
            next.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await next.receivedResponse(within: .seconds(5)))
            #expect(next.received.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func headersPastTheSizeLimitAreRefused() async throws {
        let limits = ListenerLimits(maxHeaderBytes: 4096)
        try await Self.withServer(limits) { port, _ in
            let big = try await RawConnection.open(port: port)
            big.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 8000))\r\n\r\n")
            #expect(await big.closed(within: .seconds(5)))
            #expect(big.received.hasPrefix("HTTP/1.1 400"), "\(big.received.prefix(200))")
            let fine = try await RawConnection.open(port: port)
            fine.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Small: \(String(repeating: "a", count: 1000))\r\n\r\n")
            #expect(await fine.receivedResponse(within: .seconds(5)))
            #expect(fine.received.hasPrefix("HTTP/1.1 200"))
        }
    }
}

/// A plain TCP connection that writes what it is told and keeps what it receives.
final class RawConnection: Sendable {
    let channel: any Channel
    private let collector: Collector
    let openedAt = ContinuousClock.now

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// From the connection's opening to its closing (nil while open).
    var lifetime: Duration? { collector.closedAt.withLock { $0 }.map { $0 - openedAt } }

    static func open(port: Int) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    var received: String { collector.text.withLock { $0 } }
    var isOpen: Bool { channel.isActive }

    func send(_ text: String) {
        channel.writeAndFlush(channel.allocator.buffer(string: text), promise: nil)
    }

    func close() { channel.close(promise: nil) }

    /// Whether the peer closed it within `limit`.
    func closed(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while channel.isActive, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return !channel.isActive
    }

    /// Whether a whole response head (and its short body) arrived within `limit`.
    func receivedResponse(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !received.contains("\r\n\r\n"), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return received.contains("\r\n\r\n")
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let text = Mutex("")
        let closedAt = Mutex<ContinuousClock.Instant?>(nil)
        func channelInactive(context: ChannelHandlerContext) {
            closedAt.withLock { $0 = .now }
            context.fireChannelInactive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            text.withLock { $0 += String(buffer: bytes) }
        }
    }
}
