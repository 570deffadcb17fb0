/// The human-readable `/docs` page of a document: one self-contained HTML file.
///
/// Rendered by our own code from the same document `/openapi.json` serves: no CDN, no script,
/// inline CSS, every text HTML-escaped (descriptions come from code, but a summary or a pattern
/// holding `<` must still not become markup).
public enum DocsPage {
    /// The page: operations grouped by tag (service), each with its method, path, summary and
    /// access, a parameters table, and request and response bodies as field lists; then every
    /// component schema, which the field lists link to.
    public static func render(_ document: OpenAPIDocument) -> String {
        var html =
            head(title: document.title, css: css) + """
                <header><h1>\(escape(document.title))</h1><p class="version">Version \(escape(document.version)) · OpenAPI 3.1 · <a href="openapi.json">openapi.json</a></p>
                """
        if let description = document.description { html += "<p>\(escape(description))</p>" }
        html += "</header>\n<nav><h2>Operations</h2>"
        for tag in document.tags {
            html += "<h3>\(escape(tag))</h3><ul>"
            for operation in document.operations where operation.tags.first == tag {
                html += "<li><a href=\"#\(anchor("op", operation.operationID))\">"
                html += "<span class=\"method \(operation.method.rawValue)\">\(operation.method.rawValue.uppercased())</span> "
                html += "<code>\(escape(operation.path))</code></a></li>"
            }
            html += "</ul>"
        }
        html += "<h3><a href=\"#schemas\">Schemas</a></h3></nav>\n<main>\n"
        for tag in document.tags {
            html += "<section id=\"\(anchor("tag", tag))\"><h2>\(escape(tag))</h2>\n"
            for operation in document.operations where operation.tags.first == tag {
                html += render(operation, in: document)
            }
            html += "</section>\n"
        }
        html += "<section id=\"schemas\"><h2>Schemas</h2>\n"
        for name in document.components.names {
            guard let schema = document.components[name] else { continue }
            html += "<article class=\"schema\" id=\"\(anchor("schema", name))\"><h3>\(escape(name))</h3>"
            if let description = schema.description { html += "<p>\(escape(description))</p>" }
            html += body(schema, in: document, expand: false)
            html += "</article>\n"
        }
        html += "</section>\n</main>\n</body>\n</html>\n"
        return html
    }

    // MARK: Operations

    private static func render(_ operation: OpenAPIDocument.Operation, in document: OpenAPIDocument) -> String {
        var html = "<article class=\"op\" id=\"\(anchor("op", operation.operationID))\">"
        html += "<h3><span class=\"method \(operation.method.rawValue)\">\(operation.method.rawValue.uppercased())</span> "
        html += "<code class=\"path\">\(escape(operation.path))</code></h3>"
        html += "<p class=\"summary\">\(escape(operation.summary))</p>"
        if let description = operation.description { html += "<p>\(escape(description))</p>" }
        html += "<p class=\"access\"><strong>Access:</strong> \(escape(operation.access.label))"
        if operation.security.contains(.basic) { html += " · HTTP Basic client credentials accepted" }
        html += " · <span class=\"muted\">operationId \(escape(operation.operationID))</span></p>"
        if operation.deprecated { html += "<p class=\"deprecated\">Deprecated</p>" }

        if !operation.parameters.isEmpty {
            html += "<h4>Parameters</h4><table><thead><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th>"
            html += "<th>Description</th></tr></thead><tbody>"
            for parameter in operation.parameters {
                let schema = parameter.schema.literal ?? .any
                html += "<tr><td><code>\(escape(parameter.name))</code></td><td>\(parameter.location.rawValue)</td>"
                html +=
                    "<td>\(typeLabel(schema, document.components))\(constraints(schema))</td><td>\(parameter.required ? "yes" : "no")</td>"
                html += "<td>\(escape(parameter.description ?? schema.description ?? ""))</td></tr>"
            }
            html += "</tbody></table>"
        }

        if let requestBody = operation.requestBody {
            html += "<h4>Request body</h4><p>\(requestBody.required ? "Required" : "Optional") · "
            html += requestBody.content.map { "<code>\(escape($0.mediaType))</code>" }.joined(separator: " or ")
            html += "</p>"
            if let description = requestBody.description { html += "<p>\(escape(description))</p>" }
            if let schema = requestBody.content.first?.schema.literal { html += body(schema, in: document, expand: true) }
        }

        html += "<h4>Responses</h4>"
        for response in operation.responses where !response.isProblem {
            let kind = response.status < 300 ? "ok" : "redirect"
            html += "<div class=\"response\"><p><span class=\"status \(kind)\">\(response.status)</span> "
            html += escape(response.description)
            if !response.content.isEmpty {
                html += " · " + response.content.map { "<code>\(escape($0.mediaType))</code>" }.joined(separator: " or ")
            }
            html += "</p>" + headerList(response.headers)
            if let schema = response.content.first?.schema.literal { html += body(schema, in: document, expand: true) }
            html += "</div>"
        }
        // Problems all share one shape: one compact table, linking the shape once.
        let problems = operation.responses.filter(\.isProblem)
        if let first = problems.first?.content.first?.schema.literal {
            html += "<div class=\"response\"><p>Errors · <code>application/problem+json</code> · \(typeLabel(first))</p>"
            html += "<table class=\"problems\"><tbody>"
            for response in problems {
                html += "<tr><td><span class=\"status problem\">\(response.status)</span></td>"
                html += "<td>\(escape(response.description))\(headerList(response.headers))</td></tr>"
            }
            html += "</tbody></table></div>"
        }
        html += "</article>\n"
        return html
    }

