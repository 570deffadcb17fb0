/// A service's OpenAPI 3.1 description, declared next to its routes and served at `/openapi.json`.
///
/// Operations name Swift types; building the document derives every schema from them (the same
/// types the handlers decode and encode) into ``components``, so a field added to a request
/// type is documented without touching the document, and a type that cannot be derived fails
/// the build of the document, with the type named, instead of being documented wrong.
public struct OpenAPIDocument: Sendable {
    public var title: String
    public var version: String
    public var description: String?
    /// The service's name: the tag its operations are grouped under, and the prefix that
    /// disambiguates its components in a merged document.
    public var service: String
    public var servers: [String]
    public private(set) var operations: [Operation]
    public private(set) var components: SchemaRegistry
    /// Components a merge renamed because two services defined them differently.
    public private(set) var componentRenames: [ComponentRename]

    /// Builds and checks the document: every schema derived, no two operations on one route or
    /// with one id, every path parameter in its template, no dangling `$ref`.
    ///
    /// - Parameters:
    ///   - includePlatformOperations: adds `/health/live`, `/health/ready`, `/metrics` and
    ///     `/openapi.json`, which every Malha service serves.
    ///   - commonProblems: problem statuses every operation may answer (e.g. 429 where a rate
    ///     limiter runs in front of all of them).
    public init(
        service: String, title: String, version: String, description: String? = nil, servers: [String] = [],
        includePlatformOperations: Bool = true, commonProblems: [Int] = [], operations: [Operation]
    ) throws {
        self.title = title
        self.version = version
        self.description = description
        self.service = service
        self.servers = servers
        self.componentRenames = []
        var all = operations + (includePlatformOperations ? Self.platformOperations : [])
        for index in all.indices {
            if all[index].tags.isEmpty { all[index].tags = [all[index].isPlatform ? "platform" : service] }
            for status in commonProblems where !all[index].responses.contains(where: { $0.status == status }) {
                all[index].responses.append(ResponseSpec.problemResponse(status, nil))
            }
            all[index].responses.sort { $0.status < $1.status }
        }
        try Self.check(all)
        var registry = SchemaRegistry()
        self.operations = try all.map { try Self.resolving($0, in: &registry) }
        self.components = registry
        let dangling = danglingReferences()
        guard dangling.isEmpty else { throw OpenAPIDocumentError.danglingReferences(dangling) }
    }

    /// An already resolved document (a merge's result).
    init(
        service: String, title: String, version: String, description: String?, servers: [String],
        operations: [Operation], components: SchemaRegistry, componentRenames: [ComponentRename]
    ) {
        self.service = service
        self.title = title
        self.version = version
        self.description = description
        self.servers = servers
        self.operations = operations
        self.components = components
        self.componentRenames = componentRenames
    }

    /// `METHOD /path` for every documented operation (to compare with the router's routes).
    public var routeKeys: Set<String> { Set(operations.map(\.routeKey)) }

    /// Tags in first-use order.
    public var tags: [String] {
        var seen: [String] = []
        for operation in operations {
            for tag in operation.tags where !seen.contains(tag) { seen.append(tag) }
        }
        return seen
    }

    // MARK: Checks

    private static func check(_ operations: [Operation]) throws {
        var routes = Set<String>()
        var ids = Set<String>()
        for operation in operations {
            // `/a/{x}` and `/a/{y}` are one route to a router.
            let shape =
                operation.method.rawValue + " "
                + operation.path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") ? "{}" : String($0) }.joined(separator: "/")
            guard routes.insert(shape).inserted else { throw OpenAPIDocumentError.duplicateRoute(operation.routeKey) }
            guard ids.insert(operation.operationID).inserted else {
                throw OpenAPIDocumentError.duplicateOperationID(operation.operationID)
            }
            let template = Set(Operation.templateParameters(operation.path))
            for parameter in operation.parameters where parameter.location == .path && !template.contains(parameter.name) {
                throw OpenAPIDocumentError.pathParameterNotInTemplate(operation.routeKey, parameter.name)
            }
            var seen = Set<String>()
            for parameter in operation.parameters {
                // Header names are case-insensitive.
                let key =
                    parameter.location.rawValue + ":"
                    + (parameter.location == .header ? parameter.name.lowercased() : parameter.name)
                guard seen.insert(key).inserted else {
                    throw OpenAPIDocumentError.duplicateParameter(operation.routeKey, parameter.name)
                }
            }
        }
    }

