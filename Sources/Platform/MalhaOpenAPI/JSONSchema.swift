/// The subset of JSON Schema 2020-12 that OpenAPI 3.1 documents use.
///
/// A struct of optional keywords rather than an enum of shapes: derivation and annotations refine
/// a schema keyword by keyword (add a bound, a description, `null`), which an enum would make
/// a rebuild each time. Rendering writes exactly the keywords that are set.
public struct JSONSchema: Sendable, Hashable {
    /// A JSON Schema `type` name.
    public enum JSONType: String, Sendable, Hashable, CaseIterable {
        case string, integer, number, boolean, array, object, null
    }

    /// A `format` annotation; the common ones are constants, any other string is allowed.
    public struct Format: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }

        public static let dateTime: Format = "date-time"
        public static let date: Format = "date"
        public static let uuid: Format = "uuid"
        public static let email: Format = "email"
        public static let uri: Format = "uri"
        public static let uriReference: Format = "uri-reference"
        public static let int32: Format = "int32"
        public static let int64: Format = "int64"
        public static let float: Format = "float"
        public static let double: Format = "double"
        public static let password: Format = "password"
    }

    /// What `additionalProperties` says about members not listed in `properties`.
    public enum AdditionalProperties: Sendable, Hashable {
        case allowed(Bool)
        case schema(Indirect)
    }

    /// One member of `properties`, kept in declaration order (the docs page lists fields as the
    /// type declares them; JSON output is sorted anyway).
    public struct Property: Sendable, Hashable {
        public var name: String
        public var schema: JSONSchema
        public init(_ name: String, _ schema: JSONSchema) {
            self.name = name
            self.schema = schema
        }
    }

    /// A box that lets a schema hold a schema (`items`, `additionalProperties`).
    public final class Indirect: Sendable, Hashable {
        public let schema: JSONSchema
        public init(_ schema: JSONSchema) { self.schema = schema }
        public static func == (lhs: Indirect, rhs: Indirect) -> Bool { lhs.schema == rhs.schema }
        public func hash(into hasher: inout Hasher) { hasher.combine(schema) }
    }

    /// `$ref`, e.g. `#/components/schemas/LedgerEntry`.
    public var ref: String?
    /// Empty: any type. More than one (e.g. `["string", "null"]`): any of them.
    public var types: [JSONType] = []
    public var format: Format?
    public var title: String?
    public var description: String?
    public var properties: [Property]?
    public var required: [String] = []
    public var additionalProperties: AdditionalProperties?
    public var propertyNames: Indirect?
    private var itemsBox: Indirect?
    public var enumValues: [JSONValue]?
    public var constValue: JSONValue?
    public var minimum: JSONValue?
    public var maximum: JSONValue?
    public var exclusiveMinimum: JSONValue?
    public var exclusiveMaximum: JSONValue?
    public var minLength: Int?
    public var maxLength: Int?
    public var pattern: String?
    public var minItems: Int?
    public var maxItems: Int?
    public var uniqueItems: Bool?
    public var contentEncoding: String?
    public var oneOf: [JSONSchema]?
    public var anyOf: [JSONSchema]?
    public var allOf: [JSONSchema]?
    /// A value must not match this (`not`): a short blocklist, or "b only without a".
    public var not: Indirect?
    public var defaultValue: JSONValue?
    public var examples: [JSONValue]?
    public var deprecated: Bool?
    public var readOnly: Bool?

    /// The schema that accepts any JSON value (`{}`).
    public init() {}

    /// `items`: the schema of every element of an array.
    public var items: JSONSchema? {
        get { itemsBox?.schema }
        set { itemsBox = newValue.map(Indirect.init) }
    }

    /// The prefix every component reference has.
    public static let componentPrefix = "#/components/schemas/"
}

// MARK: - Building

extension JSONSchema {
    /// Accepts any JSON value.
    public static var any: JSONSchema { JSONSchema() }

    public static var null: JSONSchema { typed(.null) }

    public static var boolean: JSONSchema { typed(.boolean) }

    /// A reference to the component `name` (which the document must define).
    public static func reference(_ name: String) -> JSONSchema {
        var schema = JSONSchema()
        schema.ref = componentPrefix + name
        return schema
    }

    public static func string(
        format: Format? = nil, minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil,
        description: String? = nil
    ) -> JSONSchema {
        var schema = typed(.string)
        schema.format = format
        schema.minLength = minLength
        schema.maxLength = maxLength
        schema.pattern = pattern
        schema.description = description
        return schema
    }

    /// A string of `length` characters (Unicode code points, as JSON Schema counts).
    public static func string(length: ClosedRange<Int>, pattern: String? = nil, description: String? = nil) -> JSONSchema {
        .string(minLength: length.lowerBound, maxLength: length.upperBound, pattern: pattern, description: description)
    }

    public static func integer(
        _ range: ClosedRange<Int64>? = nil, format: Format? = nil, description: String? = nil
    ) -> JSONSchema {
        var schema = typed(.integer)
        schema.format = format
        schema.minimum = range.map { .integer($0.lowerBound) }
        schema.maximum = range.map { .integer($0.upperBound) }
        schema.description = description
        return schema
    }

