import Foundation
import MalhaCore

/// A user account as the domain sees it (the password hash never leaves Persistence/HTTP internals).
public struct User: Sendable, Hashable {
    public var id: String
    public var email: String
    public var name: String
    public var roles: Set<String>
    public var createdAt: Date

    public init(id: String, email: String, name: String, roles: Set<String>, createdAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.roles = roles
        self.createdAt = createdAt
    }
}

/// Field rules for accounts: pure functions returning the field errors they find.
public enum AccountRules {
    public static let maxEmailLength = 254
    /// Password lengths count Unicode scalars, as JSON Schema's `minLength`/`maxLength` do. There
    /// is no byte bound: bcrypt reads only 72 bytes, so longer passwords are pre-hashed
    /// (`BcryptInput`); the maximum only bounds the work of a request.
    public static let minPasswordLength = 12
    public static let maxPasswordLength = 128
    public static let maxNameLength = 100

    /// Trims and lowercases: `Ana@Example.COM ` and `ana@example.com` are one account.
    public static func normalizeEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// A pragmatic check (RFC 5321 lengths, one `@`, a dotted domain, no spaces or control
    /// characters); the real proof of an address is a confirmation mail, not a regex.
    public static func emailProblem(_ normalized: String) -> String? {
        if normalized.isEmpty { return "is required" }
        if normalized.utf8.count > maxEmailLength { return "must be at most \(maxEmailLength) characters" }
        let parts = normalized.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "must be an email address" }
        let local = parts[0]
        let domain = parts[1]
        let forbidden = CharacterSet.whitespacesAndNewlines.union(.controlCharacters).union(
            CharacterSet(charactersIn: "<>()[],;:\\\""))
        guard (1...64).contains(local.utf8.count), (3...253).contains(domain.utf8.count),
            !normalized.unicodeScalars.contains(where: { forbidden.contains($0) }),
            domain.contains("."), !domain.hasPrefix("."), !domain.hasSuffix("."), !domain.contains(".."),
            !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..")
        else { return "must be an email address" }
        return nil
    }

    public static func passwordProblem(_ password: String) -> String? {
        let length = password.unicodeScalars.count
        if length < minPasswordLength { return "must be at least \(minPasswordLength) characters" }
        if length > maxPasswordLength { return "must be at most \(maxPasswordLength) characters" }
        if hasControlCharacter(password) { return "must not contain control characters" }
        if CommonPasswords.contains(password) { return "is too common; choose another" }
        return nil
    }

    /// Control characters (Unicode category Cc: U+0000–U+001F, U+007F–U+009F) are refused in
    /// passwords: bcrypt stops at a NUL, so "\0abc" and "\0xyz" would be one password, and none of
    /// them can be typed anyway. `controlCharacterPattern` says the same in the document.
    public static func hasControlCharacter(_ password: String) -> Bool {
        password.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    public static let controlCharacterPattern = "[\\u0000-\\u001F\\u007F-\\u009F]"

    public static func nameProblem(_ name: String) -> String? {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "is required" }
        if trimmed.count > maxNameLength { return "must be at most \(maxNameLength) characters" }
        if trimmed.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) {
            return "must not contain control characters"
        }
        return nil
    }

    /// Roles an administrator may grant: a non-empty subset of `Role.assignable`.
    public static func rolesProblem(_ roles: [String]) -> String? {
        if roles.isEmpty { return "must name at least one role" }
        if roles.count > 20 { return "at most 20 roles" }
        let unknown = Set(roles).subtracting(Role.assignable)
        if !unknown.isEmpty {
            return
                "unknown roles: \(unknown.sorted().joined(separator: ", ")); allowed: \(Role.assignable.sorted().joined(separator: ", "))"
        }
        return nil
    }

    /// OAuth scope tokens: 1–64 of `a-z 0-9 : . _ -`.
    public static func scopeProblem(_ scopes: [String]) -> String? {
        if scopes.count > 50 { return "at most 50 scopes" }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789:._-")
        for scope in scopes
        where scope.isEmpty || scope.count > 64 || scope.unicodeScalars.contains(where: { !allowed.contains($0) }) {
            return "'\(scope.prefix(64))' is not a scope (1 to 64 of a-z, 0-9, ':', '.', '_', '-')"
        }
        return nil
    }
}

/// What identity refuses about an account.
enum AccountRefusal: Error, Hashable {
    /// An account with this e-mail already exists.
    case emailTaken
}
