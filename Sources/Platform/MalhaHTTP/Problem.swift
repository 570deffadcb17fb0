import Foundation
public import HTTPTypes
public import Hummingbird
public import MalhaOpenAPI

/// An RFC 9457 problem: the one error shape every Malha endpoint returns.
///
/// `code` is stable and machine-readable (`validation_failed`, `not_found`, …); `title` is fixed
/// per code; `detail` explains this occurrence. Field-level failures go in `errors`.
public struct Problem: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// One field that broke a rule, as the wire (and the documents) spell it.
    public typealias FieldError = ProblemBody.FieldError

    public var status: HTTPResponse.Status
    public var code: String
    public var title: String
    public var detail: String?
    public var errors: [FieldError]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        code: String,
        title: String? = nil,
        detail: String? = nil,
        errors: [FieldError] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(detail ?? title)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        let body = ProblemBody(
            type: "https://malha.dev/problems/\(code)",
            title: title,
            status: Int(status.code),
            code: code,
            detail: detail,
            instance: request.uri.path,
            errors: errors.isEmpty ? nil : errors
        )
        let data = try JSONCoding.encoder.encode(body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Problem {
    public static func badRequest(_ code: String = "bad_request", _ detail: String) -> Problem {
        Problem(.badRequest, code: code, detail: detail)
    }

    public static func validation(_ errors: [FieldError], detail: String? = nil) -> Problem {
        Problem(
            .unprocessableContent, code: "validation_failed", title: "Validation failed",
            detail: detail ?? errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: errors)
    }

    public static func validation(field: String, _ message: String) -> Problem {
        validation([FieldError(field: field, message: message)])
    }

    public static func notFound(_ what: String) -> Problem {
        Problem(.notFound, code: "not_found", title: "Not found", detail: "\(what) was not found")
    }

    public static func conflict(_ code: String, _ detail: String) -> Problem {
        Problem(.conflict, code: code, title: "Conflict", detail: detail)
    }

    /// 409 `idempotency_key_in_use`: the first request with this `Idempotency-Key` still runs.
    public static func idempotencyKeyInUse(_ what: String = "a request") -> Problem {
        conflict("idempotency_key_in_use", "\(what) with this Idempotency-Key is still running; retry shortly")
    }

    /// 422 `idempotency_key_reused`: this `Idempotency-Key` came with a different request before.
    public static let idempotencyKeyReused = Problem(
        .unprocessableContent, code: "idempotency_key_reused", detail: "this Idempotency-Key was used for a different request")

    /// 500 `internal_error`: the answer to anything unexpected, saying nothing about it.
    public static let internalError = Problem(
        .internalServerError, code: "internal_error", detail: "an unexpected error occurred")

    /// 415 `unsupported_media_type` for a body that is not JSON.
    public static let notJSON = Problem(
        .unsupportedMediaType, code: "unsupported_media_type", detail: "expected a JSON body (Content-Type: application/json)")

    public static func unauthorized(_ detail: String, challenge: String = "Bearer") -> Problem {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = challenge
        return Problem(.unauthorized, code: "unauthorized", title: "Unauthorized", detail: detail, headers: headers)
    }

    public static func forbidden(_ detail: String) -> Problem {
        Problem(.forbidden, code: "forbidden", title: "Forbidden", detail: detail)
    }

    public static func tooManyRequests(retryAfterSeconds: Int, detail: String) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = String(max(1, retryAfterSeconds))
        return Problem(.tooManyRequests, code: "rate_limited", title: "Too many requests", detail: detail, headers: headers)
    }
}

extension HTTPField.Name {
    /// The client's key for a request that must take effect once (`POST` that creates).
    public static let idempotencyKey = Self("Idempotency-Key")!
    /// On a response: this is the stored answer to an earlier request with the same key.
    public static let idempotentReplayed = Self("Idempotent-Replayed")!
}

extension Response {
    /// A JSON body already encoded (as an idempotency key keeps it), marked
    /// `Idempotent-Replayed: true` when it answers a repeated request.
    public static func storedJSON(status: HTTPResponse.Status, _ json: String, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
