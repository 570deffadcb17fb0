import Crypto
import Foundation
public import MalhaCore

/// Rendered balance responses in a `KeyValueCache`, each with its `ETag`.
///
/// Invalidation by generation: every key of an account includes the account's current generation
/// (a random token kept in the cache with the owner, which the access check needs), and a commit
/// that changes the account replaces the generation. Older keys are never read again and expire.
/// A reader that read the database before a commit stores its body under the generation it
/// started with, so a stale body cannot outlive the commit that made it stale.
public struct BalanceCache: Sendable {
    let cache: any KeyValueCache
    let ttl: Duration

    public init(cache: any KeyValueCache, ttl: Duration = .seconds(60)) {
        self.cache = cache
        self.ttl = ttl
    }

    /// An account as the read path needs it: who may see it, and the generation its keys carry.
    struct Header: Sendable, Hashable {
        var generation: String
        /// Empty when the owner is not known yet.
        var ownerID: String
    }

    struct Rendered: Sendable, Hashable {
        var etag: String
        var body: [UInt8]
    }

    static func headerKey(_ accountID: String) -> String { "consolidation:account:\(accountID)" }

    func header(accountID: String) async -> Header? {
        guard let bytes = await cache.get(Self.headerKey(accountID)) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return Header(generation: String(parts[0]), ownerID: String(parts[1]))
    }

    /// Starts a new generation for the account (after reading its owner from the database).
    func newHeader(accountID: String, ownerID: String?) async -> Header {
        let header = Header(generation: UUID().uuidString, ownerID: ownerID ?? "")
        await cache.set(Self.headerKey(accountID), Array("\(header.generation)\n\(header.ownerID)".utf8), ttl: ttl * 10)
        return header
    }

    /// Forgets the account's header: its next read starts a new generation.
    public func invalidate(accountID: String) async {
        await cache.delete(Self.headerKey(accountID))
    }

    static func key(_ accountID: String, _ header: Header, _ view: String) -> String {
        "consolidation:balances:\(accountID):\(header.generation):\(view)"
    }

    func rendered(_ accountID: String, _ header: Header, view: String) async -> Rendered? {
        guard let bytes = await cache.get(Self.key(accountID, header, view)), bytes.count > Self.etagLength else {
            return nil
        }
        return Rendered(etag: String(decoding: bytes[..<Self.etagLength], as: UTF8.self), body: Array(bytes[Self.etagLength...]))
    }

    func store(_ body: [UInt8], _ accountID: String, _ header: Header, view: String) async -> Rendered {
        let rendered = Rendered(etag: Self.etag(body), body: body)
        await cache.set(Self.key(accountID, header, view), Array(rendered.etag.utf8) + body, ttl: ttl)
        return rendered
    }

    /// A strong validator: the body's SHA-256, 16 bytes in hex, quoted (34 characters).
    static func etag(_ body: [UInt8]) -> String {
        let digest = SHA256.hash(data: body)
        return "\"" + digest.prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
    }

    static let etagLength = 34
}
