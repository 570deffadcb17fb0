import MalhaHTTP
import MalhaStore
import PostgresNIO
import SQLiteNIO

// A store failure that reaches a route is not the client's fault: it answers 503
// `service_unavailable` (with `Retry-After`) when the database may serve a retry, 500 otherwise —
// never a 4xx that would tell the client its request was wrong. `ProblemMiddleware` logs both
// with the request id; the body says nothing about the database.

extension Problem {
    /// 503 `service_unavailable`: the service's database cannot answer right now; retry shortly.
    public static let storeUnavailable: Problem = {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return Problem(
            .serviceUnavailable, code: "service_unavailable",
            detail: "the service cannot reach its database right now; retry shortly", headers: headers)
    }()

    /// 422 `unsupported_character`: a text holds a character the database cannot store (U+0000
    /// on PostgreSQL). The request, not the service, is at fault, and nothing was written.
    public static let unsupportedCharacter = Problem(
        .unprocessableContent, code: "unsupported_character",
        detail: "a text holds a character that cannot be stored (U+0000)")

    /// The problem a database error answers with.
    public static func store(_ error: any Error) -> Problem {
        if SQLErrors.isUnstorableText(error) { return .unsupportedCharacter }
        return SQLErrors.isUnavailable(error) ? .storeUnavailable : .internalError
    }
}

extension SQLiteError: ProblemConvertible {
    public var problem: Problem { .store(self) }
}

extension PSQLError: ProblemConvertible {
    public var problem: Problem { .store(self) }
}

/// A unique violation the code did not turn into a domain refusal is a defect, not a conflict.
extension StoreError: ProblemConvertible {
    public var problem: Problem { .internalError }
}