    public static func integer(minimum: Int64, maximum: Int64? = nil, description: String? = nil) -> JSONSchema {
        var schema = typed(.integer)
        schema.minimum = .integer(minimum)
        schema.maximum = maximum.map(JSONValue.integer)
        schema.description = description
        return schema
    }

    public static func number(
        minimum: Double? = nil, maximum: Double? = nil, format: Format? = nil, description: String? = nil
    ) -> JSONSchema {
        var schema = typed(.number)
        schema.format = format
        schema.minimum = minimum.map(JSONValue.number)
        schema.maximum = maximum.map(JSONValue.number)
        schema.description = description
        return schema
    }

    public static func array(
        of items: JSONSchema, minItems: Int? = nil, maxItems: Int? = nil, uniqueItems: Bool? = nil,
        description: String? = nil
    ) -> JSONSchema {
        var schema = typed(.array)
        schema.items = items
        schema.minItems = minItems
        schema.maxItems = maxItems
        schema.uniqueItems = uniqueItems
        schema.description = description
        return schema
    }

    /// An object with `properties` (in this order) of which `required` must be present.
    /// `additionalProperties` is left unset (extra members allowed) unless given: Malha's
    /// decoders ignore unknown members, and the schema must not claim they are refused.
    public static func object(
        _ properties: [Property], required: [String] = [], additionalProperties: AdditionalProperties? = nil,
        description: String? = nil
    ) -> JSONSchema {
        var schema = typed(.object)
        schema.properties = properties
        schema.required = required
        schema.additionalProperties = additionalProperties
        schema.description = description
        return schema
    }

    /// A JSON object used as a map: any member names, every value `values`.
    public static func dictionary(of values: JSONSchema, description: String? = nil) -> JSONSchema {
        var schema = typed(.object)
        schema.additionalProperties = .schema(Indirect(values))
        schema.description = description
        return schema
    }

    /// One of these strings.
    public static func enumeration(_ values: [String], description: String? = nil) -> JSONSchema {
        var schema = typed(.string)
        schema.enumValues = values.map(JSONValue.string)
        schema.description = description
        return schema
    }

    /// This schema, refusing also whatever `excluded` accepts (`not`).
    public func excluding(_ excluded: JSONSchema) -> JSONSchema {
        var schema = self
        schema.not = Indirect(excluded)
        return schema
    }

    /// Exactly this value (`const`).
    public static func constant(_ value: JSONValue, description: String? = nil) -> JSONSchema {
        var schema = JSONSchema()
        schema.constValue = value
        schema.description = description
        return schema
    }

    public static func anyOf(_ schemas: [JSONSchema], description: String? = nil) -> JSONSchema {
        var schema = JSONSchema()
        schema.anyOf = schemas
        schema.description = description
        return schema
    }

    public static func oneOf(_ schemas: [JSONSchema], description: String? = nil) -> JSONSchema {
        var schema = JSONSchema()
        schema.oneOf = schemas
        schema.description = description
        return schema
    }

    static func typed(_ type: JSONType) -> JSONSchema {
        var schema = JSONSchema()
        schema.types = [type]
        return schema
    }
}

// MARK: - Refining

extension JSONSchema {
    /// The component name a `$ref` points at, when it points into `components.schemas`.
    public var referencedComponent: String? {
        guard let ref, ref.hasPrefix(Self.componentPrefix) else { return nil }
        return String(ref.dropFirst(Self.componentPrefix.count))
    }

    /// Whether `null` validates.
    public var acceptsNull: Bool {
        if types.contains(.null) { return true }
        if let anyOf, anyOf.contains(where: \.acceptsNull) { return true }
        if let oneOf, oneOf.contains(where: \.acceptsNull) { return true }
        return types.isEmpty && ref == nil && anyOf == nil && oneOf == nil && allOf == nil && enumValues == nil
            && constValue == nil
    }

    /// This schema, also accepting `null`.
    ///
    /// A typed schema gets `"null"` added to its `type` (and to its `enum`); a reference or a
    /// composition is wrapped in `anyOf: [it, {type: null}]` with the description moved outside,
    /// since `$ref` cannot carry a type.
    public func nullable() -> JSONSchema {
        if acceptsNull { return self }
        if !types.isEmpty && ref == nil {
            var schema = self
            schema.types.append(.null)
            if schema.enumValues != nil { schema.enumValues?.append(.null) }
            return schema
        }
        var inner = self
        inner.description = nil
        var wrapper = JSONSchema.anyOf([inner, .null])
        wrapper.description = description
        return wrapper
    }

    /// This schema without `null` (undoes `nullable()`).
    public func nonNull() -> JSONSchema {
        if types.contains(.null) {
            var schema = self
            schema.types.removeAll { $0 == .null }
            schema.enumValues?.removeAll { $0 == .null }
            return schema
        }
        if let anyOf, anyOf.count == 2, let other = anyOf.first(where: { $0 != .null }), anyOf.contains(.null) {
            var schema = other
            schema.description = description ?? other.description
            return schema
        }
        return self
    }

