public import Crypto
import Foundation
import MalhaCore
import MalhaIdentity

/// What one service presents to the registry (`X-Registry-Token`): its name and a secret that
/// only that name's holder has — `<service>.<secret>`.
///
/// The secret is HMAC-SHA256 of the service's name under the registry's key, so the registry
/// holds one key and no list of secrets, and each service holds only its own credential: a
/// catalog that leaks its credential leaks the right to register *catalog*, nothing more.
/// `malha registry credential <service>` prints one from the key.
public struct RegistryCredential: Sendable, Equatable, CustomStringConvertible {
    public let service: String
    public let secret: String

    /// Derives `service`'s credential from the registry's key.
    public init(service: String, key: SymmetricKey) {
        self.service = service
        self.secret = Self.mac(service: service, key: key).base64URLEncodedString()
    }

    /// Parses the header form `<service>.<secret>`; nil when it is not of that shape.
    public init?(header: String) {
        guard let dot = header.lastIndex(of: "."), dot != header.startIndex else { return nil }
        let service = String(header[..<dot])
        let secret = String(header[header.index(after: dot)...])
        guard !secret.isEmpty, service.utf8.count <= 64 else { return nil }
        self.service = service
        self.secret = secret
    }

    /// The header form.
    public var header: String { "\(service).\(secret)" }

    /// Never the secret (this value is logged and printed in errors).
    public var description: String { "registry credential for \(service)" }

    /// Whether this credential is the one `key` derives for its service (constant time).
    public func isValid(under key: SymmetricKey) -> Bool {
        guard let presented = Data(base64URLEncoded: secret) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(presented, authenticating: Self.message(service), using: key)
    }

    /// The registry's key from its configured text (any length of at least 32 bytes: a random
    /// hex or base64 string, as `openssl rand -hex 32` prints).
    public static func key(from text: String) -> SymmetricKey? {
        guard text.utf8.count >= 32 else { return nil }
        return SymmetricKey(data: SHA256.hash(data: Data(text.utf8)))
    }

    static func message(_ service: String) -> Data { Data("malha.registry.v1:\(service)".utf8) }

    static func mac(service: String, key: SymmetricKey) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: message(service), using: key))
    }
}
