public import Crypto
public import Foundation
import MalhaCore

/// The key that encrypts secrets a service must keep at rest (identity's ES256 signing keys):
/// AES-256-GCM, with the record's own identity (a key id) as authenticated data, so a sealed
/// value cannot be moved to another record.
///
/// It comes from configuration (`…key-encryption-key`: 32 bytes, base64 or hex) or a key file;
/// `malha up` creates `<data-dir>/identity.kek`, mode 0600, on its first start.
public struct KeyEncryptionKey: Sendable {
    let key: SymmetricKey

    /// What every sealed value starts with (the format's version).
    public static let prefix = "aes256gcm:v1:"

    public init(_ key: SymmetricKey) {
        precondition(key.bitCount == 256, "AES-256 needs a 32-byte key")
        self.key = key
    }

    /// Parses 32 bytes written as 64 hex digits or as base64; nil for anything else.
    public init?(text: String) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes: [UInt8]?
        if text.count == 64, text.allSatisfy(\.isHexDigit) {
            var hex = Substring(text)
            var parsed: [UInt8] = []
            while !hex.isEmpty {
                guard let byte = UInt8(hex.prefix(2), radix: 16) else { return nil }
                parsed.append(byte)
                hex = hex.dropFirst(2)
            }
            bytes = parsed
        } else if let data = Data(base64Encoded: text), data.count == 32 {
            bytes = [UInt8](data)
        }
        guard let bytes, bytes.count == 32 else { return nil }
        self.init(SymmetricKey(data: bytes))
    }

    /// A new random key, and its text form (hex) to keep.
    public static func generate() -> (key: KeyEncryptionKey, text: String) {
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        return (KeyEncryptionKey(key), text)
    }

    /// The key in `path`, creating the file (mode 0600) with a new key when it does not exist.
    /// A file readable by others is refused (`SecretFile`).
    public static func loadOrCreate(path: String) throws -> KeyEncryptionKey {
        let text = try SecretFile.loadOrCreate(path: path) { generate().text }
        guard let key = KeyEncryptionKey(text: text) else {
            throw SecretFile.Refusal(path: path, reason: "does not hold a 32-byte key (64 hex digits or base64)")
        }
        return key
    }

    /// `plaintext` sealed for the record `context` (e.g. a key id).
    public func seal(_ plaintext: String, context: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SealingError.notSealed }
        return Self.prefix + combined.base64EncodedString()
    }

    /// The plaintext of a value `seal` made for `context`; throws when the value was altered, was
    /// made for another record, or under another key.
    public func open(_ sealed: String, context: String) throws -> String {
        guard sealed.hasPrefix(Self.prefix), let combined = Data(base64Encoded: String(sealed.dropFirst(Self.prefix.count)))
        else { throw SealingError.notSealed }
        let box = try AES.GCM.SealedBox(combined: combined)
        let plaintext = try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        return String(decoding: plaintext, as: UTF8.self)
    }

    /// Whether `value` is sealed (rather than plaintext from before sealing).
    public static func isSealed(_ value: String) -> Bool { value.hasPrefix(prefix) }

    public enum SealingError: Error, CustomStringConvertible {
        case notSealed
        public var description: String { "not a value sealed by a key-encryption key" }
    }
}
