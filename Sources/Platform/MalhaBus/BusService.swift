import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP
public import MalhaIdentity
public import MalhaMessaging
public import MalhaOpenAPI
public import MalhaRegistry
public import ServiceLifecycle

public struct BusConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    public init() {}
}

/// The bus service: the HTTP face of the bus's dead letters (list, inspect, replay, purge), for
/// administrators through the gateway. The transport itself runs inside each service that
/// publishes or consumes; this service only needs the `DeadLetterStore`.
public enum BusService {
    public static let name = "bus"
    public static let routeRules: [RouteRule] = [.roles([Role.admin], "/v1/admin/dead-letters")]

    public static let openAPI = OpenAPIDocument.declaring {
        let subscription = OpenAPIDocument.Parameter.path(
            "subscription", .string(length: 1...128), description: "The consumer's subscription name")
        let selection = OpenAPIDocument.RequestBody.json(
            DeadLetterSelection.self, description: "Which dead letters: some ids, or all of the subscription")
        return try OpenAPIDocument(
            service: name, title: "Malha bus", version: MalhaVersion.current,
            operations: [
                .get(
                    "/v1/admin/dead-letters", "List dead letters, oldest first", access: .admin,
                    parameters: [
                        .query("subscription", .string(length: 1...128), description: "Only this subscription's"),
                        .query("limit", .integer(1...100).defaulting(50)),
                        .query("cursor", .string(length: 1...64), description: "The previous page's next_cursor"),
                    ],
                    responses: [
                        .page(of: DeadLetterView.self), .problem(400, "A cursor this endpoint did not issue"),
                        .problem(422, "Invalid subscription or limit"),
                    ]),
                .get(
                    "/v1/admin/dead-letters/{subscription}/{id}", "One dead letter with every attempt", access: .admin,
                    parameters: [subscription, .path("id", description: "The message id")],
                    responses: [.ok(DeadLetterView.self), .problem(404, "No such dead letter"), .problem(422)]),
                .post(
                    "/v1/admin/dead-letters/{subscription}/replay", "Put dead letters back on their subscription",
                    access: .admin, parameters: [subscription], body: selection,
                    responses: [.ok(DeadLetterCount.self, "How many were replayed")]),
                .post(
                    "/v1/admin/dead-letters/{subscription}/purge", "Delete dead letters", access: .admin,
                    parameters: [subscription], body: selection,
                    responses: [.ok(DeadLetterCount.self, "How many were purged")]),
            ])
    }

    public static func buildRouter(
        runtime: ServiceRuntime, deadLetters: any DeadLetterStore, verifier: AccessTokenVerifier
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        let admin = router.group("/v1/admin/dead-letters")
            .add(middleware: BearerAuthenticationMiddleware(verifier: verifier))
            .add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.admin))
        let routes = DeadLetterRoutes(deadLetters: deadLetters)
        admin.get { request, _ in try await routes.list(request) }
        admin.get("{subscription}/{id}") { _, context in try await routes.show(context) }
        admin.post("{subscription}/replay") { request, context in try await routes.replay(request, context: context) }
        admin.post("{subscription}/purge") { request, context in try await routes.purge(request, context: context) }
        return router
    }

    /// `migrate` prepares the bus database once its store runs; readiness waits for it.
    public static func buildApplication(
        configuration: BusConfiguration, runtime: ServiceRuntime, deadLetters: any DeadLetterStore,
        verifier: AccessTokenVerifier, services: [any Service], migrate: @escaping @Sendable () async throws -> Void
    ) -> some ApplicationProtocol {
        let router = buildRouter(runtime: runtime, deadLetters: deadLetters, verifier: verifier)
        runtime.readiness.require(.migrations)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port, services: services
        ) {
            try await migrate()
            runtime.readiness.set(.migrations, true)
        }
    }
}

/// Which dead letters an operation applies to: some ids, or (explicitly) all of the subscription.
struct DeadLetterSelection: Decodable {
    var ids: [String]?
    var all: Bool?

