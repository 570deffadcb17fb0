/// The named schemas of a document (`components.schemas`), filled as types are derived.
///
/// Every `$ref` the registry hands out points at a component it holds, so a document built from
/// one registry has no dangling references. Each Swift type gets one component; two types whose
/// short names collide (`Ledger.Account`, `Orders.Account`) get their module-qualified names.
public struct SchemaRegistry: Sendable {
    /// Component name → schema.
    public private(set) var schemas: [String: JSONSchema] = [:]
    /// Component names in the order they were first registered (the docs page lists them so).
    public private(set) var names: [String] = []
    /// Which type each component was derived from; names registered by hand have none.
    private var typeNames: [ObjectIdentifier: String] = [:]
    /// Names reserved by a derivation under way (a recursive type refers to itself by them).
    private var pending: Set<String> = []

    public init() {}

    public subscript(name: String) -> JSONSchema? { schemas[name] }

    /// The schema documenting `type`: a `$ref` to its component for structs and enums, inline for
    /// scalars, arrays and dictionaries. Derives (and registers) whatever is not known yet.
    ///
    /// Throws ``SchemaDerivationError`` naming the type that cannot be derived; the registry is
    /// unchanged then.
    public mutating func schema<T: Decodable>(for type: T.Type) throws -> JSONSchema {
        let context = DerivationContext(registry: self)
        let (schema, _) = try context.resolve(T.self, codingPath: [], needsValue: false)
        self = context.registry
        return schema
    }

    /// The component's schema itself (not a reference) for `type`, deriving it if needed.
    public mutating func componentSchema<T: Decodable>(for type: T.Type) throws -> JSONSchema {
        let schema = try self.schema(for: type)
        guard let name = schema.referencedComponent, let component = schemas[name] else { return schema }
        return component
    }

    /// Registers `schema` under `name` by hand. Registering the same schema again is allowed;
    /// a different one under a taken name throws.
    public mutating func register(_ schema: JSONSchema, as name: String) throws {
        if let existing = schemas[name] {
            guard existing == schema else { throw SchemaDerivationError(type: name, path: "", reason: .nameTaken(name)) }
            return
        }
        define(name, schema)
    }

    /// The page of a cursor-paginated list of `item`: `{items: [Item], next_cursor: string|null}`,
    /// registered as `<Item>Page` (Malha's `Page<Item>` is encode-only, so it is described here).
    public mutating func page<T: Decodable>(of item: T.Type) throws -> JSONSchema {
        let items = try schema(for: item)
        let itemName = items.referencedComponent ?? Self.componentName(for: T.self)
        let name = itemName + "Page"
        let page = JSONSchema.object(
            [
                .init("items", .array(of: items)),
                .init(
                    "next_cursor",
                    JSONSchema.string().nullable().described("Pass as `cursor` for the next page; null on the last page")),
            ],
            required: ["items", "next_cursor"],
            description: "One page of a cursor-paginated list")
        try register(page, as: name)
        return .reference(name)
    }

    // MARK: Used by the derivation

    /// The component name already given to `type`, whether defined or still being derived.
    func name(for type: Any.Type) -> String? { typeNames[ObjectIdentifier(type)] }

    /// Whether the component `name` is still being derived (the type refers to itself).
    func isPending(_ name: String) -> Bool { pending.contains(name) }

    /// Reserves a name for `type`: `preferred` (an annotation's), else its short name, else its
    /// module-qualified one, else either with a number.
    mutating func reserve(_ type: Any.Type, preferred: String?) throws -> String {
        let short = preferred ?? Self.componentName(for: type)
        var candidates = [short]
        if preferred == nil { candidates.append(Self.componentName(for: type, qualified: true)) }
        let existing = self.schemas
        let reserved = self.pending
        func taken(_ name: String) -> Bool { existing[name] != nil || reserved.contains(name) }
        var chosen = candidates.first { !taken($0) }
        if chosen == nil {
            if preferred != nil { throw SchemaDerivationError(type: short, path: "", reason: .nameTaken(short)) }
            var number = 2
            while taken("\(short)_\(number)") { number += 1 }
            chosen = "\(short)_\(number)"
        }
        let name = chosen ?? short
        typeNames[ObjectIdentifier(type)] = name
        pending.insert(name)
        return name
    }

    mutating func complete(_ name: String, _ schema: JSONSchema) {
        pending.remove(name)
        define(name, schema)
    }

    private mutating func define(_ name: String, _ schema: JSONSchema) {
        if schemas[name] == nil && !names.contains(name) { names.append(name) }
        schemas[name] = schema
    }

