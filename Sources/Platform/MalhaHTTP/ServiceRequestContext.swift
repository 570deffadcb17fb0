import Foundation
public import Hummingbird
public import Logging
public import MalhaCore
public import NIOCore

/// What every Malha route can ask of its request context.
///
/// Middleware is generic over this protocol (not a concrete type) so services may extend the context.
public protocol MalhaRequestContext: RequestContext {
    /// The request id (`X-Request-ID`), accepted from the caller or generated.
    var requestID: String { get set }
    /// The verified caller, set by the authentication middleware.
    var principal: Principal? { get set }
    /// The socket peer (the gateway, behind it; nil in in-process tests).
    var peerAddress: SocketAddress? { get }
    /// The client's address as `ClientAddressMiddleware` resolved it (nil before it ran).
    var clientAddress: String? { get set }
}

/// The request context used by Malha services.
public struct ServiceRequestContext: MalhaRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var principal: Principal?
    public let peerAddress: SocketAddress?
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress
    }

    /// Bodies larger than this are refused with 413 before they are read whole.
    public var maxUploadSize: Int { 1 << 20 }

    public var requestDecoder: MalhaRequestDecoder { MalhaRequestDecoder() }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }
}
