import Foundation
import Testing

@testable import MalhaOpenAPI

@Suite("OpenAPI documents")
struct OpenAPIDocumentTests {
    private func operation(_ document: JSONValue, _ method: String, _ path: String) throws -> JSONValue {
        try #require(document["paths"]?[path]?[method], "\(method) \(path) is documented")
    }

    @Test("the sample documents have no dangling $ref, and every component they reference exists")
    func noDanglingReferences() throws {
        for document in [try SampleDocuments.ledger(), try SampleDocuments.shop(), try SampleDocuments.identity()] {
            #expect(document.danglingReferences() == [])
            let json = document.jsonValue
            #expect(json["openapi"] == "3.1.0")
            let defined = Set(json["components"]?["schemas"]?.objectValue?.keys.map { $0 } ?? [])
            let referenced = Self.references(in: json).map { String($0.dropFirst(JSONSchema.componentPrefix.count)) }
            #expect(Set(referenced).isSubset(of: defined))
        }
    }

    @Test("a literal schema pointing at an undefined component is refused")
    func danglingLiteral() throws {
        #expect(throws: OpenAPIDocumentError.danglingReferences(["#/components/schemas/Nowhere"])) {
            try OpenAPIDocument(
                service: "x", title: "x", version: "1", includePlatformOperations: false,
                operations: [
                    .get(
                        "/x", "X", responses: [.status(200, "X", contentType: "application/json", schema: .reference("Nowhere"))])
                ])
        }
    }

    @Test("record entry: body, Idempotency-Key, path id, security and every response")
    func recordEntry() throws {
        let json = try SampleDocuments.ledger().jsonValue
        let record = try operation(json, "post", "/v1/accounts/{id}/entries")
        #expect(record["operationId"] == "postV1AccountsByIdEntries")
        #expect(record["security"] == [["bearer": []]])
        #expect(record["requestBody"]?["required"] == true)
        #expect(
            record["requestBody"]?["content"]?["application/json"]?["schema"] == [
                "$ref": "#/components/schemas/RecordEntryRequest"
            ])

        let parameters = try #require(record["parameters"]?.arrayValue)
        let id = try #require(parameters.first { $0["name"] == "id" })
        #expect(id == ["name": "id", "in": "path", "required": true, "schema": ["type": "string", "format": "uuid"]])
        let key = try #require(parameters.first { $0["name"] == "Idempotency-Key" })
        #expect(key["in"] == "header")
        #expect(key["required"] == true)
        #expect(key["schema"]?["pattern"] == "^[!-~]{1,255}$")
        #expect(key["schema"]?["maxLength"] == 255)

        let responses = try #require(record["responses"]?.objectValue)
        #expect(Set(responses.keys) == ["201", "400", "401", "404", "409", "415", "422"])
        #expect(responses["201"]?["content"]?["application/json"]?["schema"] == ["$ref": "#/components/schemas/LedgerEntry"])
        #expect(responses["201"]?["headers"]?["Location"]?["required"] == true)
        #expect(responses["201"]?["headers"]?["Idempotent-Replayed"]?["schema"] == ["type": "string", "enum": ["true"]])
        for status in ["400", "401", "404", "409", "415", "422"] {
            #expect(
                responses[status]?["content"]?["application/problem+json"]?["schema"] == ["$ref": "#/components/schemas/Problem"])
        }
        #expect(responses["401"]?["headers"]?["WWW-Authenticate"] != nil)
    }

    @Test("conditional GET: If-None-Match, 304 with ETag, and implied 401")
    func conditionalGet() throws {
        let json = try SampleDocuments.ledger().jsonValue
        let account = try operation(json, "get", "/v1/accounts/{id}")
        let parameters = try #require(account["parameters"]?.arrayValue)
        #expect(parameters.contains { $0["name"] == "If-None-Match" && $0["in"] == "header" && $0["required"] == false })
        #expect(account["responses"]?["304"]?["headers"]?["ETag"] != nil)
        #expect(account["responses"]?["304"]?["content"] == nil)
        #expect(account["responses"]?["200"]?["headers"]?["ETag"] != nil)
        #expect(account["responses"]?["401"] != nil, "authenticated operations document 401 without being told")
    }

    @Test("query parameters carry types, bounds, enums and defaults")
    func queryParameters() throws {
        let json = try SampleDocuments.ledger().jsonValue
        let entries = try operation(json, "get", "/v1/accounts/{id}/entries")
        let parameters = try #require(entries["parameters"]?.arrayValue)
        let limit = try #require(parameters.first { $0["name"] == "limit" })
        #expect(limit["schema"] == ["type": "integer", "minimum": 1, "maximum": 500, "default": 100])
        #expect(limit["required"] == false)
        let type = try #require(parameters.first { $0["name"] == "type" })
        #expect(type["schema"] == ["$ref": "#/components/schemas/LedgerEntryType"])
        let page = try #require(entries["responses"]?["200"]?["content"]?["application/json"]?["schema"])
        #expect(page == ["$ref": "#/components/schemas/LedgerEntryPage"])
        let pageSchema = try #require(json["components"]?["schemas"]?["LedgerEntryPage"])
        #expect(pageSchema["required"] == ["items", "next_cursor"])
        #expect(pageSchema["properties"]?["next_cursor"]?["type"] == ["string", "null"])
    }

    @Test("public operations say security: [] and platform endpoints are documented")
    func publicAndPlatform() throws {
        let document = try SampleDocuments.shop()
        let json = document.jsonValue
        #expect(try operation(json, "get", "/v1/products/{id}")["security"] == [])
        #expect(try operation(json, "get", "/health/ready")["responses"]?["503"] != nil)
        #expect(try operation(json, "get", "/metrics")["responses"]?["200"]?["content"]?["text/plain"] != nil)
        #expect(document.routeKeys.contains("GET /openapi.json"))
        #expect(try operation(json, "post", "/v1/products")["responses"]?["403"] != nil, "admin implies 403")
        #expect(json["components"]?["securitySchemes"]?["bearer"] == ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"])
    }

    @Test("an OAuth token endpoint takes a form (or JSON) and HTTP Basic or no credentials")
    func tokenEndpoint() throws {
        let json = try SampleDocuments.identity().jsonValue
        let token = try operation(json, "post", "/v1/oauth/token")
        let content = try #require(token["requestBody"]?["content"]?.objectValue)
        #expect(Set(content.keys) == ["application/x-www-form-urlencoded", "application/json"])
        #expect(token["security"] == [["basic": []], [:]])
        let request = try #require(json["components"]?["schemas"]?["TokenRequest"])
        #expect(request["required"] == ["grant_type"])
        #expect(request["properties"]?["grant_type"] == ["$ref": "#/components/schemas/TokenRequest.GrantType"])
        #expect(json["components"]?["securitySchemes"]?["basic"] == ["type": "http", "scheme": "basic"])
    }

    @Test("the Problem component is what Malha's problem+json body holds")
    func problemComponent() throws {
        let json = try SampleDocuments.ledger().jsonValue
        let problem = try #require(json["components"]?["schemas"]?["Problem"])
        #expect(problem["required"] == ["type", "title", "status", "code"])
        #expect(problem["properties"]?["status"] == ["type": "integer", "format": "int64", "minimum": 100, "maximum": 599])
        #expect(problem["properties"]?["errors"]?["items"] == ["$ref": "#/components/schemas/ProblemFieldError"])
        #expect(json["components"]?["schemas"]?["ProblemFieldError"]?["required"] == ["field", "message"])
    }

    @Test("mistakes in the declaration are refused")
    func declarationErrors() throws {
        #expect(throws: OpenAPIDocumentError.duplicateRoute("GET /a/{y}")) {
            try OpenAPIDocument(
                service: "x", title: "x", version: "1", includePlatformOperations: false,
                operations: [.get("/a/{x}", "A", responses: [.noContent()]), .get("/a/{y}", "A", responses: [.noContent()])])
        }
        #expect(throws: OpenAPIDocumentError.pathParameterNotInTemplate("GET /a", "id")) {
            try OpenAPIDocument(
                service: "x", title: "x", version: "1", includePlatformOperations: false,
                operations: [.get("/a", "A", parameters: [.path("id")], responses: [.noContent()])])
        }
        let error = try #require(throws: OpenAPIDocumentError.self) {
            try OpenAPIDocument(
                service: "x", title: "x", version: "1", includePlatformOperations: false,
                operations: [.post("/a", "A", body: .json(AmountInput.self), responses: [.noContent()])])
        }
        #expect(error.description.contains("POST /a, request body: cannot derive a schema for AmountInput"))
    }

    @Test("operation ids are made from the method and the path")
    func operationIDs() {
        #expect(OpenAPIDocument.Operation.operationID(.get, "/v1/accounts/{id}/entries") == "getV1AccountsByIdEntries")
        #expect(OpenAPIDocument.Operation.operationID(.get, "/.well-known/jwks.json") == "getWellKnownJwksJson")
        #expect(OpenAPIDocument.Operation.operationID(.put, "/v1/cart/items/{product_id}") == "putV1CartItemsByProductId")
    }

    @Test("jsonBytes is stable and parses as JSON; jsonObject matches")
    func bytes() throws {
        let document = try SampleDocuments.ledger()
        #expect(document.jsonBytes() == (try SampleDocuments.ledger()).jsonBytes())
        let parsed = try JSONSerialization.jsonObject(with: Data(document.jsonBytes())) as? [String: Any]
        #expect(parsed?["openapi"] as? String == "3.1.0")
        #expect(
            (document.jsonObject()["paths"] as? [String: Any])?.count == parsed.flatMap { ($0["paths"] as? [String: Any])?.count }
        )
    }

    static func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let members):
            return members.flatMap { key, member in key == "$ref" ? [member.stringValue ?? ""] : references(in: member) }
        case .array(let elements):
            return elements.flatMap(references(in:))
        default:
            return []
        }
    }
}
