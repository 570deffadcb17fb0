import Crypto
import Foundation
import MalhaCore
import MalhaIdentity

/// Opaque secrets (refresh tokens, client secrets): 32 random bytes, base64url; stored only as
/// their SHA-256. A hash without a salt or a slow KDF is enough here because the secret itself
/// has 256 bits of entropy — there is no dictionary to try.
enum Secrets {
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64URLEncodedString()
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
