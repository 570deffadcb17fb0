import Foundation

/// The state of one derivation: the registry being filled, the limits, the first failure.
///
/// Lives only for one ``SchemaRegistry/schema(for:)`` call, on one thread, so it is a plain
/// class; nothing of it escapes but the registry, which is `Sendable`.
final class DerivationContext {
    /// More decoding calls than any real type makes: an initializer that loops on the decoder.
    static let callLimit = 10_000
    static let depthLimit = 32

    var registry: SchemaRegistry
    /// Kept as well as thrown: an initializer that decodes with `try?` swallows what is thrown
    /// at it, and must not turn a failure into a wrong schema.
    private(set) var failure: SchemaDerivationError?
    private var calls = 0
    /// Component names being derived, innermost last (where messages say a failure happened).
    private var typeStack: [String] = []
    /// > 0 while a value is made only to be handed back to an initializer: nothing is recorded
    /// or registered then, and a type that tries several shapes is no error.
    private var sandbox = 0
    private var sandboxTypes: [ObjectIdentifier] = []
    private var placeholders: [ObjectIdentifier: Any] = [:]

    init(registry: SchemaRegistry) {
        self.registry = registry
    }

    // MARK: Failures and limits

    /// Records `reason` (the first failure wins) and returns it to be thrown.
    func fail(
        _ reason: SchemaDerivationError.Reason, type: String? = nil, codingPath: [any CodingKey]
    )
        -> SchemaDerivationError
    {
        let error = SchemaDerivationError(
            type: type ?? typeStack.last ?? "?", path: codingPath.isEmpty ? "" : Self.describe(codingPath, in: typeStack.first),
            reason: reason)
        if failure == nil { failure = error }
        return failure ?? error
    }

    /// Counts one decoding call; throws once over the limit or after any failure.
    func charge(_ codingPath: [any CodingKey]) throws {
        if let failure { throw failure }
        calls += 1
        if calls > Self.callLimit { throw fail(.tooManyDecodingCalls(Self.callLimit), codingPath: codingPath) }
    }

    static func describe(_ codingPath: [any CodingKey], in root: String?) -> String {
        var text = root ?? ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text
    }

    // MARK: Resolving a type

    /// The schema documenting `T` (a reference for named types) and, when `needsValue`, a value
    /// of `T` to hand back to the initializer that asked.
    func resolve<T: Decodable>(_ type: T.Type, codingPath: [any CodingKey], needsValue: Bool) throws -> (JSONSchema, T?) {
        if let failure { throw failure }
        if sandbox > 0 {
            return (.any, needsValue ? try sandboxValue(T.self, codingPath: codingPath) : nil)
        }
        if let provider = T.self as? any OpenAPISchemaProviding.Type {
            let schema = try provided(provider, codingPath: codingPath)
            guard needsValue else { return (schema, nil) }
            if let given = provider.openAPIPlaceholder as? T { return (schema, given) }
            return (schema, try placeholder(T.self, codingPath: codingPath))
        }
        if let scalar = Scalar.of(T.self) {
            return (scalar.schema, scalar.value as? T)
        }
        if let optional = T.self as? any OptionalProbe.Type {
            let inner = try resolveSchema(optional.wrappedType, codingPath: codingPath)
            return (inner.nullable(), optional.absent as? T)
        }
        if let sequence = T.self as? any SequenceProbe.Type {
            let element = try resolveSchema(sequence.elementType, codingPath: codingPath)
            return (.array(of: element, uniqueItems: sequence.uniqueElements ? true : nil), sequence.empty as? T)
        }
        if let dictionary = T.self as? any DictionaryProbe.Type {
            let values = try resolveSchema(dictionary.valueType, codingPath: codingPath)
            var schema = JSONSchema.dictionary(of: values)
            switch dictionary.keyType {
            case is String.Type:
                break
            case is Int.Type:
                schema.propertyNames = .init(.string(pattern: "^-?[0-9]+$"))
            default:
                throw fail(
                    .unsupportedDictionaryKey(String(describing: dictionary.keyType)),
                    type: String(describing: T.self), codingPath: codingPath)
            }
            return (schema, dictionary.empty as? T)
        }
        if let enumeration = T.self as? any (CaseIterable & RawRepresentable).Type,
            let cases = EnumCases.of(enumeration)
        {
            return try resolveEnum(T.self, cases, codingPath: codingPath)
        }
        return try resolveComposite(T.self, codingPath: codingPath, needsValue: needsValue)
    }

