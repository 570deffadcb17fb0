public import Crypto
import Foundation
public import Logging
public import MalhaCore
public import MalhaIdentity
public import MalhaMessaging
public import MalhaStore
import SQLKit
import Synchronization

/// A publishing service's event-signing keys (ES256, P-256), in its own database: created on the
/// first start, the private key sealed with the service's key-encryption key (AES-256-GCM, the
/// kid as authenticated data, as identity seals its token keys), the public keys served as a JWKS
/// at `GET /.well-known/event-keys` for consumers to verify with.
///
/// The newest key signs; every stored key is published, so a key added by another replica (two
/// starting at once on an empty database) or by a future rotation verifies at once.
public final class EventKeyRing: EnvelopeSigner {
    public static let component = "event_keys"
    /// Where every signing service publishes its keys.
    public static let path = "/.well-known/event-keys"

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "event signing keys",
            [
                """
                CREATE TABLE event_signing_keys (
                    kid TEXT PRIMARY KEY, private_key TEXT NOT NULL, public_jwk TEXT NOT NULL, created_at BIGINT NOT NULL)
                """
            ])
    ]

    /// The service whose events this ring signs (only its own: see `sign`).
    public let service: String
    let store: any SQLStore
    let keyEncryption: KeyEncryptionKey
    let clock: any WallClock
    private let current = Mutex<(kid: String, key: P256.Signing.PrivateKey)?>(nil)

    public init(service: String, store: any SQLStore, keyEncryption: KeyEncryptionKey, clock: any WallClock) {
        self.service = service
        self.store = store
        self.keyEncryption = keyEncryption
        self.clock = clock
    }

    /// Creates the table, and the first key when there is none; loads the newest for signing.
    public func prepare(logger: Logger) async throws {
        try await Migrator.migrate(store, Self.migrations, component: Self.component, logger: logger)
        let existing = try await store.read { db in
            try await db.raw("SELECT kid FROM event_signing_keys LIMIT 1").first()
        }
        if existing == nil {
            let key = SigningKey.generate(at: clock.now())
            let jwk = String(decoding: try JSONEncoder().encode(key.publicJWK), as: UTF8.self)
            let sealed = try keyEncryption.seal(key.privateKey.pemRepresentation, context: key.kid)
            try await store.write { db in
                try await db.raw(
                    """
                    INSERT INTO event_signing_keys (kid, private_key, public_jwk, created_at)
                    VALUES (\(bind: key.kid), \(bind: sealed), \(bind: jwk), \(bind: key.createdAt.epochMilliseconds))
                    """
                ).run()
            }
            logger.info("created the event-signing key", metadata: ["kid": "\(key.kid)"])
        }
        _ = try await newestKey()
    }

    /// Signs an event of this service's own (its type owned by, and its source, this service);
    /// anything else — a command it sends to another service — goes out unsigned, since its
    /// consumers would refuse this key for a type another service owns.
    public func sign(_ envelope: Envelope) async throws -> Envelope {
        guard envelope.source == service, Envelope.owner(ofType: envelope.type) == service else { return envelope }
        let (kid, key) = try await newestKey()
        return try envelope.signed(with: key, kid: kid)
    }

    /// The published key set: every stored key.
    public func jwks() async throws -> JWKSDocument {
        let rows = try await store.read { db in
            try await db.raw("SELECT public_jwk FROM event_signing_keys ORDER BY created_at DESC, kid").all()
        }
        return JWKSDocument(
            keys: try rows.map {
                try JSONDecoder().decode(PublicJWK.self, from: Data(try $0.decode(column: "public_jwk", as: String.self).utf8))
            })
    }

    private func newestKey() async throws -> (kid: String, key: P256.Signing.PrivateKey) {
        if let loaded = current.withLock({ $0 }) { return loaded }
        guard
            let row = try await store.read({ db in
                try await db.raw("SELECT kid, private_key FROM event_signing_keys ORDER BY created_at DESC, kid LIMIT 1")
                    .first()
            })
        else { throw NoEventSigningKey(service: service) }
        let kid = try row.decode(column: "kid", as: String.self)
        let pem = try keyEncryption.open(try row.decode(column: "private_key", as: String.self), context: kid)
        let loaded = (kid: kid, key: try P256.Signing.PrivateKey(pemRepresentation: pem))
        current.withLock { $0 = loaded }
        return loaded
    }

    public struct NoEventSigningKey: Error, CustomStringConvertible {
        public var service: String
        public var description: String { "\(service) has no event-signing key (prepare() creates it at start)" }
    }
}