    private static func headerList(_ headers: [OpenAPIDocument.ResponseHeader]) -> String {
        guard !headers.isEmpty else { return "" }
        var html = "<ul class=\"headers\">"
        for header in headers {
            html += "<li>Header <code>\(escape(header.name))</code> \(typeLabel(header.schema))"
            html += header.required ? "" : " <span class=\"muted\">(when applicable)</span>"
            html += " — \(escape(header.description))</li>"
        }
        return html + "</ul>"
    }

    // MARK: Schemas

    /// A body schema as a readable field list; `expand` shows a referenced component's fields
    /// in place (one level: deeper references stay links, which also stops recursive types).
    private static func body(_ schema: JSONSchema, in document: OpenAPIDocument, expand: Bool) -> String {
        var shown = schema
        var html = ""
        if expand, let name = schema.referencedComponent, let component = document.components[name] {
            html += "<p class=\"muted\">\(typeLabel(schema))</p>"
            shown = component
        } else if expand, schema.types.contains(.array), let items = schema.items, let name = items.referencedComponent,
            let component = document.components[name]
        {
            html += "<p class=\"muted\">\(typeLabel(schema))</p>"
            shown = component
        }
        guard let properties = shown.properties, !properties.isEmpty else {
            if html.isEmpty { html += "<p>\(typeLabel(shown))\(constraints(shown))</p>" }
            return html
        }
        return html + fieldTable(shown, document.components, depth: 0)
    }

    private static func fieldTable(_ schema: JSONSchema, _ components: SchemaRegistry, depth: Int) -> String {
        var html =
            "<table class=\"fields\"><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Notes</th></tr></thead><tbody>"
        for property in schema.properties ?? [] {
            let required = schema.required.contains(property.name)
            html += "<tr><td><code>\(escape(property.name))</code></td>"
            html += "<td>\(typeLabel(property.schema, components))</td><td>\(required ? "yes" : "no")</td>"
            html += "<td>\(escape(property.schema.description ?? ""))\(constraints(property.schema))</td></tr>"
            if depth < 3, let nested = property.schema.properties, !nested.isEmpty {
                html +=
                    "<tr class=\"nested\"><td></td><td colspan=\"3\">\(fieldTable(property.schema, components, depth: depth + 1))</td></tr>"
            }
        }
        return html + "</tbody></table>"
    }

    /// `string (uuid)`, `array of <LedgerEntry>`, `"credit" | "debit"`, `integer or null`.
    static func typeLabel(_ schema: JSONSchema, _ components: SchemaRegistry? = nil) -> String {
        if let name = schema.referencedComponent {
            let link = "<a href=\"#\(anchor("schema", name))\">\(escape(name))</a>"
            // An enum is more useful spelled out than behind a link.
            guard let values = components?[name]?.enumValues else { return link }
            return link + ": " + values.map { "<code>\(escape($0.serialized()))</code>" }.joined(separator: " | ")
        }
        if let ref = schema.ref { return "<code>\(escape(ref))</code>" }
        if let choices = schema.anyOf ?? schema.oneOf {
            return choices.map { $0 == .null ? "null" : typeLabel($0, components) }.joined(separator: " or ")
        }
        if let values = schema.enumValues {
            return values.map { "<code>\(escape($0.serialized()))</code>" }.joined(separator: " | ")
        }
        var labels: [String] = []
        for type in schema.types {
            switch type {
            case .array:
                labels.append("array" + (schema.items.map { " of " + typeLabel($0, components) } ?? ""))
            case .object:
                if case .schema(let values) = schema.additionalProperties, schema.properties == nil {
                    labels.append("map of string to " + typeLabel(values.schema, components))
                } else {
                    labels.append("object")
                }
            case .null:
                labels.append("null")
            default:
                labels.append(type.rawValue + (schema.format.map { " (\(escape($0.rawValue)))" } ?? ""))
            }
        }
        return labels.isEmpty ? "any" : labels.joined(separator: " or ")
    }

