import Foundation
public import JWTKit

/// The claims of a Malha access token (ES256 JWT, 15 minutes).
public struct AccessTokenClaims: JWTPayload, Equatable {
    public var sub: String
    public var roles: [String]
    /// Space-separated OAuth scopes (service accounts).
    public var scope: String?
    public var iss: String
    public var aud: Audience
    public var exp: Int64
    public var iat: Int64
    public var nbf: Int64?
    public var jti: String
    /// Authentication methods (RFC 8176): `["pwd"]` or `["pwd", "otp"]` for a person, absent for
    /// a service client.
    public var amr: [String]?

    public init(
        sub: String, roles: [String], scope: String? = nil, iss: String, aud: String, issuedAt: Date,
        lifetime: Duration, jti: String = UUID().uuidString.lowercased(), amr: [String]? = nil
    ) {
        self.sub = sub
        self.amr = amr
        self.roles = roles
        self.scope = scope
        self.iss = iss
        self.aud = Audience([aud])
        let iat = Int64(issuedAt.timeIntervalSince1970)
        self.iat = iat
        self.nbf = iat
        self.exp = iat + lifetime.secondsRoundedUp
        self.jti = jti
    }

    /// Signature checks happen in jwt-kit; time, issuer and audience in `AccessTokenVerifier`,
    /// which has the injected clock and the expected values.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// `aud` as a string or an array of strings (RFC 7519 allows both).
public struct Audience: Codable, Sendable, Equatable {
    public var values: [String]

    public init(_ values: [String]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(String.self) {
            values = [single]
        } else {
            values = try container.decode([String].self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if values.count == 1 { try container.encode(values[0]) } else { try container.encode(values) }
    }
}
