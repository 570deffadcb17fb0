public import Foundation
public import HTTPTypes
public import HummingbirdTesting
import MalhaCore
import MalhaHTTP
public import MalhaOpenAPI

/// A service's document checked against what its handlers really send: tests encode or receive a
/// value and ask what in it breaks the documented schema (empty: it conforms).
extension OpenAPIDocument {
    /// What breaks component `component` in `value`, encoded as the services encode.
    public func violations(of value: some Encodable, against component: String) throws -> [String] {
        validator.violations(of: try JSONValue.encoding(value, with: JSONCoding.encoder), against: .reference(component))
    }

    /// What breaks component `component` in a response's JSON body.
    public func violations(of response: TestResponse, against component: String) throws -> [String] {
        let body = try JSONCoding.decoder.decode(JSONValue.self, from: Data(response.body.readableBytesView))
        return validator.violations(of: body, against: .reference(component))
    }

    /// What in `response` the document does not say `method template` answers: its status, its
    /// content type, or its body against that status's schema.
    public func violations(of response: TestResponse, to method: HTTPRequest.Method, _ template: String) -> [String] {
        guard
            let operation = operations.first(where: { $0.method.rawValue.uppercased() == method.rawValue && $0.path == template })
        else { return ["\(method) \(template) is not documented"] }
        guard let documented = operation.responses.first(where: { $0.status == Int(response.status.code) }) else {
            return ["status \(response.status.code) is not documented"]
        }
        guard let content = documented.content.first else {
            return response.body.readableBytes == 0 ? [] : ["status \(response.status.code) has an undocumented body"]
        }
        let mediaType = response.headers[.contentType]?.split(separator: ";").first.map(String.init)
        guard mediaType == content.mediaType, let schema = content.schema.literal else {
            return ["content type \(mediaType ?? "none") is not \(content.mediaType)"]
        }
        do {
            let body = try JSONDecoder().decode(JSONValue.self, from: Data(response.body.readableBytesView))
            return validator.violations(of: body, against: schema)
        } catch {
            return ["the body is not JSON: \(error)"]
        }
    }
}