    /// Replaces the whole content (a merge builds registries this way).
    mutating func replaceAll(_ ordered: [(String, JSONSchema)]) {
        schemas = [:]
        names = []
        typeNames = [:]
        pending = []
        for (name, schema) in ordered { define(name, schema) }
    }

    // MARK: Naming

    /// A component name for a Swift type: `CartView.Line` for a nested type, `Page_LedgerEntry`
    /// for a generic one, without the module unless `qualified`. Only `[A-Za-z0-9._-]` remain,
    /// as OpenAPI requires of component keys.
    public static func componentName(for type: Any.Type, qualified: Bool = false) -> String {
        var reflected = String(reflecting: type)
        // Local and private types: "M.(unknown context at $1f2e).Foo", "M.(_1234ABCD).Foo".
        while let open = reflected.firstIndex(of: "("), let close = reflected[open...].firstIndex(of: ")") {
            var end = reflected.index(after: close)
            if end < reflected.endIndex, reflected[end] == "." { end = reflected.index(after: end) }
            reflected.removeSubrange(open..<end)
        }
        var result = ""
        var token = ""
        func flush() {
            guard !token.isEmpty else { return }
            var parts = token.split(separator: ".").map(String.init)
            if !qualified && parts.count > 1 { parts.removeFirst() }
            result += parts.joined(separator: ".")
            token = ""
        }
        for character in reflected {
            switch character {
            case "<", ",":
                flush()
                result += "_"
            case ">", " ":
                flush()
            default:
                token.append(character)
            }
        }
        flush()
        let allowed = result.unicodeScalars.map { scalar -> Character in
            let ok =
                ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "." || scalar == "_" || scalar == "-"
            return ok ? Character(scalar) : "_"
        }
        let name = String(allowed)
        return name.isEmpty ? "Schema" : name
    }
}

/// Where a schema comes from: a Swift type, derived when the document is built, or a literal.
public struct SchemaSource: Sendable {
    private let resolver: any SchemaResolving
    /// The Swift type or "inline schema", for messages.
    public let label: String

    /// The schema derived from `type` (a `$ref` for a struct or an enum).
    public static func derived<T: Decodable>(_ type: T.Type) -> SchemaSource {
        SchemaSource(resolver: DerivedSchema<T>(), label: String(describing: T.self))
    }

    /// A page of `item`s (see ``SchemaRegistry/page(of:)``).
    public static func page<T: Decodable>(of item: T.Type) -> SchemaSource {
        SchemaSource(resolver: PagedSchema<T>(), label: "page of \(T.self)")
    }

    /// Exactly one of `sources` (an answer that takes one of several shapes).
    public static func oneOf(_ sources: [SchemaSource]) -> SchemaSource {
        SchemaSource(resolver: OneOfSchema(sources: sources), label: "one of " + sources.map(\.label).joined(separator: ", "))
    }

    /// This exact schema.
    public static func schema(_ schema: JSONSchema) -> SchemaSource {
        SchemaSource(resolver: LiteralSchema(schema: schema, name: nil), label: "inline schema")
    }

    /// `schema` registered as the component `name`, referenced.
    public static func component(_ name: String, _ schema: JSONSchema) -> SchemaSource {
        SchemaSource(resolver: LiteralSchema(schema: schema, name: name), label: name)
    }

    public func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema {
        try resolver.resolve(in: &registry)
    }

    /// The schema itself when it needs no registry (a literal, or a source a document resolved).
    public var literal: JSONSchema? {
        guard let literal = resolver as? LiteralSchema, literal.name == nil else { return nil }
        return literal.schema
    }
}

// Generic structs without stored properties rather than closures: a closure would capture the
// metatype `T.Type`, which Swift 6 does not consider `Sendable`.

protocol SchemaResolving: Sendable {
    func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema
}

struct DerivedSchema<T: Decodable>: SchemaResolving {
    func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema { try registry.schema(for: T.self) }
}

struct PagedSchema<T: Decodable>: SchemaResolving {
    func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema { try registry.page(of: T.self) }
}

struct OneOfSchema: SchemaResolving {
    var sources: [SchemaSource]

    func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema {
        .oneOf(try sources.map { try $0.resolve(in: &registry) })
    }
}

struct LiteralSchema: SchemaResolving {
    var schema: JSONSchema
    var name: String?

    func resolve(in registry: inout SchemaRegistry) throws -> JSONSchema {
        guard let name else { return schema }
        try registry.register(schema, as: name)
        return .reference(name)
    }
}
