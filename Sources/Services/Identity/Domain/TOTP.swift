import Crypto
import Foundation

/// Time-based one-time passwords (RFC 6238): HOTP (RFC 4226) over HMAC-SHA1 of the number of
/// `period`-second steps since the Unix epoch. Six digits and 30 seconds, as every authenticator
/// app expects; the digit count is a parameter so the RFC's 8-digit vectors test the same code.
///
/// Pure: the time is an argument (the caller's injected clock), never read here.
public struct TOTP: Sendable {
    /// RFC 4226 §4 asks for at least 128 bits; 160 is what RFC 6238's SHA-1 vectors use.
    public static let secretByteCount = 20
    /// Steps either side of now a code may be for: a phone's clock a little off, or a code typed
    /// just as it changed.
    public static let driftSteps: Int64 = 1

    public let secret: [UInt8]
    public let digits: Int
    public let period: Int64

    public init(secret: [UInt8], digits: Int = 6, period: Int64 = 30) {
        precondition((6...8).contains(digits) && period > 0)
        self.secret = secret
        self.digits = digits
        self.period = period
    }

    /// A new random secret.
    public static func generateSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<secretByteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The time step `date` falls in.
    public func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down))
    }

    /// The code of `step` (RFC 4226 §5.3: dynamic truncation of the HMAC).
    public func code(step: Int64) -> String {
        let counter = withUnsafeBytes(of: UInt64(bitPattern: step).bigEndian) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: counter, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary =
            UInt32(mac[offset] & 0x7f) << 24 | UInt32(mac[offset + 1]) << 16 | UInt32(mac[offset + 2]) << 8
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The code now.
    public func code(at date: Date) -> String { code(step: step(at: date)) }

    /// The step `code` is the code of, within `driftSteps` of `date`'s, and not refused by the
    /// replay rule (`lastAcceptedStep`); nil when there is none. Every candidate is compared, in
    /// constant time, so the answer's timing says nothing about which step matched.
    public func acceptedStep(for code: String, at date: Date, lastAcceptedStep: Int64?) -> Int64? {
        guard code.utf8.count == digits, code.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        let now = step(at: date)
        var accepted: Int64?
        for candidate in (now - Self.driftSteps)...(now + Self.driftSteps) {
            let matches = ConstantTime.equals(self.code(step: candidate), code)
            if matches, accepted == nil, !Self.isReplay(step: candidate, lastAcceptedStep: lastAcceptedStep) {
                accepted = candidate
            }
        }
        return accepted
    }

    /// The replay rule: a code whose step is not after the last accepted one is refused, so a
    /// code seen over a shoulder (or in a log) is worthless once used, and so is any older one.
    public static func isReplay(step: Int64, lastAcceptedStep: Int64?) -> Bool {
        guard let lastAcceptedStep else { return false }
        return step <= lastAcceptedStep
    }

    /// The `otpauth://` URI an authenticator app reads (usually from a QR code): Google's Key
    /// URI format, `otpauth://totp/<issuer>:<account>?secret=…&issuer=…`.
    public func provisioningURI(issuer: String, account: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~@")
        func escape(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        return "otpauth://totp/\(escape(issuer)):\(escape(account))?secret=\(Base32.encode(secret))"
            + "&issuer=\(escape(issuer))&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }
}

/// Comparisons of secrets that take as long whatever the first difference.
enum ConstantTime {
    /// Equality of two strings' bytes without an early exit (their lengths are not secret).
    static func equals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// Base32 (RFC 4648 §6), the alphabet authenticator apps take secrets in.
public enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Upper case, without padding (what `otpauth://` URIs carry).
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Either case; spaces and `=` padding ignored; nil for any other character.
    public static func decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.uppercased().utf8 where character != UInt8(ascii: " ") && character != UInt8(ascii: "=") {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = buffer << 5 | UInt32(value)
            bits += 5
            if bits >= 8 {
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
                bits -= 8
            }
        }
        return output
    }
}

/// Single-use recovery codes, for a lost phone: ten at enrolment, shown once.
///
/// 16 base32 characters each (80 random bits), written `xxxx-xxxx-xxxx-xxxx`. They are stored as
/// a plain SHA-256 (like refresh tokens): with 80 bits there is no dictionary to try, so a slow
/// KDF would buy nothing but cost on every use, and a stolen table cannot be reversed.
public enum RecoveryCode {
    public static let count = 10
    static let length = 16

    public static func generate() -> [String] {
        (0..<count).map { _ in
            var generator = SystemRandomNumberGenerator()
            let characters = (0..<length).map { _ in Base32.alphabet[Int.random(in: 0..<32, using: &generator)] }
            let text = String(decoding: characters, as: UTF8.self).lowercased()
            return stride(from: 0, to: length, by: 4).map { offset in
                String(text.dropFirst(offset).prefix(4))
            }.joined(separator: "-")
        }
    }

    /// What is hashed: lower case, without the dashes and spaces people type in.
    public static func normalize(_ code: String) -> String {
        String(code.lowercased().unicodeScalars.filter { $0 != "-" && $0 != " " })
    }
}
