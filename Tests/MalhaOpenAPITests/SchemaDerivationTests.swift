import Foundation
import Testing

@testable import MalhaOpenAPI

// Types only these tests use.

struct Wrapper<Item: Decodable>: Decodable {
    var item: Item
}

/// A recursive type: refers to itself through an optional and an array.
final class CategoryNode: Decodable, Sendable {
    let name: String
    let parent: CategoryNode?
    let children: [CategoryNode]
}

/// Needs a value of itself to exist: no schema can be derived.
final class EndlessChain: Decodable, Sendable {
    let next: EndlessChain
}

enum Role: String, Decodable {
    case admin, customer
}

struct WithRole: Decodable {
    var role: Role
}

/// Decodes a whole array with a loop, as hand-written decoders do.
struct Tags: Decodable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var values: [String] = []
        while !container.isAtEnd {
            if let value = try? container.decode(String.self) { values.append(value) }
        }
        self.values = values
    }
}

/// Keeps decoding whatever happens: derivation must stop it.
struct Relentless: Decodable {
    enum CodingKeys: String, CodingKey { case value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        for _ in 0..<1_000_000 {
            if (try? container.decode(Int.self, forKey: .value)) == nil { break }
        }
    }
}

/// `AmountInput`'s decoder on a field nobody annotated.
struct UnannotatedEntryRequest: Decodable {
    var amountCents: AmountInput

    enum CodingKeys: String, CodingKey { case amountCents = "amount_cents" }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        amountCents = try container.decode(AmountInput.self, forKey: .amountCents)
    }
}

/// An AmountInput-style type that states its schema.
enum Cents: Decodable, OpenAPISchemaProviding {
    case value(Int64)
    case invalid

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let cents = try? container.decode(Int64.self) {
            self = .value(cents)
        } else {
            self = (try? container.decode(String.self)).map { _ in .invalid } ?? .invalid
        }
    }

    static let openAPISchema = JSONSchema.integer(1...100_000_000_000, description: "Integer cents")
}

struct Payment: Decodable {
    var amount: Cents
    var fee: Cents?
}

struct NamedCents: Decodable, OpenAPISchemaProviding {
    init(from decoder: any Decoder) throws {}
    static let openAPISchema = JSONSchema.integer(minimum: 0)
    static let openAPIComponentName: String? = "NamedCents"
}

struct Misannotated: Decodable, OpenAPISchemaAnnotating {
    var name: String
    static let openAPIAnnotations: [SchemaAnnotation] = [.property("nmae", .maxLength(120))]
}

struct IntKeyed: Decodable {
    var byYear: [Int: String]
}

struct Nullables: Decodable {
    var code: String?
    var nested: CartView.Line?
    var kind: LedgerEntryType?
}

@Suite("Deriving schemas from Decodable types")
struct SchemaDerivationTests {
    @Test("a nested struct becomes its own component and is referenced")
    func nestedTypes() throws {
        var registry = SchemaRegistry()
        let schema = try registry.schema(for: CartView.self)
        #expect(schema == .reference("CartView"))
        let cart = try #require(registry["CartView"])
        #expect(cart.property("items") == .array(of: .reference("CartView.Line")))
        #expect(cart.required == ["items", "item_count", "total_cents"])
        let line = try #require(registry["CartView.Line"])
        #expect(line.property("unit_price_cents") == .integer(format: .int64))
        #expect(Set(line.required) == ["product_id", "name", "quantity", "unit_price_cents", "currency", "line_total_cents"])
    }

    @Test("decodeIfPresent is optional and nullable; decode is required")
    func optionals() throws {
        var registry = SchemaRegistry()
        let reversal = try registry.componentSchema(for: ReversalRequest.self)
        #expect(reversal.required.isEmpty)
        #expect(reversal.property("description") == JSONSchema.string().nullable())
        #expect(reversal.property("occurred_at")?.types == [.string, .null])
        #expect(reversal.property("occurred_at")?.format == .dateTime)

        let nullables = try registry.componentSchema(for: Nullables.self)
        // A reference cannot carry `type`: null is added with anyOf.
        #expect(nullables.property("nested") == .anyOf([.reference("CartView.Line"), .null]))
        #expect(nullables.property("kind")?.jsonValue.serialized() == ##"{"anyOf":[{"$ref":"#/components/schemas/LedgerEntryType"},{"type":"null"}]}"##)
    }

