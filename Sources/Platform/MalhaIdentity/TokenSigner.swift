import Foundation
public import Hummingbird
public import JWTKit
import MalhaHTTP
import NIOCore

/// An ES256 signing key with its key id, as the identity service persists and rotates them.
public struct SigningKey: Sendable {
    public var kid: String
    public var privateKey: ES256PrivateKey
    public var createdAt: Date

    public init(kid: String, privateKey: ES256PrivateKey, createdAt: Date) {
        self.kid = kid
        self.privateKey = privateKey
        self.createdAt = createdAt
    }

    /// A fresh P-256 key with a random key id.
    public static func generate(at date: Date = Date()) -> SigningKey {
        SigningKey(kid: UUID().uuidString.lowercased(), privateKey: ES256PrivateKey(), createdAt: date)
    }

    /// The public half as a JWK, `alg` and `use` always published (see NOTES: jwt-kit builds a
    /// signer for whatever `alg` a token names when a JWK has none).
    public var publicJWK: PublicJWK {
        let parameters = privateKey.publicKey.parameters!
        return PublicJWK(kty: "EC", crv: "P-256", x: parameters.x, y: parameters.y, kid: kid, alg: "ES256", use: "sig")
    }
}

/// One public key of a JWKS document.
public struct PublicJWK: Codable, Sendable, Equatable {
    public var kty: String
    public var crv: String
    public var x: String
    public var y: String
    public var kid: String
    public var alg: String?
    public var use: String?
}

public struct JWKSDocument: Codable, Sendable, Equatable {
    public var keys: [PublicJWK]
    public init(keys: [PublicJWK]) { self.keys = keys }

    /// The document as served (identity's token keys, every signing service's event keys): JSON,
    /// cacheable for a minute, which bounds how long a new key waits to be seen.
    public var response: Response {
        get throws {
            let data = try JSONCoding.encoder.encode(self)
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=60"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}

/// Signs access tokens with one key. Holds a key collection containing that key alone.
public struct TokenSigner: Sendable {
    public let key: SigningKey
    private let keys: JWTKeyCollection

    public init(key: SigningKey) async {
        self.key = key
        keys = await JWTKeyCollection().add(ecdsa: key.privateKey, kid: JWKIdentifier(string: key.kid))
    }

    public func sign(_ claims: AccessTokenClaims) async throws -> String {
        var header = JWTHeader()
        // RFC 9068: an access token says so, and verifiers require it (no other JWT passes as one).
        header.typ = "at+jwt"
        return try await keys.sign(claims, kid: JWKIdentifier(string: key.kid), header: header)
    }
}
