import Foundation

extension OpenAPIDocument {
    /// The OpenAPI 3.1.0 document as a JSON tree.
    public var jsonValue: JSONValue {
        var paths: [String: JSONValue] = [:]
        var usedSchemes = Set<String>()
        for operation in operations {
            var item = paths[operation.path]?.objectValue ?? [:]
            item[operation.method.rawValue] = Self.render(operation)
            paths[operation.path] = .object(item)
            for security in operation.security { usedSchemes.formUnion(security.schemes) }
        }
        var info: [String: JSONValue] = ["title": .string(title), "version": .string(version)]
        if let description { info["description"] = .string(description) }
        var schemas: [String: JSONValue] = [:]
        for name in components.names {
            if let schema = components[name] { schemas[name] = schema.jsonValue }
        }
        var securitySchemes: [String: JSONValue] = [:]
        for scheme in usedSchemes { securitySchemes[scheme] = Security.schemeObjects[scheme] }
        var componentsObject: [String: JSONValue] = ["schemas": .object(schemas)]
        if !securitySchemes.isEmpty { componentsObject["securitySchemes"] = .object(securitySchemes) }
        var document: [String: JSONValue] = [
            "openapi": "3.1.0",
            "info": .object(info),
            "paths": .object(paths),
            "components": .object(componentsObject),
            "tags": .array(tags.map { ["name": .string($0)] }),
        ]
        if !servers.isEmpty { document["servers"] = .array(servers.map { ["url": .string($0)] }) }
        return .object(document)
    }

    /// The document as `JSONSerialization` objects (what the first `OpenAPIDocument` returned).
    public func jsonObject() -> [String: Any] {
        jsonValue.foundationObject as? [String: Any] ?? [:]
    }

    /// UTF-8 JSON, keys sorted: the bytes `/openapi.json` serves (the same on every build).
    public func jsonBytes(pretty: Bool = false) -> [UInt8] {
        Array(jsonValue.serialized(pretty: pretty).utf8)
    }

    private static func render(_ operation: Operation) -> JSONValue {
        var object: [String: JSONValue] = [
            "operationId": .string(operation.operationID),
            "summary": .string(operation.summary),
            "tags": .array(operation.tags.map(JSONValue.string)),
            // Always written, `[]` on a public operation: a reader (and a fuzzer) need not
            // guess whether a missing `security` means "public" or "forgot".
            "security": .array(
                operation.security.map { requirement in
                    var schemes: [String: JSONValue] = [:]
                    for scheme in requirement.schemes { schemes[scheme] = .array([]) }
                    return .object(schemes)
                }),
            "x-malha-access": .string(operation.access.rawValue),
        ]
        if let description = operation.description { object["description"] = .string(description) }
        if operation.deprecated { object["deprecated"] = true }
        if !operation.parameters.isEmpty { object["parameters"] = .array(operation.parameters.map(render)) }
        if let body = operation.requestBody {
            var rendered: [String: JSONValue] = ["required": .bool(body.required), "content": render(body.content)]
            if let description = body.description { rendered["description"] = .string(description) }
            object["requestBody"] = .object(rendered)
        }
        var responses: [String: JSONValue] = [:]
        for response in operation.responses {
            var rendered: [String: JSONValue] = ["description": .string(response.description)]
            if !response.content.isEmpty { rendered["content"] = render(response.content) }
            if !response.headers.isEmpty {
                var headers: [String: JSONValue] = [:]
                for header in response.headers {
                    var item: [String: JSONValue] = [
                        "schema": header.schema.jsonValue, "description": .string(header.description),
                    ]
                    if header.required { item["required"] = true }
                    headers[header.name] = .object(item)
                }
                rendered["headers"] = .object(headers)
            }
            responses[String(response.status)] = .object(rendered)
        }
        object["responses"] = .object(responses)
        return .object(object)
    }

    private static func render(_ parameter: Parameter) -> JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(parameter.name),
            "in": .string(parameter.location.rawValue),
            "required": .bool(parameter.required),
            "schema": (parameter.schema.literal ?? .any).jsonValue,
        ]
        if let description = parameter.description { object["description"] = .string(description) }
        if parameter.deprecated { object["deprecated"] = true }
        return .object(object)
    }

    private static func render(_ content: [Content]) -> JSONValue {
        var object: [String: JSONValue] = [:]
        for item in content { object[item.mediaType] = ["schema": (item.schema.literal ?? .any).jsonValue] }
        return .object(object)
    }
}
