import Foundation
import Hummingbird
import MalhaHTTP

/// The token endpoint's parameters, read from `application/x-www-form-urlencoded` (RFC 6749 §4.4)
/// or JSON, with client credentials from HTTP Basic or the body.
///
/// `Decodable` only so that the OpenAPI document can name it (its schema is stated, in
/// IdentitySchemas.swift): `parse` reads both media types by hand.
struct OAuthTokenRequest: Sendable, Decodable {
    var grantType: String?
    var clientID: String?
    var clientSecret: String?
    var scope: String?

    enum CodingKeys: String, CodingKey {
        case scope
        case grantType = "grant_type"
        case clientID = "client_id"
        case clientSecret = "client_secret"
    }

    static func oauthError(_ status: HTTPResponse.Status, _ code: String, _ detail: String) -> Problem {
        var headers = HTTPFields()
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Basic realm="malha""# }
        return Problem(status, code: code, detail: detail, headers: headers)
    }

    static func parse(_ request: Request, context: some MalhaRequestContext) async throws -> OAuthTokenRequest {
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        let mediaType =
            (request.headers[.contentType] ?? "").split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        var fields: [String: String]
        switch mediaType {
        case "application/x-www-form-urlencoded":
            guard let parsed = formFields(String(buffer: buffer)) else {
                throw oauthError(.badRequest, "invalid_request", "the form body is not valid URL encoding")
            }
            fields = parsed
        case "application/json":
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
                throw Problem.badRequest("malformed_json", "the request body is not a JSON object")
            }
            fields = [:]
            for (key, value) in object {
                guard let string = value as? String else {
                    throw Problem.validation(field: key, "must be a string")
                }
                fields[key] = string
            }
        default:
            throw Problem(
                .unsupportedMediaType, code: "unsupported_media_type",
                detail: "send application/x-www-form-urlencoded or application/json")
        }
        var result = OAuthTokenRequest(
            grantType: fields["grant_type"], clientID: fields["client_id"], clientSecret: fields["client_secret"],
            scope: fields["scope"])
        if let authorization = request.headers[.authorization] {
            guard let (id, secret) = basicCredentials(authorization) else {
                throw oauthError(
                    .unauthorized, "invalid_client", "the Authorization header must be HTTP Basic client credentials")
            }
            result.clientID = id
            result.clientSecret = secret
        }
        return result
    }

    /// Parses `a=1&b=x+y`; nil on bad percent-encoding. The first occurrence of a key wins.
    static func formFields(_ body: String) -> [String: String]? {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? {
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let key = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
            if fields[key] == nil { fields[key] = value }
        }
        return fields
    }

    /// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
    static func basicCredentials(_ header: String) -> (String, String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let decoded = String(data: data, encoding: .utf8)
        else { return nil }
        let pair = decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard pair.count == 2, let id = String(pair[0]).removingPercentEncoding,
            let secret = String(pair[1]).removingPercentEncoding
        else { return nil }
        return (id, secret)
    }
}