    @Test("String enums that are CaseIterable list their raw values, and the decoder hands back a case")
    func enums() throws {
        var registry = SchemaRegistry()
        // LedgerEntry's synthesized init decodes a LedgerEntryType: it must get a valid case.
        _ = try registry.schema(for: LedgerEntry.self)
        #expect(registry["LedgerEntryType"] == .enumeration(["credit", "debit"]))
        #expect(registry["LedgerEntry"]?.property("type") == .reference("LedgerEntryType"))
        _ = try registry.schema(for: Product.self)
        #expect(registry["Product.Status"] == .enumeration(["active", "archived"]))
    }

    @Test("a raw-value enum that is not CaseIterable is reported, with the fix")
    func enumWithoutCases() throws {
        var registry = SchemaRegistry()
        let error = try #require(throws: SchemaDerivationError.self) { try registry.schema(for: WithRole.self) }
        #expect(error.type == "Role")
        #expect(error.description.contains("CaseIterable"))
        #expect(registry.names.isEmpty, "a failed derivation leaves the registry unchanged")
    }

    @Test("Date, UUID, URL and Decimal get Malha's wire forms")
    func scalars() throws {
        var registry = SchemaRegistry()
        let product = try registry.componentSchema(for: Product.self)
        #expect(product.property("id") == .string(format: .uuid))
        #expect(product.property("created_at") == .string(format: .dateTime))
        #expect(try registry.schema(for: URL.self) == .string(format: .uri))
        #expect(try registry.schema(for: Decimal.self) == .number())
        #expect(try registry.schema(for: Int8.self) == .integer(-128...127))
        #expect(try registry.schema(for: UInt16.self) == .integer(0...65_535))
    }

    @Test("arrays, sets and dictionaries")
    func collections() throws {
        var registry = SchemaRegistry()
        let product = try registry.componentSchema(for: ProductRequest.self)
        #expect(product.property("attributes") == JSONSchema.dictionary(of: .string()).nullable())
        #expect(product.property("images") == JSONSchema.array(of: .string()).nullable())
        let tags = try registry.componentSchema(for: Product.self).property("tags")
        #expect(tags == .array(of: .string(), uniqueItems: true))
        let years = try registry.componentSchema(for: IntKeyed.self).property("byYear")
        #expect(years?.propertyNames?.schema.pattern == "^-?[0-9]+$")
        #expect(try registry.schema(for: [LedgerEntry].self) == .array(of: .reference("LedgerEntry")))
    }

    @Test("a custom init(from:) that tests contains(_:) makes the key optional, not nullable")
    func containsProbe() throws {
        var registry = SchemaRegistry()
        let product = try registry.componentSchema(for: ProductRequest.self)
        #expect(product.required == ["sku", "name", "price_cents"])
        #expect(product.property("initial_stock") == .integer(format: .int64))
    }

    @Test("annotations add bounds, enums, descriptions and requiredness to named properties")
    func annotations() throws {
        var registry = SchemaRegistry()
        let request = try registry.componentSchema(for: RecordEntryRequest.self)
        #expect(request.required == ["type", "amount_cents"])
        #expect(request.property("type") == .reference("LedgerEntryType"))
        #expect(request.property("amount_cents")?.minimum == 1)
        #expect(request.property("amount_cents")?.maximum == .integer(100_000_000_000))
        #expect(request.property("amount_cents")?.types == [.integer])
        #expect(request.property("description")?.maxLength == 500)
        #expect(request.property("description")?.types == [.string, .null])
        #expect(request.description == "A credit or debit to record")

        let account = try registry.componentSchema(for: OpenAccountRequest.self)
        #expect(account.property("name") == .string(minLength: 1, maxLength: 200, pattern: #"\S"#))
        #expect(account.required == ["name"])
    }