    /// nil ids: all of them.
    func resolved() throws -> [String]? {
        switch (ids, all) {
        case (let ids?, nil), (let ids?, false?):
            guard !ids.isEmpty, ids.count <= 1000, ids.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.count <= 64 }) else {
                throw Problem.validation(field: "ids", "1 to 1000 message ids")
            }
            return ids
        case (nil, true?):
            return nil
        default:
            throw Problem.validation(field: "ids", "give either ids or all: true")
        }
    }
}

/// How many dead letters an operation replayed or purged.
struct DeadLetterCount: ResponseEncodable, Decodable {
    var count: Int
}

extension DeadLetterSelection: OpenAPISchemaProviding {
    static var openAPIComponentName: String? { "DeadLetterSelection" }

    /// Either `ids` (with `all` absent, null or false) or `all: true` (with `ids` absent or
    /// null), as `resolved()` reads them.
    static var openAPISchema: JSONSchema {
        let ids = JSONSchema.array(of: .string(length: 1...64), minItems: 1, maxItems: 1000)
        var some = JSONSchema.object(
            [.init("ids", ids), .init("all", .anyOf([.constant(false), .constant(nil)]))], required: ["ids"])
        some.description = "These message ids (1 to 1000)"
        var all = JSONSchema.object([.init("all", .constant(true)), .init("ids", .constant(nil))], required: ["all"])
        all.description = "Every dead letter of the subscription"
        return .oneOf([some, all], description: "Give either ids or all: true")
    }
}

struct DeadLetterRoutes: Sendable {
    let deadLetters: any DeadLetterStore

    func list(_ request: Request) async throws -> Page<DeadLetterView> {
        let query = request.uri.queryParameters
        let subscription = query["subscription"].map(String.init)
        if let subscription { try Self.validate(subscription: subscription) }
        var limit = 50
        if let raw = query["limit"] {
            guard let value = Int(raw), (1...100).contains(value) else {
                throw Problem.validation(field: "limit", "an integer from 1 to 100")
            }
            limit = value
        }
        let cursor = query["cursor"].map(String.init)
        if let cursor, cursor.isEmpty || cursor.unicodeScalars.count > 64 {
            throw Problem.badRequest("invalid_cursor", "the cursor is not one this endpoint issued")
        }
        let letters = try await deadLetters.deadLetters(subscription: subscription, limit: limit + 1, after: cursor)
        let page = letters.prefix(limit)
        return Page(items: page.map(DeadLetterView.init), nextCursor: letters.count > limit ? page.last?.envelope.id : nil)
    }

    func show(_ context: ServiceRequestContext) async throws -> DeadLetterView {
        let subscription = try context.parameters.requireDecoded("subscription")
        try Self.validate(subscription: subscription)
        let id = try context.parameters.requireDecoded("id")
        guard let letter = try await deadLetters.deadLetter(id: id, subscription: subscription) else {
            throw Problem.notFound("Dead letter")
        }
        return DeadLetterView(letter)
    }

    func replay(_ request: Request, context: ServiceRequestContext) async throws -> DeadLetterCount {
        let (subscription, ids) = try await Self.selection(request, context: context)
        return DeadLetterCount(count: try await deadLetters.replay(subscription: subscription, ids: ids))
    }

    func purge(_ request: Request, context: ServiceRequestContext) async throws -> DeadLetterCount {
        let (subscription, ids) = try await Self.selection(request, context: context)
        return DeadLetterCount(count: try await deadLetters.purge(subscription: subscription, ids: ids))
    }

    /// The subscription in the path and the dead letters the body selects (nil ids: all).
    static func selection(_ request: Request, context: ServiceRequestContext) async throws -> (String, [String]?) {
        let subscription = try context.parameters.requireDecoded("subscription")
        try validate(subscription: subscription)
        return (subscription, try await request.decode(as: DeadLetterSelection.self, context: context).resolved())
    }

    static func validate(subscription: String) throws {
        // Code points, as the document (JSON Schema) counts them.
        guard !subscription.isEmpty, subscription.unicodeScalars.count <= 128 else {
            throw Problem.validation(field: "subscription", "1 to 128 characters")
        }
    }
}

extension DeadLetterView: ResponseEncodable {}
