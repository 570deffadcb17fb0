import Foundation
import Testing

@testable import MalhaOpenAPI

@Suite("Merged gateway document and /docs page")
struct MergeAndDocsTests {
    @Test("the merge is the union of the services' public paths, platform endpoints left out")
    func mergedPaths() throws {
        let gateway = try SampleDocuments.gateway()
        let paths = Set(gateway.operations.map(\.path))
        #expect(paths.contains("/v1/accounts/{id}/entries"))
        #expect(paths.contains("/v1/cart/items"))
        #expect(paths.contains("/v1/oauth/token"))
        #expect(!paths.contains { $0.hasPrefix("/health") || $0 == "/metrics" })
        // The gateway's own /openapi.json (the merged one) stays; the services' are platform ones.
        #expect(gateway.operations.filter { $0.path == "/openapi.json" }.map(\.tags) == [["gateway"]])
        #expect(gateway.jsonValue["paths"]?["/docs"]?["get"]?["responses"]?["200"]?["content"]?["text/html"] != nil)
        #expect(gateway.tags == ["gateway", "ledger", "orders", "identity"])
        #expect(gateway.danglingReferences() == [])
        // Identical components are kept once; the platform-only HealthStatus is gone.
        #expect(gateway.components.names.filter { $0 == "Problem" }.count == 1)
        #expect(gateway.components["HealthStatus"] == nil)
        #expect(gateway.componentRenames.isEmpty)
    }

    @Test("one name, two schemas: both renamed <service>.<Name>, references too")
    func conflictingComponents() throws {
        func document(_ service: String, _ path: String, _ summary: JSONSchema) throws -> OpenAPIDocument {
            try OpenAPIDocument(
                service: service, title: service, version: "1",
                operations: [
                    .get(path, "Summary", responses: [.status(200, "S", .init("application/json", .component("Summary", summary)))]),
                    .get(path + "/list", "Summaries", responses: [
                        .status(200, "L", contentType: "application/json", schema: .array(of: .reference("Summary")))
                    ]),
                ])
        }
        let ledger = try document("ledger", "/v1/ledger-summary", .object([.init("balance", .integer())]))
        let orders = try document("orders", "/v1/order-summary", .object([.init("count", .integer())]))
        let merged = try OpenAPIDocument.merged(title: "All", version: "1", documents: [ledger, orders])
        #expect(merged.components["Summary"] == nil)
        #expect(merged.components["ledger.Summary"]?.property("balance") != nil)
        #expect(merged.components["orders.Summary"]?.property("count") != nil)
        let json = merged.jsonValue
        #expect(
            json["paths"]?["/v1/order-summary/list"]?["get"]?["responses"]?["200"]?["content"]?["application/json"]?["schema"]?["items"]
                == ["$ref": "#/components/schemas/orders.Summary"])
        #expect(merged.danglingReferences() == [])
        #expect(Set(merged.componentRenames.map { $0.to }) == ["ledger.Summary", "orders.Summary"])
    }

    @Test("a route documented by two services is refused")
    func routeInTwoServices() throws {
        let first = try SampleDocuments.shop()
        #expect(throws: OpenAPIDocumentError.routeInTwoServices("GET /v1/cart", "orders", "orders")) {
            try OpenAPIDocument.merged(title: "All", version: "1", documents: [first, first])
        }
    }

    @Test("the docs page shows every operation with its parameters and fields")
    func docsPage() throws {
        let page = try SampleDocuments.gateway().docsPage()
        #expect(page.hasPrefix("<!doctype html>"))
        #expect(page.contains(#"<span class="method post">POST</span> <code class="path">/v1/accounts/{id}/entries</code>"#))
        #expect(page.contains("Record a credit or debit"))
        #expect(page.contains("<code>Idempotency-Key</code>"))
        #expect(page.contains("<code>amount_cents</code>"))
        #expect(page.contains("1 … 100000000000"))
        #expect(page.contains(##"<a href="#schema-LedgerEntryType">LedgerEntryType</a>"##))
        #expect(page.contains(#"id="schema-Problem""#))
        // Self-contained: no scripts, no external stylesheets or fonts.
        #expect(!page.contains("<script"))
        #expect(!page.contains("<link"))
        #expect(!page.contains("src="))
    }

    @Test("the docs page escapes what it shows")
    func escaping() throws {
        let document = try OpenAPIDocument(
            service: "x<y>", title: "Evil <script>alert(1)</script>", version: "1\"2", includePlatformOperations: false,
            operations: [
                .get(
                    "/x", "<script>alert('summary')</script>", description: "a & b",
                    parameters: [.query("q", .string(pattern: "^<[a-z]>$"))], responses: [.noContent()])
            ])
        let page = document.docsPage()
        #expect(!page.contains("<script"))
        #expect(page.contains("&lt;script&gt;alert(&#39;summary&#39;)&lt;/script&gt;"))
        #expect(page.contains("Evil &lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("a &amp; b"))
        #expect(page.contains("^&lt;[a-z]&gt;$"))
        #expect(page.contains("x&lt;y&gt;"))
        #expect(page.contains(#"id="tag-x_y_""#))
    }
}