    /// `resolve` for a type known only as an existential (an optional's wrapped type, an
    /// array's element type), where only the schema is wanted.
    private func resolveSchema(_ type: any Decodable.Type, codingPath: [any CodingKey]) throws -> JSONSchema {
        func open<T: Decodable>(_ type: T.Type) throws -> JSONSchema {
            try resolve(type, codingPath: codingPath, needsValue: false).0
        }
        return try open(type)
    }

    /// A value of `T` for an initializer, made by running `T`'s own initializer in the sandbox
    /// (so an ``OpenAPISchemaProviding`` type such as `AmountInput` still yields a real value).
    func placeholder<T: Decodable>(_ type: T.Type, codingPath: [any CodingKey]) throws -> T {
        if let cached = placeholders[ObjectIdentifier(T.self)] as? T { return cached }
        sandbox += 1
        defer { sandbox -= 1 }
        let value = try sandboxValue(T.self, codingPath: codingPath)
        placeholders[ObjectIdentifier(T.self)] = value
        return value
    }

    private func sandboxValue<T: Decodable>(_ type: T.Type, codingPath: [any CodingKey]) throws -> T {
        if let scalar = Scalar.of(T.self), let value = scalar.value as? T { return value }
        if let optional = T.self as? any OptionalProbe.Type, let value = optional.absent as? T { return value }
        if let sequence = T.self as? any SequenceProbe.Type, let value = sequence.empty as? T { return value }
        if let dictionary = T.self as? any DictionaryProbe.Type, let value = dictionary.empty as? T { return value }
        if let enumeration = T.self as? any (CaseIterable & RawRepresentable).Type,
            let value = EnumCases.of(enumeration)?.first as? T
        {
            return value
        }
        let id = ObjectIdentifier(T.self)
        guard !sandboxTypes.contains(id) else {
            throw fail(.recursiveValue, type: String(describing: T.self), codingPath: codingPath)
        }
        guard sandboxTypes.count < Self.depthLimit else {
            throw fail(.tooDeep(Self.depthLimit), type: String(describing: T.self), codingPath: codingPath)
        }
        sandboxTypes.append(id)
        defer { sandboxTypes.removeLast() }
        let decoder = SchemaDecoder(context: self, node: ValueNode(), codingPath: codingPath)
        do {
            return try T(from: decoder)
        } catch {
            if let failure { throw failure }
            throw fail(
                .initializerThrew(String(describing: error)), type: String(describing: T.self), codingPath: codingPath)
        }
    }

    private func provided(_ provider: any OpenAPISchemaProviding.Type, codingPath: [any CodingKey]) throws -> JSONSchema {
        let schema = provider.openAPISchema
        guard let name = provider.openAPIComponentName else { return schema }
        do {
            try registry.register(schema, as: name)
        } catch {
            throw fail(.nameTaken(name), type: String(describing: provider), codingPath: codingPath)
        }
        return .reference(name)
    }

    private func resolveEnum<T: Decodable>(
        _ type: T.Type, _ cases: EnumCases, codingPath: [any CodingKey]
    ) throws
        -> (JSONSchema, T?)
    {
        guard let first = cases.first as? T else {
            throw fail(.noCases, type: String(describing: T.self), codingPath: codingPath)
        }
        if let name = registry.name(for: T.self) { return (.reference(name), first) }
        let annotations = Self.annotations(of: T.self)
        let name = try reserve(T.self, annotations, codingPath: codingPath)
        var schema = JSONSchema.typed(cases.type)
        schema.enumValues = cases.values
        schema = try apply(annotations, to: schema, typeName: name, codingPath: codingPath)
        registry.complete(name, schema)
        return (.reference(name), first)
    }

