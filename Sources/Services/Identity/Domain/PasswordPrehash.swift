import Crypto
import Foundation

/// What bcrypt is given for a password. bcrypt reads only the first 72 bytes of its input, so a
/// password whose UTF-8 is longer is first reduced to the base64 of its HMAC-SHA256 (44 ASCII
/// bytes, no NUL): then every byte of it counts, and two long passwords that share their first
/// 72 bytes do not share a hash. Passwords of at most 72 bytes go to bcrypt as they are, as they
/// always have, so hashes stored before pre-hashing existed keep verifying.
struct BcryptInput: Sendable, Hashable {
    static let maxBytes = 72
    /// Public and fixed: it separates our pre-hash from a plain SHA-256, so that an unsalted
    /// SHA-256 of the same password leaked elsewhere cannot be tried against our bcrypt hashes
    /// as it is ("hash shucking"). A secret pepper would need key management; this needs none.
    private static let key = SymmetricKey(data: Data("malha.identity.password-prehash.v1".utf8))

    /// The text bcrypt hashes.
    let text: String
    /// Whether `text` is the pre-hash of the password rather than the password itself.
    let isPrehashed: Bool

    init(password: String) {
        if password.utf8.count > Self.maxBytes {
            let code = HMAC<SHA256>.authenticationCode(for: Data(password.utf8), using: Self.key)
            text = Data(code).base64EncodedString()
            isPrehashed = true
        } else {
            text = password
            isPrehashed = false
        }
    }
}

/// A password hash as stored: a bcrypt string, behind `prehashedPrefix` when bcrypt was given the
/// pre-hash (`BcryptInput`), so that verification reduces the candidate the same way. Every
/// bcrypt string starts `$2`, so the prefix cannot be mistaken for the start of one.
struct StoredPasswordHash: Sendable, Hashable {
    static let prehashedPrefix = "$hmac-sha256$"

    let bcrypt: String
    let isPrehashed: Bool

    init(bcrypt: String, isPrehashed: Bool) {
        self.bcrypt = bcrypt
        self.isPrehashed = isPrehashed
    }

    init(stored: String) {
        if stored.hasPrefix(Self.prehashedPrefix) {
            self.init(bcrypt: String(stored.dropFirst(Self.prehashedPrefix.count)), isPrehashed: true)
        } else {
            self.init(bcrypt: stored, isPrehashed: false)
        }
    }

    /// The column value.
    var stored: String { isPrehashed ? Self.prehashedPrefix + bcrypt : bcrypt }
}
