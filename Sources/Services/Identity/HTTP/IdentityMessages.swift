import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP

// Request and response bodies of the identity API. Wire names are snake_case, spelled out.

struct RegisterRequest: Decodable {
    var email: String
    var password: String
    var name: String
}

struct LoginRequest: Decodable {
    /// In Unicode scalars, as JSON Schema's `maxLength` counts: a bound on work, not a rule (any
    /// password that could have been registered fits).
    static let maxFieldLength = 1024

    var email: String
    var password: String
}

struct RefreshRequest: Decodable {
    /// In Unicode scalars, as JSON Schema's `maxLength` counts (our tokens are 43 ASCII characters).
    static let maxTokenLength = 512

    var refreshToken: String
    enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }
}

struct RolesRequest: Decodable {
    var roles: [String]
}

struct CreateClientRequest: Decodable {
    var name: String
    var scopes: [String]
    var roles: [String]?
}

struct UserResponse: ResponseEncodable, Decodable, Equatable {
    var id: String
    var email: String
    var name: String
    var roles: [String]

    init(_ user: User) {
        id = user.id
        email = user.email
        name = user.name
        roles = user.roles.sorted()
    }
}

struct TokenPair: ResponseEncodable, Decodable {
    var accessToken: String
    var tokenType = "Bearer"
    var expiresIn: Int
    var refreshToken: String
    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
    }
}

struct ClientTokenResponse: ResponseEncodable, Decodable {
    var accessToken: String
    var tokenType = "Bearer"
    var expiresIn: Int
    var scope: String
    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case scope
    }
}

struct CreatedClient: ResponseEncodable, Decodable {
    var clientID: String
    var clientSecret: String
    var name: String
    var scopes: [String]
    var roles: [String]
    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case clientSecret = "client_secret"
        case name, scopes, roles
    }
}

struct RotatedKey: ResponseEncodable, Decodable {
    var kid: String
}

struct OpenIDConfiguration: ResponseEncodable, Decodable {
    var issuer: String
    var jwksURI: String
    var tokenEndpoint: String
    var userinfoEndpoint: String
    /// Only what exists: the token endpoint grants client credentials and nothing else (people
    /// log in at /v1/auth/login, which is not an OAuth grant), and there is no authorization
    /// endpoint, so no response type; no ID tokens either, so no ID-token algorithm.
    var grantTypesSupported = ["client_credentials"]
    var tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post"]
    var responseTypesSupported: [String] = []
    var subjectTypesSupported = ["public"]
    var claimsSupported = ["sub", "roles", "scope", "iss", "aud", "exp", "iat", "jti", "amr"]

    enum CodingKeys: String, CodingKey {
        case issuer
        case jwksURI = "jwks_uri"
        case tokenEndpoint = "token_endpoint"
        case userinfoEndpoint = "userinfo_endpoint"
        case grantTypesSupported = "grant_types_supported"
        case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        case responseTypesSupported = "response_types_supported"
        case subjectTypesSupported = "subject_types_supported"
        case claimsSupported = "claims_supported"
    }
}

extension AccountRefusal: ProblemConvertible {
    var problem: Problem {
        switch self {
        case .emailTaken: .conflict("email_taken", "an account with this email already exists")
        }
    }
}

// MARK: MFA

/// `POST /v1/auth/mfa/enrolment`: the secret to put in an authenticator app, shown once.
struct MFAEnrolment: ResponseEncodable, Decodable {
    var secret: String
    var otpauthURI: String
    enum CodingKeys: String, CodingKey {
        case secret
        case otpauthURI = "otpauth_uri"
    }
}

/// `POST /v1/auth/mfa/enrolment/confirm`.
struct ConfirmMFARequest: Decodable {
    static let maxCodeLength = 64
    var code: String
}

/// The answer to a confirmed enrolment: the recovery codes, shown this once.
struct RecoveryCodes: ResponseEncodable, Decodable {
    var recoveryCodes: [String]
    enum CodingKeys: String, CodingKey { case recoveryCodes = "recovery_codes" }
}

/// The first step's answer for an account with MFA: no token yet, a challenge for the second step.
struct MFAChallenge: ResponseEncodable, Decodable {
    var mfaRequired = true
    var mfaToken: String
    var expiresIn: Int
    enum CodingKeys: String, CodingKey {
        case mfaRequired = "mfa_required"
        case mfaToken = "mfa_token"
        case expiresIn = "expires_in"
    }
}

/// `POST /v1/auth/login`'s answer: the tokens, or (MFA active) the challenge for the second step.
enum LoginAnswer: ResponseEncodable {
    case tokens(TokenPair)
    case challenge(MFAChallenge)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .tokens(let pair): try pair.encode(to: encoder)
        case .challenge(let challenge): try challenge.encode(to: encoder)
        }
    }
}

/// `POST /v1/auth/login/mfa`: the challenge and one proof, a TOTP code or a recovery code.
struct LoginMFARequest: Decodable {
    var mfaToken: String
    var code: String?
    var recoveryCode: String?
    enum CodingKeys: String, CodingKey {
        case mfaToken = "mfa_token"
        case code
        case recoveryCode = "recovery_code"
    }
}