    /// A struct or class (or an enum that is not a plain raw-value one): its initializer is run
    /// and what it asked for becomes the component.
    private func resolveComposite<T: Decodable>(
        _ type: T.Type, codingPath: [any CodingKey], needsValue: Bool
    ) throws
        -> (JSONSchema, T?)
    {
        if let name = registry.name(for: T.self) {
            if registry.isPending(name) {
                // A type that contains itself: the reference is enough, a value cannot exist.
                guard !needsValue else { throw fail(.recursiveValue, type: name, codingPath: codingPath) }
                return (.reference(name), nil)
            }
            return (.reference(name), needsValue ? try placeholder(T.self, codingPath: codingPath) : nil)
        }
        guard typeStack.count < Self.depthLimit else {
            throw fail(.tooDeep(Self.depthLimit), type: String(describing: T.self), codingPath: codingPath)
        }
        let annotations = Self.annotations(of: T.self)
        let name = try reserve(T.self, annotations, codingPath: codingPath)
        typeStack.append(name)
        defer { typeStack.removeLast() }
        var replaced = Set<String>()
        for annotation in annotations {
            if case .property(let key, let changes) = annotation.kind, changes.contains(where: \.replacesSchema) {
                replaced.insert(key)
            }
        }
        let node = ValueNode(replacedKeys: replaced)
        let value: T
        do {
            value = try T(from: SchemaDecoder(context: self, node: node, codingPath: codingPath))
        } catch {
            if let failure { throw failure }
            throw fail(.initializerThrew(String(describing: error)), type: name, codingPath: codingPath)
        }
        if let failure { throw failure }
        var schema = try self.schema(of: node, codingPath: codingPath)
        schema = try apply(annotations, to: schema, typeName: name, codingPath: codingPath)
        registry.complete(name, schema)
        placeholders[ObjectIdentifier(T.self)] = value
        return (.reference(name), value)
    }

    private func reserve(
        _ type: Any.Type, _ annotations: [SchemaAnnotation], codingPath: [any CodingKey]
    ) throws
        -> String
    {
        var preferred: String?
        for annotation in annotations {
            if case .componentName(let name) = annotation.kind { preferred = name }
        }
        do {
            return try registry.reserve(type, preferred: preferred)
        } catch {
            throw fail(.nameTaken(preferred ?? ""), type: String(describing: type), codingPath: codingPath)
        }
    }

    private static func annotations(of type: Any.Type) -> [SchemaAnnotation] {
        (type as? any OpenAPISchemaAnnotating.Type)?.openAPIAnnotations ?? []
    }

    // MARK: From records to a schema

    /// The schema of what one initializer asked for.
    func schema(of node: ValueNode, codingPath: [any CodingKey]) throws -> JSONSchema {
        if node.kinds.count > 1 { throw fail(.ambiguousContainer(tried: node.kinds), codingPath: codingPath) }
        switch node.shape {
        case .unknown:
            // Asked for nothing: any JSON value decodes.
            return .any
        case .keyed(let record):
            var properties: [JSONSchema.Property] = []
            var required: [String] = []
            for key in record.order {
                guard let property = record.properties[key] else { continue }
                let path = codingPath + [AnyKey(key)]
                var schema: JSONSchema
                if node.replacedKeys.contains(key) {
                    schema = .any  // the annotation puts the real one here
                } else {
                    var candidates = property.attempts
                    for nested in property.nested {
                        candidates.append(
                            Attempt(label: "nested container", schema: try self.schema(of: nested, codingPath: path)))
                    }
                    schema = try single(candidates, codingPath: path) { tried in .ambiguousProperty(key: key, tried: tried) }
                    if property.nullable { schema = schema.nullable() }
                }
                if property.readAsRequired && !property.probed { required.append(key) }
                properties.append(.init(key, schema))
            }
            return .object(properties, required: required)
        case .unkeyed(let record):
            var candidates = record.attempts
            for nested in record.nested {
                candidates.append(Attempt(label: "nested container", schema: try schema(of: nested, codingPath: codingPath)))
            }
            guard !candidates.isEmpty else { return .typed(.array) }
            var items = try single(candidates, codingPath: codingPath) { .ambiguousValue(tried: $0) }
            if record.nullable { items = items.nullable() }
            return .array(of: items)
        case .single(let record):
            if record.attempts.isEmpty { return record.nilProbed ? .null : .any }
            let tried = (record.nilProbed ? ["nil"] : []) + record.attempts.map(\.label)
            let schema = try single(record.attempts, codingPath: codingPath) { _ in .ambiguousValue(tried: tried) }
            return record.nilProbed ? schema.nullable() : schema
        }
    }

