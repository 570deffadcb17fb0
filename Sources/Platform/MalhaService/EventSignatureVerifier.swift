public import Crypto
import Foundation
public import Logging
public import MalhaCore
public import MalhaIdentity
public import MalhaMessaging

/// Verifies signed envelopes against the keys their publisher serves at
/// `GET /.well-known/event-keys`, with the same key policy as access tokens (`JWKSKeyCache`:
/// ES256 only, an unknown kid refetched at most once per interval, a stale set fetched again).
///
/// Whose key: the service that owns the envelope's type (`payments` for `payments.….v1`), and the
/// envelope's `source` must be that service — a message that claims to come from payments is
/// checked with payments' keys and no one else's. Refused (permanent, `EnvelopeSignatureRejected`):
/// a source that is not the type's owner, a publisher this consumer has no keys for, a malformed
/// signature, a kid the publisher does not publish (after a refetch), a signature that does not
/// hold. Transient (`EventKeysUnavailable`, retried): the publisher's keys cannot be fetched now.
public final class EventSignatureVerifier: EnvelopeVerifier {
    private let caches: [String: JWKSKeyCache<P256.Signing.PublicKey>]

    /// `publishers`: where each signing service's keys come from, by service name.
    public init(
        publishers: [String: any JWKSProvider], refetchInterval: Duration = .seconds(10), maxAge: Duration = .seconds(300),
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        caches = publishers.mapValues { provider in
            JWKSKeyCache(
                provider: provider, refetchInterval: refetchInterval, maxAge: maxAge, clock: clock, logger: logger
            ) { jwk in
                guard let x = Data(base64URLEncoded: jwk.x), let y = Data(base64URLEncoded: jwk.y) else { return nil }
                return try? P256.Signing.PublicKey(rawRepresentation: x + y)
            }
        }
    }

    public func verify(_ envelope: Envelope) async throws -> Envelope {
        guard let text = envelope.signature else { return envelope }
        func refuse(_ reason: String) -> EnvelopeSignatureRejected {
            EnvelopeSignatureRejected(messageID: envelope.id, reason: reason)
        }
        let owner = String(Envelope.owner(ofType: envelope.type))
        guard envelope.source == owner else {
            throw refuse("\(envelope.type) is \(owner)'s, but the message claims source \(envelope.source)")
        }
        guard let cache = caches[owner] else { throw refuse("no event keys are known for \(owner)") }
        guard let signature = EnvelopeSignature(text) else { throw refuse("malformed signature") }
        switch await cache.key(for: signature.kid) {
        case .found(let key):
            guard signature.isValid(for: envelope, key: key) else { throw refuse("bad signature (kid \(signature.kid))") }
            var verified = envelope
            verified.isSignatureVerified = true
            return verified
        case .unknown:
            throw refuse("\(owner) publishes no key \(signature.kid)")
        case .unavailable:
            throw EventKeysUnavailable(publisher: owner, kid: signature.kid)
        }
    }
}

/// A publisher's event keys could not be fetched (or were fetched too recently to fetch again):
/// transient, the message is retried.
public struct EventKeysUnavailable: Error, CustomStringConvertible {
    public var publisher: String
    public var kid: String
    public var description: String { "the event keys of \(publisher) are unavailable now (kid \(kid)); will retry" }
}
