public import Hummingbird
public import NIOCore

/// Which peers may tell a service who the client is (`X-Forwarded-For`): the gateway's addresses.
///
/// A service behind the gateway sees the gateway as its peer, and the client's address as the
/// last `X-Forwarded-For` entry, which the gateway appends. A client that reaches a service's
/// port directly could write that header itself and pick its own throttle bucket; so the header
/// counts only when the peer is a trusted proxy, and otherwise the peer's own address is the
/// client's. `malha.http.trusted-proxies` lists them (addresses or IPv4 CIDR blocks; loopback by
/// default, which is where `up`'s gateway is).
public struct TrustedProxies: Sendable, Equatable {
    public enum Entry: Sendable, Equatable {
        case address(String)
        /// An IPv4 network and its prefix length.
        case ipv4Block(UInt32, Int)
    }

    public var entries: [Entry]

    public init(_ entries: [Entry]) { self.entries = entries }

    public static let loopback = TrustedProxies([.address("::1"), .ipv4Block(0x7F00_0000, 8)])

    /// Parses `10.0.0.5, 10.1.0.0/16, ::1`; nil when an entry is neither an address nor an IPv4 block.
    public init?(parsing text: String) {
        var entries: [Entry] = []
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            if let slash = item.firstIndex(of: "/") {
                guard let network = Self.ipv4(item[..<slash]), let length = Int(item[item.index(after: slash)...]),
                    (0...32).contains(length)
                else { return nil }
                entries.append(.ipv4Block(network & Self.mask(length), length))
            } else if Self.ipv4(Substring(item)) != nil || item.contains(":") {
                entries.append(.address(item.lowercased()))
            } else {
                return nil
            }
        }
        self.entries = entries
    }

    public func contains(_ address: String) -> Bool {
        let ipv4 = Self.ipv4(Substring(address))
        return entries.contains { entry in
            switch entry {
            case .address(let listed): listed == address.lowercased()
            case .ipv4Block(let network, let length): ipv4.map { $0 & Self.mask(length) == network } ?? false
            }
        }
    }

    /// The client's address for a request from `peer` (nil when there is no socket, as in
    /// in-process tests: the header is then all there is).
    public func clientAddress(peer: String?, forwardedFor: [String]) -> String {
        let lastForwarded = forwardedFor.last?.split(separator: ",").last?.trimmingCharacters(in: .whitespaces)
        if let peer, !contains(peer) { return peer }
        guard let lastForwarded, !lastForwarded.isEmpty, lastForwarded.utf8.count <= 64 else { return peer ?? "unknown" }
        return lastForwarded
    }

    static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : UInt32.max << (32 - length) }

    static func ipv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }
}

/// Sets `clientAddress` on the context (see `TrustedProxies`).
public struct ClientAddressMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    let trusted: TrustedProxies

    public init(trusted: TrustedProxies) { self.trusted = trusted }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.clientAddress = trusted.clientAddress(
            peer: context.peerAddress?.ipAddress, forwardedFor: request.headers[values: .xForwardedFor])
        return try await next(request, context)
    }
}
