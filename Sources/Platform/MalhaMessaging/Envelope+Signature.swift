public import Crypto
public import Foundation
import MalhaCore

/// How envelopes are signed: ES256 (ECDSA P-256 with SHA-256) over `signingInput`, written as
/// `<kid>.<base64url of the 64-byte r||s>` in `Envelope.signature`.
///
/// Covered, in this order: the id, type, source, occurredAt (milliseconds since 1970, decimal),
/// correlation id, causation id, ordering key, and the SHA-256 of the payload bytes — everything a
/// consumer acts on. Not covered: `attempt` and `traceparent`, which change in transit (the bus
/// counts deliveries; a relay may start a new span), and `signature` itself.
extension Envelope {
    /// The exact bytes signed: a version label, then each covered field as a presence byte (0 for
    /// nil), a 4-byte big-endian length and its UTF-8 bytes, so no two envelopes share an input.
    public var signingInput: Data {
        var input = Data("malha-envelope-signature-v1".utf8)
        let digest = SHA256.hash(data: payload).map { String(format: "%02x", $0) }.joined()
        let fields: [String?] = [
            id, type, source, String(occurredAt.epochMilliseconds), correlationID, causationID, key, digest,
        ]
        for field in fields {
            guard let field else {
                input.append(0)
                continue
            }
            let bytes = Data(field.utf8)
            input.append(1)
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { input.append(contentsOf: $0) }
            input.append(bytes)
        }
        return input
    }

    /// This envelope signed with `key`, named `kid` in the signature.
    public func signed(with key: P256.Signing.PrivateKey, kid: String) throws -> Envelope {
        var signed = self
        let signature = try key.signature(for: signingInput)
        signed.signature = kid + "." + signature.rawRepresentation.base64URLEncodedString()
        return signed
    }

    /// The service that owns a message type: the part before the first dot (`payments` for
    /// `payments.payment-captured.v1`). Only its key may sign the type.
    public static func owner(ofType type: String) -> Substring {
        type.prefix { $0 != "." }
    }
}

/// A parsed `Envelope.signature`.
public struct EnvelopeSignature: Sendable {
    public var kid: String
    public var signature: P256.Signing.ECDSASignature

    /// Nil unless the text is `<kid>.<base64url of exactly 64 bytes>` with a non-empty kid.
    public init?(_ text: String) {
        guard let dot = text.lastIndex(of: "."), dot != text.startIndex, text.utf8.count <= 512,
            let raw = Data(base64URLEncoded: String(text[text.index(after: dot)...])), raw.count == 64,
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw)
        else { return nil }
        self.kid = String(text[..<dot])
        self.signature = signature
    }

    /// Whether this signature is `key`'s over `envelope`.
    public func isValid(for envelope: Envelope, key: P256.Signing.PublicKey) -> Bool {
        key.isValidSignature(signature, for: envelope.signingInput)
    }
}

/// Signs what a service publishes (the outbox relay calls it as rows leave the outbox).
public protocol EnvelopeSigner: Sendable {
    func sign(_ envelope: Envelope) async throws -> Envelope
}

/// Checks a signed envelope against its publisher's published keys.
public protocol EnvelopeVerifier: Sendable {
    /// The envelope with `isSignatureVerified` set; an unsigned one is returned as it is. Throws
    /// `EnvelopeSignatureRejected` (permanent: dead letters) for a signature that does not hold,
    /// anything else (the publisher's keys could not be fetched) when trying later may succeed.
    func verify(_ envelope: Envelope) async throws -> Envelope
}

/// A signature that does not hold, or a critical message without one. Permanent: retrying
/// cannot make a forged message genuine, so it goes straight to the dead letters.
public struct EnvelopeSignatureRejected: PermanentMessageError, CustomStringConvertible {
    public var messageID: String
    public var reason: String
    public init(messageID: String, reason: String) {
        self.messageID = messageID
        self.reason = reason
    }
    public var description: String { "message \(messageID) refused: \(reason)" }
}
