import Foundation

/// Checks JSON values against schemas of this subset, resolving `$ref` in a registry.
///
/// For tests: what a handler encodes must be what the document promises, and what the document
/// promises a request may be must be what the decoder and the rules accept. Checking that here,
/// on values the tests make, catches before a fuzzer does (schemathesis'
/// `response_schema_conformance`, `negative_data_rejection`) a schema that drifted from its type.
/// `format` is checked for `date-time`, `date` and `uuid`, the formats Malha writes.
public struct SchemaValidator: Sendable {
    public var components: SchemaRegistry

    public init(components: SchemaRegistry) {
        self.components = components
    }

    /// Every way `value` breaks `schema`, each as "<JSON pointer>: <what>"; empty when it conforms.
    public func violations(of value: JSONValue, against schema: JSONSchema) -> [String] {
        var found: [String] = []
        check(value, schema, "", &found, depth: 0)
        return found
    }

    private func check(_ value: JSONValue, _ schema: JSONSchema, _ pointer: String, _ found: inout [String], depth: Int) {
        guard depth < 64 else {
            found.append("\(pointer): nested too deep")
            return
        }
        let at = pointer.isEmpty ? "/" : pointer
        if let ref = schema.ref {
            guard let name = schema.referencedComponent, let target = components[name] else {
                found.append("\(at): unresolvable $ref \(ref)")
                return
            }
            check(value, target, pointer, &found, depth: depth + 1)
        }
        if !schema.types.isEmpty && !schema.types.contains(where: { Self.matches(value, $0) }) {
            found.append("\(at): \(Self.typeName(value)) is not \(schema.types.map(\.rawValue).joined(separator: " or "))")
            return
        }
        if let values = schema.enumValues, !values.contains(where: { Self.equal($0, value) }) {
            found.append("\(at): \(value.serialized()) is not one of \(JSONValue.array(values).serialized())")
        }
        if let constant = schema.constValue, !Self.equal(constant, value) {
            found.append("\(at): \(value.serialized()) is not \(constant.serialized())")
        }
        switch value {
        case .object(let members):
            for key in schema.required where members[key] == nil { found.append("\(at): \(key) is required") }
            var listed = Set<String>()
            for property in schema.properties ?? [] {
                listed.insert(property.name)
                if let member = members[property.name] {
                    check(member, property.schema, pointer + "/" + Self.escape(property.name), &found, depth: depth + 1)
                }
            }
            for (key, member) in members where !listed.contains(key) {
                switch schema.additionalProperties {
                case .allowed(false): found.append("\(at): \(key) is not allowed")
                case .schema(let box): check(member, box.schema, pointer + "/" + Self.escape(key), &found, depth: depth + 1)
                default: break
                }
                if let names = schema.propertyNames {
                    check(.string(key), names.schema, pointer + "/" + Self.escape(key), &found, depth: depth + 1)
                }
            }
        case .array(let elements):
            if let minimum = schema.minItems, elements.count < minimum { found.append("\(at): fewer than \(minimum) items") }
            if let maximum = schema.maxItems, elements.count > maximum { found.append("\(at): more than \(maximum) items") }
            if schema.uniqueItems == true && Set(elements).count != elements.count { found.append("\(at): duplicate items") }
            if let items = schema.items {
                for (index, element) in elements.enumerated() {
                    check(element, items, pointer + "/\(index)", &found, depth: depth + 1)
                }
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minimum = schema.minLength, length < minimum { found.append("\(at): shorter than \(minimum)") }
            if let maximum = schema.maxLength, length > maximum { found.append("\(at): longer than \(maximum)") }
            if let pattern = schema.pattern {
                if let regex = try? NSRegularExpression(pattern: pattern) {
                    let range = NSRange(text.startIndex..., in: text)
                    if regex.firstMatch(in: text, range: range) == nil { found.append("\(at): does not match \(pattern)") }
                } else {
                    found.append("\(at): pattern \(pattern) does not compile")
                }
            }
            if let format = schema.format, !Self.conforms(text, to: format) {
                found.append("\(at): \(value.serialized()) is not a \(format.rawValue)")
            }
        case .integer, .number:
            guard let number = Self.double(value) else { break }
            if let minimum = schema.minimum.flatMap(Self.double), number < minimum { found.append("\(at): below \(minimum)") }
            if let maximum = schema.maximum.flatMap(Self.double), number > maximum { found.append("\(at): above \(maximum)") }
            if let minimum = schema.exclusiveMinimum.flatMap(Self.double), number <= minimum {
                found.append("\(at): not above \(minimum)")
            }
            if let maximum = schema.exclusiveMaximum.flatMap(Self.double), number >= maximum {
                found.append("\(at): not below \(maximum)")
            }
        case .null, .bool:
            break
        }
        if let all = schema.allOf {
            for part in all { check(value, part, pointer, &found, depth: depth + 1) }
        }
        if let any = schema.anyOf, !any.contains(where: { violations(of: value, against: $0, depth: depth).isEmpty }) {
            found.append("\(at): matches none of anyOf")
        }
        if let one = schema.oneOf {
            let matching = one.filter { violations(of: value, against: $0, depth: depth).isEmpty }.count
            if matching != 1 { found.append("\(at): matches \(matching) of oneOf, not exactly one") }
        }
        if let excluded = schema.not, violations(of: value, against: excluded.schema, depth: depth).isEmpty {
            found.append("\(at): matches what `not` excludes")
        }
    }

    private func violations(of value: JSONValue, against schema: JSONSchema, depth: Int) -> [String] {
        var found: [String] = []
        check(value, schema, "", &found, depth: depth + 1)
        return found
    }

    private static func matches(_ value: JSONValue, _ type: JSONSchema.JSONType) -> Bool {
        switch (type, value) {
        case (.null, .null), (.boolean, .bool), (.string, .string), (.array, .array), (.object, .object): true
        case (.integer, .integer), (.number, .integer), (.number, .number): true
        // JSON Schema: 10.0 is an integer.
        case (.integer, .number(let number)): number.rounded() == number
        default: false
        }
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        if let left = double(lhs), let right = double(rhs) { return left == right }
        return lhs == rhs
    }

    private static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let integer): Double(integer)
        case .number(let number): number
        default: nil
        }
    }

    private static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private static func conforms(_ text: String, to format: JSONSchema.Format) -> Bool {
        switch format {
        case .uuid:
            return UUID(uuidString: text) != nil
        case .date:
            return text.wholeMatch(of: #/[0-9]{4}-[0-9]{2}-[0-9]{2}/#) != nil
        case .dateTime:
            if (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) != nil { return true }
            return (try? Date.ISO8601FormatStyle().parse(text)) != nil
        default:
            return true
        }
    }
}

extension JSONValue {
    /// `value` as `encoder` writes it, read back as a tree.
    public static func encoding<T: Encodable>(_ value: T, with encoder: JSONEncoder = JSONEncoder()) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: encoder.encode(value))
    }
}

extension JSONValue: OpenAPISchemaProviding {
    /// Any JSON value (its decoder tries every kind, which derivation could not describe).
    public static var openAPISchema: JSONSchema { .any }
}

extension OpenAPIDocument {
    /// A validator for values against this document's schemas.
    public var validator: SchemaValidator { SchemaValidator(components: components) }
}
