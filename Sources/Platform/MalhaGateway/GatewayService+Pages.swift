import Hummingbird
import MalhaHTTP
import MalhaOpenAPI
import NIOCore

extension GatewayService {
    /// `GET /` and `GET /docs`: pages a person pointed at the gateway can read, rendered once from
    /// the public document (so they list exactly what `/openapi.json` does).
    static func addPages<Context: MalhaRequestContext>(to router: Router<Context>, document: OpenAPIDocument) {
        let landing = ByteBuffer(string: LandingPage.render(document))
        let docs = ByteBuffer(string: document.docsPage())
        router.get("/") { _, _ in html(landing) }
        router.get("/docs") { _, _ in html(docs) }
        // Browsers ask for an icon on every page without one (openapi.json shown as JSON): none.
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
    }

    private static func html(_ body: ByteBuffer) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: body))
    }
}

/// The gateway's front page: what Malha is, what runs behind this gateway, and where to go next.
enum LandingPage {
    /// What each system is, for the services the document groups operations under (its tags).
    static let systems: [(title: String, services: [String], summary: String)] = [
        (
            "Platform", ["gateway", "identity", "registry", "bus"],
            "The gateway routes every public path and checks tokens; identity issues ES256 access tokens and "
                + "rotating refresh tokens (JWKS at /.well-known/jwks.json); the registry knows which instances "
                + "run; the bus carries events with an outbox, retries and dead letters."
        ),
        (
            "TechStore e-commerce", ["catalog", "orders", "payments", "notifications"],
            "A catalog with stock, a cart and checkout whose saga reserves stock and takes payment (and "
                + "compensates when either fails), refunds, and the customer's notifications."
        ),
        (
            "Cash flow", ["ledger", "consolidation"],
            "A ledger of credits and debits per account, and daily consolidated balances kept apart from it: "
                + "the ledger keeps taking entries when the consolidation is down."
        ),
    ]

    static func render(_ document: OpenAPIDocument) -> String {
        let counts = Dictionary(grouping: document.operations, by: { $0.tags.first ?? "" }).mapValues(\.count)
        var html =
            DocsPage.head(title: "Malha", css: css) + """
                <header><h1>Malha</h1>
                <p>A microservices platform in Swift, and the systems built on it. This is its gateway: every \
                public route of every service is reached through here.</p>
                <p class="links"><a href="docs">API documentation</a> · <a href="openapi.json">openapi.json</a> \
                (OpenAPI 3.1, \(document.operations.count) operations) · <a href="health/ready">health</a></p>
                </header>
                <main>
                """
        for system in systems {
            html += "<section><h2>\(DocsPage.escape(system.title))</h2><p>\(DocsPage.escape(system.summary))</p><ul>"
            for service in system.services {
                let operations = counts[service] ?? 0
                let anchor = operations > 0 ? "<a href=\"docs#\(DocsPage.anchor("tag", service))\">\(service)</a>" : service
                html += "<li>\(anchor) — \(operations) operation\(operations == 1 ? "" : "s")</li>"
            }
            html += "</ul></section>"
        }
        html += """
            <section><h2>Web pages</h2><p>None yet: the delivery-management pages (quotes, deliveries, live \
            tracking) will be linked here when they ship.</p></section>
            <section><h2>Try it</h2><pre>curl -s $GATEWAY/v1/products?limit=3
            curl -s $GATEWAY/v1/auth/register -H 'Content-Type: application/json' \\
              -d '{"email":"you@example.com","password":"a long passphrase","name":"You"}'</pre></section>
            </main>
            </body>
            </html>
            """
        return html
    }

    static let css = """
        body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
        h1{margin-bottom:.25rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
        a{color:#0550ae}.links{font-size:1.05rem}pre{background:#f6f8fa;padding:.75rem;overflow:auto}
        """
}