    @Test("an annotation naming a property that does not exist is an error")
    func misannotated() throws {
        var registry = SchemaRegistry()
        let error = try #require(throws: SchemaDerivationError.self) { try registry.schema(for: Misannotated.self) }
        #expect(error.reason == .unknownAnnotatedProperty("nmae"))
    }

    @Test("an AmountInput-style init(from:) (try? of several types on one value) is reported, naming the type")
    func amountInputStyle() throws {
        var registry = SchemaRegistry()
        let alone = try #require(throws: SchemaDerivationError.self) { try registry.schema(for: AmountInput.self) }
        #expect(alone.type == "AmountInput")
        #expect(alone.reason == .ambiguousValue(tried: ["nil", "Int64", "Decimal"]))
        #expect(alone.description.contains("OpenAPISchemaProviding"))

        let inside = try #require(throws: SchemaDerivationError.self) {
            try registry.schema(for: UnannotatedEntryRequest.self)
        }
        #expect(inside.type == "AmountInput")
        #expect(inside.path == "UnannotatedEntryRequest.amount_cents")

        // With the property's schema replaced by an annotation it derives (RecordEntryRequest).
        _ = try registry.schema(for: RecordEntryRequest.self)
    }

    @Test("OpenAPISchemaProviding is consulted first, and the type still yields a value")
    func provided() throws {
        var registry = SchemaRegistry()
        let payment = try registry.componentSchema(for: Payment.self)
        #expect(payment.property("amount") == .integer(1...100_000_000_000, description: "Integer cents"))
        #expect(payment.property("fee")?.types == [.integer, .null])
        #expect(payment.required == ["amount"])
        #expect(try registry.schema(for: NamedCents.self) == .reference("NamedCents"))
        #expect(registry["NamedCents"] == .integer(minimum: 0))
    }

    @Test("recursive types refer to themselves; one that needs a value of itself is reported")
    func recursion() throws {
        var registry = SchemaRegistry()
        let node = try registry.componentSchema(for: CategoryNode.self)
        #expect(node.property("parent") == .anyOf([.reference("CategoryNode"), .null]))
        #expect(node.property("children") == .array(of: .reference("CategoryNode")))
        let error = try #require(throws: SchemaDerivationError.self) { try registry.schema(for: EndlessChain.self) }
        #expect(error.reason == .recursiveValue)
    }

    @Test("a decoding loop stops: isAtEnd after one element, and a call budget")
    func loops() throws {
        var registry = SchemaRegistry()
        #expect(try registry.componentSchema(for: Tags.self) == .array(of: .string()))
        let error = try #require(throws: SchemaDerivationError.self) { try registry.schema(for: Relentless.self) }
        #expect(error.reason == .tooManyDecodingCalls(DerivationContext.callLimit))
    }

    @Test("component names: nested, generic, and collisions")
    func names() throws {
        #expect(SchemaRegistry.componentName(for: CartView.Line.self) == "CartView.Line")
        #expect(SchemaRegistry.componentName(for: Wrapper<LedgerEntry>.self) == "Wrapper_LedgerEntry")
        #expect(SchemaRegistry.componentName(for: Wrapper<[String: Int]>.self) == "Wrapper_Dictionary_String_Int")

        var registry = SchemaRegistry()
        _ = try registry.schema(for: Wrapper<LedgerEntry>.self)
        #expect(registry.names.contains("Wrapper_LedgerEntry"))

        struct Local: Decodable { var a: Int }
        let first = try registry.schema(for: Local.self)
        let second = try Self.otherLocal(&registry)
        #expect(first == .reference("SchemaDerivationTests.Local"))
        #expect(second != first, "two types with one short name get two components")
        #expect(second == .reference("MalhaOpenAPITests.SchemaDerivationTests.Local"))
        #expect(registry[second.referencedComponent ?? ""]?.property("b") != nil)
    }

    private static func otherLocal(_ registry: inout SchemaRegistry) throws -> JSONSchema {
        struct Local: Decodable { var b: String }
        return try registry.schema(for: Local.self)
    }
}
