/// A type that states its schema instead of having it derived from its `init(from:)`.
///
/// Consulted before derivation. Needed by types whose decoder accepts more than their schema
/// should promise (``AmountInput``-style inputs that take any JSON value and let rules judge it),
/// and by types the ``SchemaRegistry`` cannot derive (see ``SchemaDerivationError``).
public protocol OpenAPISchemaProviding {
    /// The schema documented for this type.
    static var openAPISchema: JSONSchema { get }
    /// The component the schema is registered under; nil (the default) writes it inline.
    static var openAPIComponentName: String? { get }
    /// A value the derivation hands to the initializer of a type holding this one. Nil (the
    /// default): made by running this type's `init(from:)` on placeholders, which a type whose
    /// decoder refuses anything but well-formed input (a policy string) cannot survive.
    static var openAPIPlaceholder: Self? { get }
}

extension OpenAPISchemaProviding {
    public static var openAPIComponentName: String? { nil }
    public static var openAPIPlaceholder: Self? { nil }
}

/// A type whose derived schema is refined rather than re-declared: bounds, enums, descriptions
/// and requiredness added to named properties, a description or a component name for the type.
///
/// Every property named must exist in the derived schema, so a renamed `CodingKey` breaks the
/// derivation (and its test) instead of leaving a stale annotation behind.
public protocol OpenAPISchemaAnnotating {
    static var openAPIAnnotations: [SchemaAnnotation] { get }
}

/// One refinement of a derived schema.
public struct SchemaAnnotation: Sendable {
    enum Kind: Sendable {
        case description(String)
        case componentName(String)
        case property(String, [PropertyChange])
    }

    let kind: Kind

    /// The type's description.
    public static func description(_ text: String) -> SchemaAnnotation { .init(kind: .description(text)) }

    /// The component name, instead of the one made from the Swift type's name.
    public static func componentName(_ name: String) -> SchemaAnnotation { .init(kind: .componentName(name)) }

    /// Changes to the property whose wire name (its `CodingKey` string) is `key`.
    public static func property(_ key: String, _ changes: PropertyChange...) -> SchemaAnnotation {
        .init(kind: .property(key, changes))
    }
}

/// A change to one property of a derived object schema.
public struct PropertyChange: Sendable {
    enum Kind: Sendable {
        case required(Bool)
        case nullable(Bool)
        case replace(JSONSchema)
        case documentedAs(SchemaSource)
        case description(String)
        case minimum(JSONValue)
        case maximum(JSONValue)
        case bounds(JSONValue, JSONValue)
        case length(Int, Int)
        case itemCount(Int, Int)
        case minLength(Int)
        case maxLength(Int)
        case pattern(String)
        case format(JSONSchema.Format)
        case enumValues([JSONValue])
        case minItems(Int)
        case maxItems(Int)
        case defaultValue(JSONValue)
        case example(JSONValue)
        case deprecated
    }

    let kind: Kind

    /// Must be present (the decoder reads it as optional so the rules can name it when missing).
    public static let required = PropertyChange(kind: .required(true))
    /// May be absent.
    public static let optional = PropertyChange(kind: .required(false))
    /// `null` is not accepted.
    public static let nonNull = PropertyChange(kind: .nullable(false))
    /// `null` is accepted.
    public static let nullable = PropertyChange(kind: .nullable(true))
    public static let deprecated = PropertyChange(kind: .deprecated)

    /// The property is documented as exactly `schema`; its Swift type is not derived at all
    /// (how a field read through a permissive input type gets the schema its rules enforce).
    public static func schema(_ schema: JSONSchema) -> PropertyChange { .init(kind: .replace(schema)) }

    /// The property is documented as `type`'s schema (e.g. a `String?` the rules check against an
    /// enum), registered as a component like any derived type.
    public static func documented<T: Decodable>(as type: T.Type) -> PropertyChange {
        .init(kind: .documentedAs(.derived(type)))
    }

    public static func description(_ text: String) -> PropertyChange { .init(kind: .description(text)) }
    public static func minimum(_ value: Int64) -> PropertyChange { .init(kind: .minimum(.integer(value))) }
    public static func maximum(_ value: Int64) -> PropertyChange { .init(kind: .maximum(.integer(value))) }

    /// An integer or number bound, both ends inclusive.
    public static func range(_ range: ClosedRange<Int64>) -> PropertyChange {
        .init(kind: .bounds(.integer(range.lowerBound), .integer(range.upperBound)))
    }

    public static func numberRange(_ range: ClosedRange<Double>) -> PropertyChange {
        .init(kind: .bounds(.number(range.lowerBound), .number(range.upperBound)))
    }

    public static func minLength(_ value: Int) -> PropertyChange { .init(kind: .minLength(value)) }
    public static func maxLength(_ value: Int) -> PropertyChange { .init(kind: .maxLength(value)) }

    /// A string length, both ends inclusive (counted in Unicode code points).
    public static func length(_ range: ClosedRange<Int>) -> PropertyChange {
        .init(kind: .length(range.lowerBound, range.upperBound))
    }

    /// An ECMA-262 regular expression the string must match (unanchored, as JSON Schema says).
    public static func pattern(_ regex: String) -> PropertyChange { .init(kind: .pattern(regex)) }
    public static func format(_ format: JSONSchema.Format) -> PropertyChange { .init(kind: .format(format)) }

    /// One of these strings.
    public static func values(_ values: String...) -> PropertyChange { .init(kind: .enumValues(values.map(JSONValue.string))) }

    /// One of the raw values of `type`'s cases, written inline.
    public static func cases<E: CaseIterable & RawRepresentable>(_ type: E.Type) -> PropertyChange
    where E.RawValue == String {
        .init(kind: .enumValues(type.allCases.map { .string($0.rawValue) }))
    }

    public static func items(_ range: ClosedRange<Int>) -> PropertyChange {
        .init(kind: .itemCount(range.lowerBound, range.upperBound))
    }

    public static func defaultValue(_ value: JSONValue) -> PropertyChange { .init(kind: .defaultValue(value)) }
    public static func example(_ value: JSONValue) -> PropertyChange { .init(kind: .example(value)) }

    /// Whether the property's Swift type should not be derived (its schema is replaced).
    var replacesSchema: Bool {
        switch kind {
        case .replace, .documentedAs: true
        default: false
        }
    }
}