    /// The one schema several reads agree on, or the ambiguity `reason` makes of them.
    private func single(
        _ attempts: [Attempt], codingPath: [any CodingKey],
        _ reason: ([String]) -> SchemaDerivationError.Reason
    ) throws -> JSONSchema {
        guard let first = attempts.first else { return .any }
        if attempts.allSatisfy({ $0.schema == first.schema }) { return first.schema }
        var labels: [String] = []
        for attempt in attempts where !labels.contains(attempt.label) { labels.append(attempt.label) }
        throw fail(reason(labels), codingPath: codingPath)
    }

    // MARK: Annotations

    func apply(
        _ annotations: [SchemaAnnotation], to derived: JSONSchema, typeName: String, codingPath: [any CodingKey]
    ) throws -> JSONSchema {
        var schema = derived
        for annotation in annotations {
            switch annotation.kind {
            case .description(let text):
                schema.description = text
            case .componentName:
                break
            case .property(let key, let changes):
                guard var properties = schema.properties else {
                    throw fail(.annotatedPropertiesOfNonObject, type: typeName, codingPath: codingPath)
                }
                guard let index = properties.firstIndex(where: { $0.name == key }) else {
                    throw fail(.unknownAnnotatedProperty(key), type: typeName, codingPath: codingPath)
                }
                var required = Set(schema.required)
                for change in changes {
                    try apply(change, to: &properties[index].schema, required: &required, key: key)
                }
                schema.properties = properties
                schema.required = properties.map(\.name).filter(required.contains)
            }
        }
        return schema
    }

    private func apply(
        _ change: PropertyChange, to schema: inout JSONSchema, required: inout Set<String>, key: String
    )
        throws
    {
        switch change.kind {
        case .required(let isRequired):
            if isRequired { required.insert(key) } else { required.remove(key) }
        case .nullable(let isNullable):
            schema = isNullable ? schema.nullable() : schema.nonNull()
        case .replace(let replacement):
            schema = replacement
        case .documentedAs(let source):
            schema = try source.resolve(in: &registry)
        case .description(let text):
            schema.description = text
        case .minimum(let value):
            schema.minimum = value
        case .maximum(let value):
            schema.maximum = value
        case .bounds(let low, let high):
            schema.minimum = low
            schema.maximum = high
        case .minLength(let value):
            schema.minLength = value
        case .maxLength(let value):
            schema.maxLength = value
        case .length(let low, let high):
            schema.minLength = low
            schema.maxLength = high
        case .pattern(let regex):
            schema.pattern = regex
        case .format(let format):
            schema.format = format
        case .enumValues(let values):
            // A nullable property keeps accepting null: `enum` would otherwise refuse it.
            schema.enumValues = schema.acceptsNull && !values.contains(.null) ? values + [.null] : values
        case .minItems(let value):
            schema.minItems = value
        case .maxItems(let value):
            schema.maxItems = value
        case .itemCount(let low, let high):
            schema.minItems = low
            schema.maxItems = high
        case .defaultValue(let value):
            schema.defaultValue = value
        case .example(let value):
            schema.examples = (schema.examples ?? []) + [value]
        case .deprecated:
            schema.deprecated = true
        }
    }
}

// MARK: - Scalars

/// The types JSON carries as one value, with the schema Malha's coders give them and the value
/// handed back for them.
struct Scalar {
    var schema: JSONSchema
    var value: Any

