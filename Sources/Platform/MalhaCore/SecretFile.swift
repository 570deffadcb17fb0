public import Foundation

/// A file that holds one secret (a key, a token): created with mode 0600 when missing, refused
/// when others may read it — the secret would be as exposed as what it guards.
public enum SecretFile {
    /// The file's text, trimmed; when the file does not exist it is created holding `generate()`.
    public static func loadOrCreate(path: String, generate: () -> String) throws -> String {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            let text = generate()
            guard files.createFile(atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw Refusal(path: path, reason: "could not be created") }
            return text
        }
        return try load(path: path)
    }

    /// The text of an existing file, trimmed.
    public static func load(path: String) throws -> String {
        let files = FileManager.default
        guard files.fileExists(atPath: path) else { throw Refusal(path: path, reason: "does not exist") }
        let permissions = (try files.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard permissions & 0o077 == 0 else {
            throw Refusal(path: path, reason: "is readable by others (mode \(String(permissions, radix: 8))); chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Refusal(path: path, reason: "is not readable text")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// 32 random bytes as 64 hex digits.
    public static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "the secret file \(path) \(reason)" }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }
}
