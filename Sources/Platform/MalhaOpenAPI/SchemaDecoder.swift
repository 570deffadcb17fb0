/// A `Decoder` that decodes no data: it runs a type's `init(from:)` and records what it asks for.
///
/// Each container call becomes part of a ``ValueNode``: `decode(_:forKey:)` a required property,
/// `decodeIfPresent(_:forKey:)` an optional (and nullable, as `JSONDecoder` takes `null` for
/// absent) one, `contains(_:)` makes the key optional, `decodeNil` makes it nullable. Each call
/// hands back a placeholder of the requested type (`"x"`, `1`, the first case of an enum, an
/// empty array, `nil` for optionals) so that the initializer runs to its end.
struct SchemaDecoder: Decoder {
    let context: DerivationContext
    let node: ValueNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try context.charge(codingPath)
        return KeyedDecodingContainer(
            SchemaKeyedContainer<Key>(context: context, record: node.keyed(), node: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try context.charge(codingPath)
        return SchemaUnkeyedContainer(context: context, record: node.unkeyed(), codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        try context.charge(codingPath)
        return SchemaSingleValueContainer(context: context, record: node.single(), codingPath: codingPath)
    }
}

// MARK: - Records

/// What one value's `init(from:)` asked for.
final class ValueNode {
    enum Shape {
        case unknown
        case keyed(KeyedRecord)
        case unkeyed(UnkeyedRecord)
        case single(SingleRecord)
    }

    private(set) var shape = Shape.unknown
    /// The container kinds asked for, in order: more than one is an ambiguity.
    private(set) var kinds: [String] = []
    /// Keys whose schema an annotation replaces: their types are not derived.
    let replacedKeys: Set<String>

    init(replacedKeys: Set<String> = []) {
        self.replacedKeys = replacedKeys
    }

    func keyed() -> KeyedRecord {
        note("keyed")
        if case .keyed(let record) = shape { return record }
        let record = KeyedRecord()
        if case .unknown = shape { shape = .keyed(record) }
        return record
    }

    func unkeyed() -> UnkeyedRecord {
        note("unkeyed")
        if case .unkeyed(let record) = shape { return record }
        let record = UnkeyedRecord()
        if case .unknown = shape { shape = .unkeyed(record) }
        return record
    }

    func single() -> SingleRecord {
        note("single-value")
        if case .single(let record) = shape { return record }
        let record = SingleRecord()
        if case .unknown = shape { shape = .single(record) }
        return record
    }

    private func note(_ kind: String) {
        if !kinds.contains(kind) { kinds.append(kind) }
    }
}

/// A schema a decoding call asked for, with the Swift type's name for messages.
struct Attempt {
    var label: String
    var schema: JSONSchema
}

final class KeyedRecord {
    private(set) var order: [String] = []
    private(set) var properties: [String: PropertyRecord] = [:]

    func property(_ key: String) -> PropertyRecord {
        if let existing = properties[key] { return existing }
        let created = PropertyRecord()
        properties[key] = created
        order.append(key)
        return created
    }
}

final class PropertyRecord {
    /// Read with `decode` (or a nested container): the key must be present.
    var readAsRequired = false
    /// Tested with `contains`: the initializer copes with its absence.
    var probed = false
    var nullable = false
    var attempts: [Attempt] = []
    var nested: [ValueNode] = []
}

final class UnkeyedRecord {
    var attempts: [Attempt] = []
    var nullable = false
    var nested: [ValueNode] = []
}

final class SingleRecord {
    var attempts: [Attempt] = []
    var nilProbed = false
}

// MARK: - Keyed

struct SchemaKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let context: DerivationContext
    let record: KeyedRecord
    let node: ValueNode
    let codingPath: [any CodingKey]

    /// Unknown: nothing is decoded. An initializer that iterates `allKeys` learns none, and its
    /// type needs ``OpenAPISchemaProviding``.
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool {
        record.property(key.stringValue).probed = true
        // Present, so that the branch that decodes it runs and its type is learnt.
        return true
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        try context.charge(codingPath + [key])
        record.property(key.stringValue).nullable = true
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let path = codingPath + [key]
        try context.charge(path)
        let property = record.property(key.stringValue)
        property.readAsRequired = true
        if node.replacedKeys.contains(key.stringValue) { return try context.placeholder(T.self, codingPath: path) }
        let (schema, value) = try context.resolve(T.self, codingPath: path, needsValue: true)
        property.attempts.append(Attempt(label: String(describing: T.self), schema: schema))
        guard let value else { throw context.fail(.recursiveValue, codingPath: path) }
        return value
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let path = codingPath + [key]
        try context.charge(path)
        let property = record.property(key.stringValue)
        property.nullable = true
        if node.replacedKeys.contains(key.stringValue) { return nil }
        let (schema, _) = try context.resolve(T.self, codingPath: path, needsValue: false)
        property.attempts.append(Attempt(label: String(describing: T.self), schema: schema))
        // Absent: the cheapest answer, and it needs no value of T (which may be recursive).
        return nil
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder(forKey: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try nestedDecoder(forKey: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try nestedDecoder(forKey: AnyKey("super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try nestedDecoder(forKey: key)
    }

    private func nestedDecoder(forKey key: some CodingKey) throws -> SchemaDecoder {
        try context.charge(codingPath + [key])
        let property = record.property(key.stringValue)
        property.readAsRequired = true
        let nested = ValueNode()
        property.nested.append(nested)
        return SchemaDecoder(context: context, node: nested, codingPath: codingPath + [key])
    }

    // The primitive requirements all go through the generic path, which knows the scalars.
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type, key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try decodeIfPresent(type, key) }

    private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decode(type, forKey: key) as T
    }

    private func decodeIfPresent<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeIfPresent(type, forKey: key) as T?
    }
}

// MARK: - Unkeyed

/// Says it holds one element: a loop over `isAtEnd` decodes once (learning the element type) and
/// stops, so no initializer loops on it.
struct SchemaUnkeyedContainer: UnkeyedDecodingContainer {
    let context: DerivationContext
    let record: UnkeyedRecord
    let codingPath: [any CodingKey]
    var count: Int? { 1 }
    var isAtEnd: Bool { currentIndex >= 1 }
    private(set) var currentIndex = 0

    init(context: DerivationContext, record: UnkeyedRecord, codingPath: [any CodingKey]) {
        self.context = context
        self.record = record
        self.codingPath = codingPath
    }

    private var elementPath: [any CodingKey] { codingPath + [AnyKey(intValue: currentIndex) ?? AnyKey("0")] }

    mutating func decodeNil() throws -> Bool {
        try context.charge(elementPath)
        record.nullable = true
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = elementPath
        currentIndex += 1
        try context.charge(path)
        let (schema, value) = try context.resolve(T.self, codingPath: path, needsValue: true)
        record.attempts.append(Attempt(label: String(describing: T.self), schema: schema))
        guard let value else { throw context.fail(.recursiveValue, codingPath: path) }
        return value
    }

    mutating func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
        let path = elementPath
        currentIndex += 1
        try context.charge(path)
        let (schema, _) = try context.resolve(T.self, codingPath: path, needsValue: false)
        record.attempts.append(Attempt(label: String(describing: T.self), schema: schema))
        record.nullable = true
        return nil
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try nestedDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nestedDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try nestedDecoder()
    }

    private mutating func nestedDecoder() throws -> SchemaDecoder {
        let path = elementPath
        currentIndex += 1
        try context.charge(path)
        let nested = ValueNode()
        record.nested.append(nested)
        return SchemaDecoder(context: context, node: nested, codingPath: path)
    }
}

// MARK: - Single value

struct SchemaSingleValueContainer: SingleValueDecodingContainer {
    let context: DerivationContext
    let record: SingleRecord
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        record.nilProbed = true
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try value(type) }

    private func value<T: Decodable>(_ type: T.Type) throws -> T {
        try context.charge(codingPath)
        let (schema, value) = try context.resolve(T.self, codingPath: codingPath, needsValue: true)
        record.attempts.append(Attempt(label: String(describing: T.self), schema: schema))
        guard let value else { throw context.fail(.recursiveValue, codingPath: codingPath) }
        return value
    }

    func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    func decode(_ type: String.Type) throws -> String { try value(type) }
    func decode(_ type: Double.Type) throws -> Double { try value(type) }
    func decode(_ type: Float.Type) throws -> Float { try value(type) }
    func decode(_ type: Int.Type) throws -> Int { try value(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }
}

/// A coding key made from any string: object members, schema property names.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { stringValue = String(intValue) }
}
