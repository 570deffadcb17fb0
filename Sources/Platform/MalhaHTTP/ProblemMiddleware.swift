public import Hummingbird
import Logging

/// Turns every error into a problem+json response, so no route can answer with an empty 500.
///
/// Errors that are problems, or know their problem (`ProblemConvertible`: domain errors, store
/// failures), render as such; Hummingbird's own `HTTPError`s (unknown route, bad method, oversize
/// body) become problems with a stable code; anything else is an internal error. Every 5xx is
/// logged once here with the request id, and answered without internals.
public struct ProblemMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error)
            if problem.status.code >= 500, !(error is CancellationError) {
                // `reflecting`: PostgresNIO's errors hide their detail from `description`.
                let level: Logger.Level = problem.status == .internalServerError ? .error : .warning
                context.logger.log(
                    level: level, "request failed",
                    metadata: ["code": "\(problem.code)", "error": "\(String(reflecting: error))"])
            }
            return try problem.response(from: request, context: context)
        }
    }

    static func problem(for error: any Error) -> Problem {
        switch error {
        case let convertible as any ProblemConvertible:
            return convertible.problem
        case let httpError as HTTPError:
            return Problem(
                httpError.status, code: code(for: httpError.status), detail: httpError.body,
                headers: httpError.headers.filter { $0.name != .contentType && $0.name != .contentLength })
        case let decoding as DecodingError:
            return MalhaRequestDecoder.problem(for: decoding)
        case is CancellationError:
            return Problem(.serviceUnavailable, code: "shutting_down", detail: "the service is shutting down")
        default:
            return .internalError
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 408: "request_timeout"
        case 413: "payload_too_large"
        case 415: "unsupported_media_type"
        case 422: "validation_failed"
        case 429: "rate_limited"
        case 500..<600: "upstream_error"
        default: "http_\(status.code)"
        }
    }
}
