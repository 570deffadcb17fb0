public import Crypto
import Foundation
import Logging
public import MalhaIdentity
public import MalhaMessaging
public import MalhaService

/// Event-signing keys for tests: one per publisher, signing as that service's outbox relay does,
/// and a verifier that knows them as a consumer in `malha up` knows the published ones.
public struct TestEventKeys: Sendable {
    public struct Key: Sendable {
        public var kid: String
        public var privateKey: P256.Signing.PrivateKey
        public var jwk: PublicJWK
    }

    public let keys: [String: Key]

    public init(publishers: [String] = ["payments", "identity"]) {
        keys = Dictionary(
            uniqueKeysWithValues: publishers.map { publisher in
                let key = SigningKey.generate()
                // swift-crypto's key from jwt-kit's, as EventKeyRing loads a stored one.
                let privateKey = try! P256.Signing.PrivateKey(pemRepresentation: key.privateKey.pemRepresentation)
                return (publisher, Key(kid: key.kid, privateKey: privateKey, jwk: key.publicJWK))
            })
    }

    /// `envelope` signed with its source's key (the source must be one of the publishers).
    public func sign(_ envelope: Envelope) throws -> Envelope {
        guard let key = keys[envelope.source] else { throw UnknownPublisher(name: envelope.source) }
        return try envelope.signed(with: key.privateKey, kid: key.kid)
    }

    /// A verifier fed these keys (each publisher's JWKS holds its one key).
    public func verifier(logger: Logger = Logger(label: "test.event-keys")) -> EventSignatureVerifier {
        let keys = keys
        return EventSignatureVerifier(
            publishers: keys.mapValues { key in ClosureJWKSProvider { JWKSDocument(keys: [key.jwk]) } }, logger: logger)
    }

    public struct UnknownPublisher: Error {
        public var name: String
    }
}
