import MalhaCore
public import MalhaIdentity
public import MalhaOpenAPI

// What identity's OpenAPI document says of its wire types beyond what their decoders show: the
// bounds of `AccountRules` and of the handlers' own checks, taken from the same constants.

/// Patterns shared by identity's schemas (regex classes written out: `\s` and `\p{…}` mean
/// different things, or nothing, to ECMA-262 and to Python's `re`).
enum IdentitySchemas {
    static let whitespace = TextPattern.whitespace
    /// `CharacterSet.controlCharacters` (Cc and Cf) in the Basic Multilingual Plane.
    static let control =
        #"\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F"#
        + #"\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB"#
    /// `AccountRules.nameProblem` finds nothing: not blank once trimmed, and no control character
    /// between the first and the last non-blank one.
    static let name = "^[\(whitespace)]*[^\(whitespace)\(control)](?:[^\(control)]*[^\(whitespace)\(control)])?[\(whitespace)]*$"

    static let roles = JSONSchema.enumeration(Role.assignable.sorted(), description: "A role an administrator may grant")
    /// `AccountRules.scopeProblem`'s scope token.
    static let scope = JSONSchema.string(length: 1...64, pattern: "^[a-z0-9:._-]{1,64}$")
}

extension RegisterRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A new account (role customer)"),
        .property(
            "email", .format(.email), .maxLength(AccountRules.maxEmailLength),
            .description("Trimmed and lower-cased; one account per address (409 email_taken)")),
        .property(
            "password",
            .schema(
                JSONSchema.string(
                    format: .password, minLength: AccountRules.minPasswordLength, maxLength: AccountRules.maxPasswordLength,
                    description: "\(AccountRules.minPasswordLength) to \(AccountRules.maxPasswordLength) characters "
                        + "(Unicode code points; any script), no control characters, and not a common password "
                        + "(in any case)"
                ).excluding(
                    .anyOf([
                        .string(pattern: CommonPasswords.pattern), .string(pattern: AccountRules.controlCharacterPattern),
                    ])))),
        .property(
            "name", .length(1...AccountRules.maxNameLength), .pattern(IdentitySchemas.name),
            .description("Trimmed; at most \(AccountRules.maxNameLength) characters, no control characters")),
    ]
}

extension LoginRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "email", .maxLength(LoginRequest.maxFieldLength),
            .description("At most \(LoginRequest.maxFieldLength) characters (code points)")),
        .property(
            "password", .format(.password), .maxLength(LoginRequest.maxFieldLength),
            .description("At most \(LoginRequest.maxFieldLength) characters (code points)")),
    ]
}

extension RefreshRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "refresh_token", .maxLength(RefreshRequest.maxTokenLength),
            .description("The refresh token of the last pair (at most \(RefreshRequest.maxTokenLength) characters)"))
    ]
}

extension RolesRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "roles", .schema(.array(of: IdentitySchemas.roles, minItems: 1, maxItems: 20)),
            .description("The user's roles from now on (they replace the old ones)"))
    ]
}

extension CreateClientRequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A service client (OAuth client credentials)"),
        .property(
            "name", .length(1...AccountRules.maxNameLength), .pattern(IdentitySchemas.name),
            .description("Trimmed; at most \(AccountRules.maxNameLength) characters, no control characters")),
        .property(
            "scopes", .schema(.array(of: IdentitySchemas.scope, maxItems: 50)),
            .description("What its tokens may be scoped to (1 to 64 of a-z, 0-9, ':', '.', '_', '-' each)")),
        .property(
            "roles", .schema(JSONSchema.array(of: IdentitySchemas.roles, maxItems: 20).nullable()),
            .description("Roles its tokens carry; absent, null or empty: none")),
    ]
}

extension UserResponse: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("User"),
        .property("id", .format(.uuid)),
        .property("email", .format(.email)),
        .property("roles", .schema(.array(of: .string(minLength: 1))), .description("Sorted")),
    ]
}

extension TokenPair: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("An access token (ES256 JWT) and the refresh token that replaces it"),
        .property("token_type", .values("Bearer")),
        .property("expires_in", .minimum(1), .description("Seconds the access token is valid")),
        .property("refresh_token", .description("Opaque; valid once (a reuse revokes its family)")),
    ]
}

extension ClientTokenResponse: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("An OAuth 2.0 access token response (RFC 6749 §5.1)"),
        .property("token_type", .values("Bearer")),
        .property("expires_in", .minimum(1)),
        .property("scope", .description("The granted scopes, space-separated (may be empty)")),
    ]
}

extension CreatedClient: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("client_id", .format(.uuid)),
        .property("client_secret", .description("Shown this once; only its hash is kept")),
        .property("scopes", .schema(.array(of: IdentitySchemas.scope)), .description("Sorted, without duplicates")),
        .property("roles", .schema(.array(of: IdentitySchemas.roles)), .description("Sorted, without duplicates")),
    ]
}

extension RotatedKey: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("kid", .description("The new current key's id, as the JWKS lists it"))
    ]
}

