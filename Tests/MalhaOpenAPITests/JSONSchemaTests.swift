import Foundation
import Testing

@testable import MalhaOpenAPI

@Suite("JSONSchema rendering")
struct JSONSchemaTests {
    @Test("writes exactly the keywords that are set")
    func exactJSON() {
        let schema = JSONSchema.object(
            [
                .init("id", .string(format: .uuid)),
                .init("amount", .integer(1...100_000_000_000)),
                .init("note", JSONSchema.string(maxLength: 120).nullable()),
                .init("tags", .array(of: .string(), maxItems: 10)),
            ], required: ["id", "amount"])
        #expect(
            schema.jsonValue.serialized()
                == #"{"properties":{"amount":{"maximum":100000000000,"minimum":1,"type":"integer"},"id":{"format":"uuid","type":"string"},"note":{"maxLength":120,"type":["string","null"]},"tags":{"items":{"type":"string"},"maxItems":10,"type":"array"}},"required":["id","amount"],"type":"object"}"#
        )
    }

    @Test("Encodable gives the same JSON as the serializer")
    func encodable() throws {
        let schema = JSONSchema.enumeration(["credit", "debit"]).nullable()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let encoded = String(decoding: try encoder.encode(schema), as: UTF8.self)
        #expect(encoded == schema.jsonValue.serialized())
        #expect(encoded == #"{"enum":["credit","debit",null],"type":["string","null"]}"#)
    }

    @Test("nullable and nonNull undo each other")
    func nullable() {
        let reference = JSONSchema.reference("LedgerEntry")
        #expect(reference.nullable().nonNull() == reference)
        #expect(JSONSchema.string().nullable().nonNull() == .string())
        #expect(JSONSchema.any.nullable() == .any)
        #expect(reference.nullable().acceptsNull)
    }

    @Test("references are collected and renamed")
    func references() {
        let schema = JSONSchema.object([
            .init("a", .reference("A")), .init("b", .array(of: .reference("B"))),
            .init("c", .dictionary(of: JSONSchema.reference("C").nullable())),
        ])
        #expect(schema.references == ["#/components/schemas/A", "#/components/schemas/B", "#/components/schemas/C"])
        let renamed = schema.renamingReferences { "x." + $0 }
        #expect(renamed.references == ["#/components/schemas/x.A", "#/components/schemas/x.B", "#/components/schemas/x.C"])
    }

    @Test("strings are escaped for JSON")
    func escaping() {
        let value: JSONValue = ["text": "a \"quote\", a \\ and a \u{1}\n"]
        #expect(value.serialized() == #"{"text":"a \"quote\", a \\ and a \u0001\n"}"#)
    }
}
