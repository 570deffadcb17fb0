import Foundation
public import Hummingbird
import NIOCore

/// Decodes JSON request bodies and turns every way that can fail into a 4xx problem:
/// too large → 413, not JSON → 415, malformed → 400 `malformed_json`, wrong shape → 422 with the field path.
public struct MalhaRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        if let contentType = request.headers[.contentType], !Self.isJSON(contentType) {
            throw Problem.notJSON
        }
        return try Self.decode(type, from: try await request.collectBody(upTo: context.maxUploadSize))
    }

    /// Decodes `buffer`, mapping `DecodingError` to problems.
    public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        guard buffer.readableBytes > 0 else {
            throw Problem.badRequest("malformed_json", "the request body is empty; a JSON object was expected")
        }
        let data = Data(buffer.readableBytesView)
        do {
            return try JSONCoding.decoder.decode(type, from: data)
        } catch DecodingError.dataCorrupted(let context)
            where context.codingPath.isEmpty
            && (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil
        {
            // Foundation reports a number that does not fit its field (10.5 or 1e30 for an
            // integer) as corrupt data with no path; the JSON itself is fine, so this is a 422.
            throw Problem.validation(
                field: "body",
                "a number does not fit its field (a fraction or an out-of-range value where an integer is expected)")
        } catch let error as DecodingError {
            throw problem(for: error)
        } catch let problem as Problem {
            throw problem
        }
    }

    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return mediaType == "application/json" || mediaType.hasSuffix("+json")
    }

    static func problem(for error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey], appending key: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (key.map { [$0] } ?? [])
            let rendered = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return rendered.isEmpty ? "body" : rendered.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .badRequest("malformed_json", "the request body is not valid JSON")
        case .dataCorrupted(let context):
            return .validation(field: path(context.codingPath), context.debugDescription)
        case .keyNotFound(let key, let context):
            return .validation(field: path(context.codingPath, appending: key), "is required")
        case .valueNotFound(_, let context):
            return .validation(field: path(context.codingPath), "must not be null")
        case .typeMismatch(let expected, let context):
            return .validation(field: path(context.codingPath), "must be \(typeName(expected))")
        @unknown default:
            return .badRequest("malformed_json", "the request body could not be decoded")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        default:
            String(describing: type).hasPrefix("Array")
                ? "an array" : (String(describing: type).hasPrefix("Dictionary") ? "an object" : "of type \(type)")
        }
    }
}

extension Request {
    /// The whole body, at most `limit` bytes: beyond, 413 `payload_too_large`. A body whose
    /// framing cannot be parsed (a bad chunk size, a transfer coding other than chunked) is the
    /// client's error too, but not a size: 400 `malformed_body` (RFC 9112 §6.3, §7.1). The
    /// server closes that connection after the answer, so nothing after it is read as a request.
    public func collectBody(upTo limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, code: "payload_too_large", detail: "the request body exceeds \(limit) bytes")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Problem.badRequest("malformed_body", "the request body's framing is not valid HTTP/1.1")
        }
    }

    /// A JSON body that may be absent: nil when there is none (or it is empty); otherwise it must
    /// be JSON (415) and is decoded as every body is (`MalhaRequestDecoder`).
    public func decodeIfPresent<Body: Decodable>(as type: Body.Type, context: some RequestContext) async throws -> Body? {
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return nil }
        if let contentType = headers[.contentType], !MalhaRequestDecoder.isJSON(contentType) {
            throw Problem.notJSON
        }
        return try MalhaRequestDecoder.decode(type, from: buffer)
    }
}