extension OpenIDConfiguration: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("OpenID Connect discovery metadata (the subset Malha implements)"),
        .property("jwks_uri", .format(.uri)),
        .property("token_endpoint", .format(.uri)),
        .property("userinfo_endpoint", .format(.uri)),
    ]
}

extension OAuthTokenRequest: OpenAPISchemaProviding {
    /// Stated rather than derived: `parse` reads the form (or JSON object) by hand, and a JSON
    /// member of any name that is not a string is refused (422), which a derived schema cannot say.
    static var openAPISchema: JSONSchema {
        .object(
            [
                .init(
                    "grant_type",
                    .enumeration(
                        ["client_credentials"], description: "Required; anything else is 400 unsupported_grant_type")),
                .init(
                    "client_id",
                    .string(maxLength: 64, description: "Without HTTP Basic: the client id (a longer one is 401)")),
                .init(
                    "client_secret",
                    .string(maxLength: 512, description: "Without HTTP Basic: the client secret (a longer one is 401)")),
                .init(
                    "scope",
                    .string(
                        description: "Space-separated scopes, a subset of the client's (400 invalid_scope); absent: "
                            + "all of them")),
            ], required: ["grant_type"], additionalProperties: .schema(.init(.string())),
            description: "RFC 6749 §4.4 client credentials grant; HTTP Basic credentials override client_id and "
                + "client_secret")
    }

    static var openAPIComponentName: String? { "OAuthTokenRequest" }
}

extension JWKSDocument: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("JWKS"),
        .description("RFC 7517 JSON Web Key Set: the current signing key and the previous one"),
        .property("keys", .items(0...KeyRing.publishedGenerations)),
    ]
}

extension PublicJWK: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("JWK"),
        .description("A P-256 public key that verifies ES256 access tokens"),
        .property("kty", .values("EC")),
        .property("crv", .values("P-256")),
        .property("x", .pattern("^[A-Za-z0-9_-]+$"), .description("base64url, no padding")),
        .property("y", .pattern("^[A-Za-z0-9_-]+$"), .description("base64url, no padding")),
        .property("kid", .description("Named by the kid header of the tokens it verifies")),
        .property("alg", .required, .nonNull, .values("ES256")),
        .property("use", .required, .nonNull, .values("sig")),
    ]
}

extension MFAEnrolment: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A pending TOTP factor (RFC 6238: HMAC-SHA1, 6 digits, 30 s), to confirm with a first code"),
        .property(
            "secret", .pattern("^[A-Z2-7]+$"), .description("The shared secret, base32 without padding (160 bits)")),
        .property(
            "otpauth_uri", .pattern("^otpauth://totp/"),
            .description("otpauth://totp/Malha:<email>?secret=…&issuer=Malha (for a QR code)")),
    ]
}

extension ConfirmMFARequest: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "code", .maxLength(ConfirmMFARequest.maxCodeLength),
            .description("The authenticator's current 6-digit code"))
    ]
}

extension RecoveryCodes: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "recovery_codes",
            .schema(
                .array(
                    of: .string(pattern: "^[a-z2-7]{4}(-[a-z2-7]{4}){3}$"), minItems: RecoveryCode.count,
                    maxItems: RecoveryCode.count)),
            .description("Each logs in once instead of a code; only their hashes are kept"))
    ]
}

extension MFAChallenge: OpenAPISchemaAnnotating {
    static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("The password was right; the second step is due (no token yet)"),
        .property("mfa_required", .schema(.constant(true))),
        .property(
            "mfa_token",
            .description(
                "Opaque, for POST /v1/auth/login/mfa; single use, burnt by \(IdentityRoutes.challengeAttempts) wrong codes")),
        .property("expires_in", .minimum(1), .description("Seconds the mfa_token is valid")),
    ]
}

extension LoginMFARequest: OpenAPISchemaProviding {
    /// Stated: exactly one of `code` and `recovery_code` (the decoder takes both as optional).
    static var openAPISchema: JSONSchema {
        let token = JSONSchema.Property(
            "mfa_token", .string(maxLength: RefreshRequest.maxTokenLength, description: "The first step's mfa_token"))
        let code = JSONSchema.Property(
            "code", .string(maxLength: ConfirmMFARequest.maxCodeLength, description: "The authenticator's 6-digit code"))
        let recovery = JSONSchema.Property(
            "recovery_code",
            .string(maxLength: ConfirmMFARequest.maxCodeLength, description: "An unused recovery code (dashes optional)"))
        // Both members bounded whichever is given, and exactly one of them required: a `oneOf` of
        // whole objects would let the other member through unchecked.
        var schema = JSONSchema.object(
            [token, code, recovery], required: ["mfa_token"],
            description: "The second step: the mfa_token and either a TOTP code or a recovery code")
        schema.oneOf = [.object([], required: ["code"]), .object([], required: ["recovery_code"])]
        return schema
    }

    static var openAPIComponentName: String? { "LoginMFARequest" }
}
