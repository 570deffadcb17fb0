public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import NIOCore

/// The gateway's request context: the platform's (request id, principal) plus the client's
/// address, which `X-Forwarded-For` needs and `ServiceRequestContext` does not keep.
public struct GatewayRequestContext: MalhaRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var principal: Principal?
    public let remoteAddress: SocketAddress?
    public var peerAddress: SocketAddress? { remoteAddress }
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