    /// The operation with every schema source derived into `registry` and replaced by the
    /// (non-throwing) schema it produced.
    private static func resolving(_ operation: Operation, in registry: inout SchemaRegistry) throws -> Operation {
        var resolved = operation
        func resolve(_ source: SchemaSource, _ part: String) throws -> SchemaSource {
            do {
                return .schema(try source.resolve(in: &registry))
            } catch let error as SchemaDerivationError {
                throw OpenAPIDocumentError.schema(operation.routeKey, part, error)
            }
        }
        for index in resolved.parameters.indices {
            let parameter = resolved.parameters[index]
            resolved.parameters[index].schema = try resolve(parameter.schema, "parameter \(parameter.name)")
        }
        if var body = resolved.requestBody {
            for index in body.content.indices {
                body.content[index].schema = try resolve(body.content[index].schema, "request body")
            }
            resolved.requestBody = body
        }
        for index in resolved.responses.indices {
            let status = resolved.responses[index].status
            for contentIndex in resolved.responses[index].content.indices {
                resolved.responses[index].content[contentIndex].schema = try resolve(
                    resolved.responses[index].content[contentIndex].schema, "response \(status)")
            }
        }
        return resolved
    }

    /// Every `$ref` in the document that does not name a component it defines (empty for a
    /// document built by the initializer, which throws otherwise).
    public func danglingReferences() -> [String] {
        var references = Set<String>()
        for name in components.names {
            if let schema = components[name] { references.formUnion(schema.references) }
        }
        for operation in operations {
            for schema in operation.schemas { references.formUnion(schema.references) }
        }
        return references.filter { reference in
            guard reference.hasPrefix(JSONSchema.componentPrefix) else { return true }
            return components[String(reference.dropFirst(JSONSchema.componentPrefix.count))] == nil
        }.sorted()
    }

    // MARK: Platform

    /// Endpoints every service has. Public, tagged `platform`, left out of a merged document.
    public static let platformOperations: [Operation] = [
        Operation(
            .get, "/health/live", "Liveness", responses: [.status(200, "The process is alive", healthBody)], isPlatform: true),
        Operation(
            .get, "/health/ready", "Readiness",
            responses: [.status(200, "Ready", healthBody), .status(503, "Not ready yet: checks says which", healthBody)],
            isPlatform: true),
        Operation(
            .get, "/metrics", "Prometheus metrics", security: [.metricsToken, .anonymous],
            responses: [
                .status(200, "Text exposition format 0.0.4", contentType: "text/plain", schema: .string()),
                .problem(401, "Without the metrics token (metrics_token_required), unless metrics are public"),
            ],
            isPlatform: true),
        Operation(
            .get, "/openapi.json", "This document",
            responses: [.status(200, "OpenAPI 3.1", contentType: "application/json", schema: .typed(.object))],
            isPlatform: true),
    ]

    private static var healthBody: Content {
        Content(
            "application/json",
            .component(
                "HealthStatus",
                .object(
                    [
                        .init("status", .enumeration(["ok", "unavailable"])),
                        .init("service", .string()),
                        .init("instance", .string()),
                        .init("checks", .dictionary(of: .enumeration(["ok", "pending"]))),
                    ], required: ["status", "service", "instance", "checks"],
                    description: "A service instance's health and its readiness checks")))
    }
}

extension OpenAPIDocument.Operation {
    /// Every schema the operation uses (after the document resolved them).
    var schemas: [JSONSchema] {
        var result = parameters.compactMap(\.schema.literal)
        result += requestBody?.content.compactMap(\.schema.literal) ?? []
        for response in responses {
            result += response.content.compactMap(\.schema.literal)
            result += response.headers.map(\.schema)
        }
        return result
    }
}

/// A component a merge renamed.
public struct ComponentRename: Sendable, Hashable {
    public var service: String
    public var from: String
    public var to: String
}

/// Why a document could not be built or merged.
public enum OpenAPIDocumentError: Error, Sendable, Hashable, CustomStringConvertible {
    case duplicateRoute(String)
    case duplicateOperationID(String)
    case duplicateParameter(String, String)
    case pathParameterNotInTemplate(String, String)
    case schema(String, String, SchemaDerivationError)
    case danglingReferences([String])
    /// Two merged services document the same route.
    case routeInTwoServices(String, String, String)

    public var description: String {
        switch self {
        case .duplicateRoute(let route): "two operations document \(route)"
        case .duplicateOperationID(let id): "two operations have the operationId \(id)"
        case .duplicateParameter(let route, let name): "\(route) lists parameter \(name) twice"
        case .pathParameterNotInTemplate(let route, let name): "\(route) declares path parameter \(name), not in its path"
        case .schema(let route, let part, let error): "\(route), \(part): \(error)"
        case .danglingReferences(let references): "references to undefined components: \(references.joined(separator: ", "))"
        case .routeInTwoServices(let route, let first, let second): "\(route) is documented by both \(first) and \(second)"
        }
    }
}

extension OpenAPIDocument {
    /// A service's document, declared in code as a static value: a document that cannot be built
    /// (a type whose schema cannot be derived, a dangling reference) is a programming error, so
    /// it stops the process at first use with the reason, and the test that builds every
    /// service's document fails on it before anything ships.
    public static func declaring(_ build: () throws -> OpenAPIDocument) -> OpenAPIDocument {
        do {
            return try build()
        } catch {
            preconditionFailure("OpenAPI document: \(error)")
        }
    }
}
