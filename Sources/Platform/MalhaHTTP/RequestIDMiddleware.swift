import Foundation
import HTTPTypes
public import Hummingbird

extension HTTPField.Name {
    public static let requestID = Self("X-Request-ID")!
    public static let traceparent = Self("traceparent")!
    public static let tracestate = Self("tracestate")!
    public static let xForwardedFor = Self("X-Forwarded-For")!
    public static let xForwardedProto = Self("X-Forwarded-Proto")!
}

/// Accepts the caller's `X-Request-ID` (when it is a sane token) or makes one, puts it and the W3C
/// trace id on the request's logger, and echoes the request id on the response.
public struct RequestIDMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = request.headers[.requestID].flatMap(Self.acceptable) ?? UUID().uuidString.lowercased()
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        if let traceparent = request.headers[.traceparent], let trace = TraceParent(traceparent) {
            context.logger[metadataKey: "trace_id"] = .string(trace.traceID)
        }
        // ProblemMiddleware sits inside this one, so every outcome arrives here as a response.
        var response = try await next(request, context)
        response.headers[.requestID] = requestID
        return response
    }

    static func acceptable(_ value: String) -> String? {
        guard (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return value
    }
}

/// A parsed W3C `traceparent` header (version 00): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
public struct TraceParent: Sendable, Hashable {
    public var traceID: String
    public var parentID: String
    public var flags: String

    public init?(_ header: String) {
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) }),
            parts[0] != "ff", parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16)
        else { return nil }
        traceID = String(parts[1]).lowercased()
        parentID = String(parts[2]).lowercased()
        flags = String(parts[3])
    }
}
