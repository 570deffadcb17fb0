public import Hummingbird
public import HummingbirdCore
import Logging
import MalhaCore
public import NIOCore
public import NIOHTTPTypes
import Synchronization

/// What every Malha listener (the gateway and each service) allows a client connection, so a few
/// thousand sockets that never finish their headers cannot hold a server: Hummingbird alone has no
/// header timeout, and its idle timeout counts from the last decoded part, not the last byte.
///
/// Read from `malha.http.*` (README, "Configuration"); the defaults are safe for the public edge.
public struct ListenerLimits: Sendable, Equatable {
    /// From a connection's start, or a request's first byte, to its complete head.
    public var headerTimeout: Duration
    /// A keep-alive connection with no request in progress and no byte arriving is closed after this.
    public var idleTimeout: Duration
    /// Open connections beyond this are answered 503 and closed at once.
    public var maxConnections: Int
    /// The request line and header fields together, in bytes (past it: 400 and closed).
    public var maxHeaderBytes: Int
    /// Connections the kernel completes before the server accepts them (`listen(2)`'s backlog;
    /// Linux caps it at `net.core.somaxconn`, 4096 by default). Hummingbird's 256 overflows when
    /// a few thousand clients connect at once: the kernel then resets some of them.
    public var backlog: Int

    public init(
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), maxConnections: Int = 10_000,
        maxHeaderBytes: Int = 32 * 1024, backlog: Int = 4096
    ) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.maxHeaderBytes = maxHeaderBytes
        self.backlog = backlog
    }

    /// Hummingbird's HTTP/1 server with these limits.
    func serverBuilder(connections: ConnectionCount, logger: Logger) -> HTTPServerBuilder {
        let limits = self
        // Hummingbird's own idle timeout, counted from the last decoded part, also ends a request
        // whose body stops arriving midway (the guard's timers stop once a head is complete).
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestPhaseHandler()], idleTimeout: .nanoseconds(idleTimeout.nanoseconds),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: maxHeaderBytes, maxHeaderListSize: maxHeaderBytes, maxHeaderFieldCount: 200))
        return HTTPServerBuilder { responder in
            LimitedHTTP1Channel(
                base: HTTP1Channel(responder: responder, configuration: configuration), limits: limits,
                connections: connections, logger: logger)
        }
    }
}

/// How many connections a listener holds open (its cap, and the `http_open_connections` gauge).
public final class ConnectionCount: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public var current: Int { count.load(ordering: .relaxed) }

    /// Takes a slot; false (taking none) when `limit` are already open.
    func open(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, actual) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = actual
        }
        return false
    }

    func close() { count.subtract(1, ordering: .relaxed) }
}

/// HTTP/1 with the connection guard in front of the decoder, where it sees every byte.
struct LimitedHTTP1Channel: ServerChildChannel {
    let base: HTTP1Channel
    let limits: ListenerLimits
    let connections: ConnectionCount
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGuard(limits: limits, connections: connections, logger: self.logger), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// What the decoded side tells the guard (an outbound user event, so it travels to the front).
enum RequestPhase: Sendable {
    /// A request's head is complete: no header timeout while it is handled.
    case headReceived
    /// A response ended: the connection waits, idle, for the next request.
    case responseEnded
}

/// Sits after the HTTP decoder and reports where each request is to the `ConnectionGuard`.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { context.triggerUserOutboundEvent(RequestPhase.headReceived, promise: nil) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if isEnd { context.triggerUserOutboundEvent(RequestPhase.responseEnded, promise: nil) }
    }
}

/// The first handler of every connection: counts it against the cap, and closes it when its
/// head takes longer than the header timeout or it sits idle past the idle timeout.
final class ConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Between requests, no byte of the next one yet (idle timeout).
        case idle
        /// Bytes of a head are arriving, or the connection has just opened (header timeout).
        case readingHead
        /// A head is complete; the request is being handled (no timeout here: the route's own).
        case handling
    }

    let limits: ListenerLimits
    let connections: ConnectionCount
    let logger: Logger
    private var phase = Phase.readingHead
    private var counted = false
    private var timer: Scheduled<Void>?

    init(limits: ListenerLimits, connections: ConnectionCount, logger: Logger) {
        self.limits = limits
        self.connections = connections
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        guard connections.open(limit: limits.maxConnections) else {
            logger.warning("connection refused: at the connection limit", metadata: ["limit": "\(limits.maxConnections)"])
            let refusal =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"
                + "Connection: close\r\nContent-Length: \(Self.tooManyBody.utf8.count)\r\n\r\n\(Self.tooManyBody)"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: refusal))).whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        counted = true
        arm(.readingHead, context: context)
        context.fireChannelActive()
    }

    static let tooManyBody =
        #"{"type":"about:blank","title":"Service unavailable","status":503,"code":"too_many_connections","detail":"the server holds as many connections as it allows; retry shortly"}"#

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            connections.close()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard counted else { return }
        if phase == .idle { arm(.readingHead, context: context) }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? RequestPhase else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .headReceived: arm(.handling, context: context)
        case .responseEnded: arm(.idle, context: context)
        }
        promise?.succeed()
    }

    /// Enters `phase` with its timer (none while handling).
    private func arm(_ phase: Phase, context: ChannelHandlerContext) {
        self.phase = phase
        timer?.cancel()
        timer = nil
        let limit: Duration
        switch phase {
        case .handling: return
        case .readingHead: limit = limits.headerTimeout
        case .idle: limit = limits.idleTimeout
        }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(limit.nanoseconds)) {
            channel.close(promise: nil)
        }
    }
}
