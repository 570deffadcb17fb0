/// Who is calling: the verified claims of an access token, as every service sees them.
public struct Principal: Sendable, Hashable, Codable {
    /// The subject: a user id, or `client:<id>` for a service account.
    public var subject: String
    public var roles: Set<String>
    public var scopes: Set<String>
    /// The token id (`jti`), for audit logs.
    public var tokenID: String?
    /// How the person proved who they are (the token's `amr`, RFC 8176): `pwd` for a password,
    /// `otp` for a one-time code (TOTP or a recovery code) on top of it. Empty for a service client.
    public var authenticationMethods: Set<String>

    public init(
        subject: String, roles: Set<String>, scopes: Set<String> = [], tokenID: String? = nil,
        authenticationMethods: Set<String> = []
    ) {
        self.subject = subject
        self.roles = roles
        self.scopes = scopes
        self.tokenID = tokenID
        self.authenticationMethods = authenticationMethods
    }

    public func has(role: String) -> Bool { roles.contains(role) }
    public var isAdmin: Bool { roles.contains(Role.admin) }
    /// A service account's token (client credentials), not a person's.
    public var isServiceClient: Bool { subject.hasPrefix(Self.clientPrefix) }
    /// What a service account's subject starts with.
    public static let clientPrefix = "client:"
    /// Whether the token was issued after a second factor (`amr` holds `otp`), not a password alone.
    public var hasSecondFactor: Bool { authenticationMethods.contains(AuthenticationMethod.oneTimePassword) }
}

/// `amr` values (RFC 8176 §2) Malha's tokens carry.
public enum AuthenticationMethod {
    /// A password.
    public static let password = "pwd"
    /// A one-time password: a TOTP code (RFC 6238) or a single-use recovery code.
    public static let oneTimePassword = "otp"
    /// After the password alone.
    public static let passwordOnly: [String] = [password]
    /// After the password and a second factor.
    public static let passwordAndOneTimePassword: [String] = [password, oneTimePassword]
}

/// Role names known to the platform. Roles are plain strings so that a domain can add its own
/// (finance, courier, operator…) without touching this list.
public enum Role {
    public static let customer = "customer"
    public static let admin = "admin"
    public static let finance = "finance"
    public static let courier = "courier"
    public static let operator_ = "operator"
    /// Roles an administrator may grant through the identity API.
    public static let assignable: Set<String> = [customer, admin, finance, courier, operator_]
}
