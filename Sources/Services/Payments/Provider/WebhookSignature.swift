import Crypto
public import Foundation
import MalhaCore

/// The provider's webhook signature: `Malha-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
/// over `"<t>.<raw body>"` with the shared secret. Checked in constant time; a timestamp more
/// than `tolerance` away from now is refused, so a captured request cannot be replayed later.
public enum WebhookSignature {
    public static let header = "Malha-Signature"
    /// At most this many `v1=` signatures are checked (the provider sends one, two while it
    /// rotates its secret).
    public static let maxSignatures = 4

    public enum Failure: Error, Sendable, Hashable {
        case malformed
        case stale
        case mismatch
    }

    /// The header value for `body` at `timestamp` (what the provider sends; tests use it too).
    public static func sign(body: some DataProtocol, secret: String, timestamp: Date) -> String {
        let seconds = Int64(timestamp.timeIntervalSince1970.rounded(.down))
        let mac = HMAC<SHA256>.authenticationCode(for: signedPayload(seconds, body), using: key(secret))
        return "t=\(seconds),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Checks `header` against `body`; throws `Failure` when it does not hold.
    public static func verify(
        header: String?, body: some DataProtocol, secret: String, now: Date, tolerance: Duration = .seconds(300)
    ) throws(Failure) {
        // Each `v1=` costs an HMAC over the whole body: a header with a thousand of them would
        // cost a thousand. Two cover a secret rotation; more than `maxSignatures` is refused unread.
        guard let header, header.utf8.count <= 1024 else { throw .malformed }
        var timestamp: Int64?
        var signatures: [Data] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int64(pair[1])
            case "v1": if let bytes = hexBytes(pair[1]) { signatures.append(bytes) }
            default: continue
            }
        }
        guard let timestamp, !signatures.isEmpty, signatures.count <= maxSignatures else { throw .malformed }
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance.seconds else {
            throw .stale
        }
        let payload = signedPayload(timestamp, body)
        // `isValidAuthenticationCode` compares in constant time.
        guard
            signatures.contains(where: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: payload, using: key(secret)) }
            )
        else { throw .mismatch }
    }

    static func key(_ secret: String) -> SymmetricKey { SymmetricKey(data: Data(secret.utf8)) }

    static func signedPayload(_ seconds: Int64, _ body: some DataProtocol) -> Data {
        var payload = Data("\(seconds).".utf8)
        payload.append(contentsOf: body)
        return payload
    }

    static func hexBytes(_ hex: String) -> Data? {
        guard hex.count == 64 else { return nil }
        var bytes = Data(capacity: 32)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
