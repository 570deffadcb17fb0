extension OpenAPIDocument {
    /// One document for the gateway: every service's operations (platform ones left out, since
    /// the gateway does not route them) and their components.
    ///
    /// A component two services define identically (`Problem`, a shared contract) is kept once.
    /// One they define differently is renamed in each of them to `<service>.<Name>`, references
    /// included, so neither depends on the order of `documents`; ``componentRenames`` lists what
    /// was renamed (a test can pin it, so a new clash is noticed). A route documented by two
    /// services throws: the gateway could only send it to one.
    public static func merged(
        title: String, version: String, description: String? = nil, servers: [String] = [],
        service: String = "gateway", documents: [OpenAPIDocument]
    ) throws -> OpenAPIDocument {
        var renames = Array(repeating: [String: String](), count: documents.count)
        var report: [ComponentRename] = []

        // Renaming one component changes the schemas that refer to it, which may then clash in
        // turn: repeat until nothing clashes (at most once per component).
        while true {
            var versions: [String: [(document: Int, original: String, schema: JSONSchema)]] = [:]
            for (index, document) in documents.enumerated() {
                let map = renames[index]
                for name in document.components.names {
                    guard let schema = document.components[name] else { continue }
                    let renamed = schema.renamingReferences { map[$0] ?? $0 }
                    versions[map[name] ?? name, default: []].append((index, name, renamed))
                }
            }
            var clashed = false
            for name in versions.keys.sorted() {
                guard let entries = versions[name], Set(entries.map(\.schema)).count > 1 else { continue }
                clashed = true
                for entry in entries {
                    guard renames[entry.document][entry.original] == nil else {
                        // Already prefixed and still clashing: two documents of one service.
                        throw OpenAPIDocumentError.schema(
                            "merge", "component \(name)",
                            SchemaDerivationError(type: name, path: "", reason: .nameTaken(name)))
                    }
                    let prefixed = prefix(documents[entry.document].service) + "." + entry.original
                    renames[entry.document][entry.original] = prefixed
                    report.append(ComponentRename(service: documents[entry.document].service, from: entry.original, to: prefixed))
                }
            }
            if !clashed { break }
        }

        var operations: [Operation] = []
        var owners: [String: String] = [:]
        var ids = Set<String>()
        for (index, document) in documents.enumerated() {
            let map = renames[index]
            for operation in document.operations where !operation.isPlatform {
                let route =
                    operation.method.rawValue + " "
                    + operation.path.split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix("{") ? "{}" : String($0) }.joined(separator: "/")
                if let owner = owners[route] {
                    throw OpenAPIDocumentError.routeInTwoServices(operation.routeKey, owner, document.service)
                }
                owners[route] = document.service
                guard ids.insert(operation.operationID).inserted else {
                    throw OpenAPIDocumentError.duplicateOperationID(operation.operationID)
                }
                operations.append(operation.mappingSchemas { $0.renamingReferences { map[$0] ?? $0 } })
            }
        }

        // Only what the merged operations reach (a platform-only HealthStatus goes).
        var all: [String: JSONSchema] = [:]
        var order: [String] = []
        for (index, document) in documents.enumerated() {
            let map = renames[index]
            for name in document.components.names {
                guard let schema = document.components[name] else { continue }
                let renamed = map[name] ?? name
                if all[renamed] == nil { order.append(renamed) }
                all[renamed] = schema.renamingReferences { map[$0] ?? $0 }
            }
        }
        var reachable = Set<String>()
        var frontier = operations.flatMap(\.schemas).flatMap(\.references)
        while let reference = frontier.popLast() {
            guard reference.hasPrefix(JSONSchema.componentPrefix) else { continue }
            let name = String(reference.dropFirst(JSONSchema.componentPrefix.count))
            guard reachable.insert(name).inserted, let schema = all[name] else { continue }
            frontier += schema.references
        }
        var registry = SchemaRegistry()
        registry.replaceAll(order.filter(reachable.contains).compactMap { name in all[name].map { (name, $0) } })

        let merged = OpenAPIDocument(
            service: service, title: title, version: version, description: description, servers: servers,
            operations: operations, components: registry, componentRenames: report)
        let dangling = merged.danglingReferences()
        guard dangling.isEmpty else { throw OpenAPIDocumentError.danglingReferences(dangling) }
        return merged
    }

    /// A service name as a component-name prefix (`[A-Za-z0-9_-]` only).
    private static func prefix(_ service: String) -> String {
        let cleaned = service.unicodeScalars.map { scalar -> Character in
            scalar.properties.isAlphabetic && scalar.isASCII || ("0"..."9").contains(scalar) || scalar == "-"
                ? Character(scalar) : "_"
        }
        return String(cleaned)
    }
}

extension OpenAPIDocument.Operation {
    /// The operation with `transform` applied to each of its (resolved) schemas.
    func mappingSchemas(_ transform: (JSONSchema) -> JSONSchema) -> Self {
        func map(_ source: SchemaSource) -> SchemaSource {
            source.literal.map { .schema(transform($0)) } ?? source
        }
        var copy = self
        for index in copy.parameters.indices { copy.parameters[index].schema = map(copy.parameters[index].schema) }
        if var body = copy.requestBody {
            for index in body.content.indices { body.content[index].schema = map(body.content[index].schema) }
            copy.requestBody = body
        }
        for index in copy.responses.indices {
            for contentIndex in copy.responses[index].content.indices {
                copy.responses[index].content[contentIndex].schema = map(copy.responses[index].content[contentIndex].schema)
            }
            for headerIndex in copy.responses[index].headers.indices {
                copy.responses[index].headers[headerIndex].schema = transform(copy.responses[index].headers[headerIndex].schema)
            }
        }
        return copy
    }
}