    static func of(_ type: Any.Type) -> Scalar? {
        switch type {
        case is String.Type: Scalar(schema: .string(), value: "x")
        case is Bool.Type: Scalar(schema: .boolean, value: false)
        // Int and Int64 need no bounds: any integer a client sends that large is refused anyway.
        case is Int.Type: Scalar(schema: .integer(format: .int64), value: 1 as Int)
        case is Int64.Type: Scalar(schema: .integer(format: .int64), value: 1 as Int64)
        case is Int32.Type: Scalar(schema: .integer(Int64(Int32.min)...Int64(Int32.max), format: .int32), value: 1 as Int32)
        case is Int16.Type: Scalar(schema: .integer(Int64(Int16.min)...Int64(Int16.max)), value: 1 as Int16)
        case is Int8.Type: Scalar(schema: .integer(Int64(Int8.min)...Int64(Int8.max)), value: 1 as Int8)
        case is UInt.Type: Scalar(schema: .integer(minimum: 0), value: 1 as UInt)
        case is UInt64.Type: Scalar(schema: .integer(minimum: 0), value: 1 as UInt64)
        case is UInt32.Type: Scalar(schema: .integer(0...Int64(UInt32.max)), value: 1 as UInt32)
        case is UInt16.Type: Scalar(schema: .integer(0...Int64(UInt16.max)), value: 1 as UInt16)
        case is UInt8.Type: Scalar(schema: .integer(0...Int64(UInt8.max)), value: 1 as UInt8)
        case is Double.Type: Scalar(schema: .number(format: .double), value: 1 as Double)
        case is Float.Type: Scalar(schema: .number(format: .float), value: 1 as Float)
        // Foundation's own Decodable forms (a keyed Decimal, a Double Date) are not what
        // JSONDecoder with Malha's strategies reads: these are special-cased like JSONDecoder does.
        case is Decimal.Type: Scalar(schema: .number(), value: Decimal(1))
        case is Date.Type: Scalar(schema: .string(format: .dateTime), value: Date(timeIntervalSince1970: 0))
        case is UUID.Type:
            Scalar(schema: .string(format: .uuid), value: UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0)))
        case is URL.Type:
            URL(string: "https://example.com").map { Scalar(schema: .string(format: .uri), value: $0) }
        case is Data.Type:
            Scalar(
                schema: {
                    var schema = JSONSchema.string()
                    schema.contentEncoding = "base64"
                    return schema
                }(), value: Data())
        default: nil
        }
    }
}

// MARK: - Probes

// Conditional conformances let a metatype be asked "are you an array of something decodable?"
// at run time, without a value and without running the collection's own initializer.

protocol OptionalProbe {
    static var wrappedType: any Decodable.Type { get }
    static var absent: Self { get }
}

extension Optional: OptionalProbe where Wrapped: Decodable {
    static var wrappedType: any Decodable.Type { Wrapped.self }
    static var absent: Self { nil }
}

protocol SequenceProbe {
    static var elementType: any Decodable.Type { get }
    static var empty: Self { get }
    static var uniqueElements: Bool { get }
}

extension Array: SequenceProbe where Element: Decodable {
    static var elementType: any Decodable.Type { Element.self }
    static var empty: Self { [] }
    static var uniqueElements: Bool { false }
}

extension ContiguousArray: SequenceProbe where Element: Decodable {
    static var elementType: any Decodable.Type { Element.self }
    static var empty: Self { [] }
    static var uniqueElements: Bool { false }
}

extension Set: SequenceProbe where Element: Decodable {
    static var elementType: any Decodable.Type { Element.self }
    static var empty: Self { [] }
    static var uniqueElements: Bool { true }
}

protocol DictionaryProbe {
    static var keyType: Any.Type { get }
    static var valueType: any Decodable.Type { get }
    static var empty: Self { get }
}

extension Dictionary: DictionaryProbe where Key: Decodable, Value: Decodable {
    static var keyType: Any.Type { Key.self }
    static var valueType: any Decodable.Type { Value.self }
    static var empty: Self { [:] }
}

/// The raw values of a `CaseIterable` raw-value enum, when they are strings or integers.
struct EnumCases {
    var type: JSONSchema.JSONType
    var values: [JSONValue]
    var first: Any?

    static func of(_ enumeration: any (CaseIterable & RawRepresentable).Type) -> EnumCases? {
        func open<E: CaseIterable & RawRepresentable>(_ type: E.Type) -> EnumCases? {
            var values: [JSONValue] = []
            var kind = JSONSchema.JSONType.string
            for item in type.allCases {
                switch item.rawValue as Any {
                case let text as String:
                    values.append(.string(text))
                case let number as Int:
                    kind = .integer
                    values.append(.integer(Int64(number)))
                default:
                    return nil
                }
            }
            return EnumCases(type: kind, values: values, first: type.allCases.first)
        }
        return open(enumeration)
    }
}