    /// Bounds, lengths, patterns and defaults, as a short note.
    static func constraints(_ schema: JSONSchema) -> String {
        var notes: [String] = []
        switch (schema.minimum, schema.maximum) {
        case (let low?, let high?): notes.append("\(low.serialized()) … \(high.serialized())")
        case (let low?, nil): notes.append("≥ \(low.serialized())")
        case (nil, let high?): notes.append("≤ \(high.serialized())")
        case (nil, nil): break
        }
        switch (schema.minLength, schema.maxLength) {
        case (let low?, let high?): notes.append("\(low)–\(high) characters")
        case (let low?, nil): notes.append("at least \(low) characters")
        case (nil, let high?): notes.append("at most \(high) characters")
        case (nil, nil): break
        }
        switch (schema.minItems, schema.maxItems) {
        case (let low?, let high?): notes.append("\(low)–\(high) items")
        case (let low?, nil): notes.append("at least \(low) items")
        case (nil, let high?): notes.append("at most \(high) items")
        case (nil, nil): break
        }
        if schema.uniqueItems == true { notes.append("no duplicates") }
        if let pattern = schema.pattern { notes.append("matches <code>\(escape(pattern))</code>") }
        if let value = schema.defaultValue { notes.append("default <code>\(escape(value.serialized()))</code>") }
        guard !notes.isEmpty else { return "" }
        return "<span class=\"constraints\">\(notes.joined(separator: "; "))</span>"
    }

    // MARK: Escaping

    /// Text as HTML character data or a quoted attribute value.
    public static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// The start of a self-contained page, up to and including `<body>`: no script, no external
    /// stylesheet, only `css` inline (the gateway's landing page starts the same way).
    public static func head(title: String, css: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>\(css)</style>
        </head>
        <body>

        """
    }

    /// An `id` made only of `[A-Za-z0-9_.-]`, so it needs no escaping anywhere.
    public static func anchor(_ kind: String, _ name: String) -> String {
        let safe = name.unicodeScalars.map { scalar -> String in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
                ? String(scalar) : "_"
        }
        return kind + "-" + safe.joined()
    }

    private static let css = """
        body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232a;background:#fafbfc;display:grid;grid-template-columns:22rem 1fr}
        header{grid-column:1/3;padding:1rem 2rem;background:#12263a;color:#fff}header a{color:#9cd3ff}
        h1{margin:0 0 .25rem}nav{padding:1rem;border-right:1px solid #dde2e8;position:sticky;top:0;max-height:100vh;overflow:auto}
        nav ul{list-style:none;padding:0;margin:0 0 1rem}nav li{margin:.2rem 0;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}nav a{color:inherit;text-decoration:none}
        main{padding:1rem 2rem;min-width:0}section>h2{border-bottom:2px solid #12263a;padding-bottom:.25rem}
        article{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
        article h3{margin:.2rem 0}.summary{font-weight:600;margin:.3rem 0}.muted{color:#66717d}.access{font-size:13px}
        .method{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;color:#fff;font:700 12px/1.8 monospace;padding:0 .3em}
        .get{background:#1f7a4d}.post{background:#1c5fb8}.put{background:#8a5a00}.patch{background:#6b46c1}.delete{background:#b42318}.head,.options{background:#555}
        code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}.path{font-size:15px}
        table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:13px}th,td{border:1px solid #e3e7ec;padding:.3rem .5rem;text-align:left;vertical-align:top}
        th{background:#f2f4f7}tr.nested>td{border:0;padding-left:1.5rem}.constraints{color:#8a4b00;display:block}.problems td:first-child{width:3.5em}
        .status{display:inline-block;min-width:2.6em;text-align:center;border-radius:4px;font:700 12px/1.8 monospace;color:#fff}
        .status.ok{background:#1f7a4d}.status.redirect{background:#555}.status.problem{background:#b42318}
        .response{border-top:1px dashed #e3e7ec;padding-top:.3rem}.headers{font-size:13px;margin:.2rem 0}.deprecated{color:#b42318;font-weight:700}
        @media (max-width:800px){body{display:block}nav{position:static;max-height:none;border:0}}
        """
}

extension OpenAPIDocument {
    /// The `/docs` page (see ``DocsPage``).
    public func docsPage() -> String { DocsPage.render(self) }
}