    /// The same schema with a `default` (what the server assumes when the value is absent).
    public func defaulting(_ value: JSONValue) -> JSONSchema {
        var schema = self
        schema.defaultValue = value
        return schema
    }

    /// The same schema with a description.
    public func described(_ text: String) -> JSONSchema {
        var schema = self
        schema.description = text
        return schema
    }

    /// Every `$ref` in this schema and the schemas inside it.
    public var references: Set<String> {
        var found = Set<String>()
        collectReferences(into: &found)
        return found
    }

    private func collectReferences(into found: inout Set<String>) {
        if let ref { found.insert(ref) }
        for child in children { child.collectReferences(into: &found) }
    }

    /// The schemas directly inside this one.
    var children: [JSONSchema] {
        var result: [JSONSchema] = []
        if let properties { result += properties.map(\.schema) }
        if let items { result.append(items) }
        if case .schema(let box) = additionalProperties { result.append(box.schema) }
        if let propertyNames { result.append(propertyNames.schema) }
        result += oneOf ?? []
        result += anyOf ?? []
        result += allOf ?? []
        if let not { result.append(not.schema) }
        return result
    }

    /// This schema with every component reference renamed by `rename` (a merge that
    /// disambiguates two services' components rewrites their references this way).
    public func renamingReferences(_ rename: (String) -> String) -> JSONSchema {
        var schema = self
        if let name = referencedComponent { schema.ref = Self.componentPrefix + rename(name) }
        schema.properties = properties?.map { Property($0.name, $0.schema.renamingReferences(rename)) }
        schema.items = items?.renamingReferences(rename)
        if case .schema(let box) = additionalProperties {
            schema.additionalProperties = .schema(Indirect(box.schema.renamingReferences(rename)))
        }
        schema.propertyNames = propertyNames.map { Indirect($0.schema.renamingReferences(rename)) }
        schema.oneOf = oneOf?.map { $0.renamingReferences(rename) }
        schema.anyOf = anyOf?.map { $0.renamingReferences(rename) }
        schema.allOf = allOf?.map { $0.renamingReferences(rename) }
        schema.not = not.map { Indirect($0.schema.renamingReferences(rename)) }
        return schema
    }

    /// The property `name`, if this is an object schema that lists it.
    public func property(_ name: String) -> JSONSchema? {
        properties?.first { $0.name == name }?.schema
    }
}

// MARK: - Rendering

extension JSONSchema: Encodable {
    /// The schema as JSON: exactly the keywords that are set.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [:]
        if let ref { members["$ref"] = .string(ref) }
        if types.count == 1, let only = types.first {
            members["type"] = .string(only.rawValue)
        } else if !types.isEmpty {
            members["type"] = .array(types.map { .string($0.rawValue) })
        }
        if let format { members["format"] = .string(format.rawValue) }
        if let title { members["title"] = .string(title) }
        if let description { members["description"] = .string(description) }
        if let properties {
            var rendered: [String: JSONValue] = [:]
            for property in properties { rendered[property.name] = property.schema.jsonValue }
            members["properties"] = .object(rendered)
        }
        if !required.isEmpty { members["required"] = .array(required.map(JSONValue.string)) }
        switch additionalProperties {
        case .allowed(let allowed): members["additionalProperties"] = .bool(allowed)
        case .schema(let box): members["additionalProperties"] = box.schema.jsonValue
        case nil: break
        }
        if let propertyNames { members["propertyNames"] = propertyNames.schema.jsonValue }
        if let items { members["items"] = items.jsonValue }
        if let enumValues { members["enum"] = .array(enumValues) }
        if let constValue { members["const"] = constValue }
        if let minimum { members["minimum"] = minimum }
        if let maximum { members["maximum"] = maximum }
        if let exclusiveMinimum { members["exclusiveMinimum"] = exclusiveMinimum }
        if let exclusiveMaximum { members["exclusiveMaximum"] = exclusiveMaximum }
        if let minLength { members["minLength"] = .integer(Int64(minLength)) }
        if let maxLength { members["maxLength"] = .integer(Int64(maxLength)) }
        if let pattern { members["pattern"] = .string(pattern) }
        if let minItems { members["minItems"] = .integer(Int64(minItems)) }
        if let maxItems { members["maxItems"] = .integer(Int64(maxItems)) }
        if let uniqueItems { members["uniqueItems"] = .bool(uniqueItems) }
        if let contentEncoding { members["contentEncoding"] = .string(contentEncoding) }
        if let oneOf { members["oneOf"] = .array(oneOf.map(\.jsonValue)) }
        if let not { members["not"] = not.schema.jsonValue }
        if let anyOf { members["anyOf"] = .array(anyOf.map(\.jsonValue)) }
        if let allOf { members["allOf"] = .array(allOf.map(\.jsonValue)) }
        if let defaultValue { members["default"] = defaultValue }
        if let examples { members["examples"] = .array(examples) }
        if let deprecated { members["deprecated"] = .bool(deprecated) }
        if let readOnly { members["readOnly"] = .bool(readOnly) }
        return .object(members)
    }

    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}
