public import Foundation
public import HummingbirdTesting
public import MalhaHTTP
public import MalhaOpenAPI

extension TestResponse {
    /// The body as `type`, read with the services' own JSON conventions (snake_case keys spelled
    /// out, dates with milliseconds).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONCoding.decoder.decode(type, from: Data(body.readableBytesView))
    }

    /// The body as a problem+json document, when it is one.
    public var problem: ProblemBody? { try? decode(ProblemBody.self) }
}
