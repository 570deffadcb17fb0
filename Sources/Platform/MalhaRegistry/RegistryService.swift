public import Crypto
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaOpenAPI
import MalhaStore
import ServiceLifecycle

public struct RegistryConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    /// The key each service's credential derives from (`RegistryCredential`): an instance presents
    /// its own service's credential in `X-Registry-Token`, and may act only as that service.
    public var credentialKey: SymmetricKey
    /// Which service may claim which route prefixes.
    public var ownership: RouteOwnership
    /// How often lapsed leases are deleted (they stop being listed the moment they lapse).
    public var purgeInterval: Duration = .seconds(5)

    public init(credentialKey: SymmetricKey, ownership: RouteOwnership) {
        self.credentialKey = credentialKey
        self.ownership = ownership
    }
}

/// The service registry: instances register with a TTL lease, renew it, deregister on shutdown;
/// a lapsed lease drops the instance out of every listing.
public enum RegistryService {
    public static let name = "registry"
    public static let routeRules: [RouteRule] = [.roles([Role.admin], "/v1/registry")]

    /// The gateway view: `/v1/registry` needs an admin's token at the gateway, and registering,
    /// renewing and deregistering need the service's registry credential as well (instances call
    /// the registry directly, with their credential only).
    public static let openAPI = OpenAPIDocument.declaring {
        let instance = OpenAPIDocument.Security.bearer.and(.registryToken)
        let id = OpenAPIDocument.Parameter.path("id", .string(length: 1...64), description: "The instance id")
        return try OpenAPIDocument(
            service: name, title: "Malha registry", version: MalhaVersion.current,
            operations: [
                .post(
                    "/v1/registry/instances", "Register (or re-register) an instance", access: .admin, security: [instance],
                    body: .json(InstanceRegistration.self),
                    responses: [
                        .created(ServiceInstance.self, headers: []), .problem(401, "No or a wrong registry credential"),
                        .problem(403, "The credential is another service's, or a route prefix is not the service's"),
                        .problem(409, "The instance id belongs to another service"),
                    ]),
                .get(
                    "/v1/registry/instances", "List live instances", access: .admin,
                    responses: [.ok(InstanceList.self, "Every instance whose lease is live")]),
                .put(
                    "/v1/registry/instances/{id}/lease", "Renew a lease", access: .admin, security: [instance],
                    parameters: [
                        id, .query("ttl_seconds", .integer(1...300).defaulting(10), description: "The new lease, from now"),
                    ],
                    responses: [
                        .status(200, "Renewed"), .problem(401, "No or a wrong registry credential"),
                        .problem(404, "Unknown or lapsed: register again"), .problem(422, "ttl_seconds out of range"),
                    ]),
                .delete(
                    "/v1/registry/instances/{id}", "Deregister (an instance itself)", access: .admin, security: [instance],
                    parameters: [id],
                    responses: [
                        .noContent("Removed"), .problem(401, "No or a wrong registry credential"),
                        .problem(404, "Unknown, or another service's"),
                    ]),
            ])
    }

    public static let migrations = RegistryRepository.migrations

    public static func buildRouter(
        configuration: RegistryConfiguration, runtime: ServiceRuntime, repository: RegistryRepository,
        verifier: AccessTokenVerifier?, clock: any WallClock = SystemWallClock()
    ) -> Router<ServiceRequestContext> {
        let router = runtime.makeRouter(openAPI: openAPI)
        let routes = RegistryRoutes(configuration: configuration, repository: repository, clock: clock)
        let api = router.group("/v1/registry/instances")
        if let verifier { api.add(middleware: BearerAuthenticationMiddleware(verifier: verifier)) }
        api.post(use: routes.register)
        api.get(use: routes.list)
        api.put("{id}/lease", use: routes.renew)
        api.delete("{id}", use: routes.deregister)
        return router
    }

    public static func buildApplication(
        configuration: RegistryConfiguration, runtime: ServiceRuntime, store: any SQLStore,
        verifier: AccessTokenVerifier?, clock: any WallClock = SystemWallClock(), services: [any Service]
    ) -> some ApplicationProtocol {
        let repository = RegistryRepository(store: store)
        let router = buildRouter(
            configuration: configuration, runtime: runtime, repository: repository, verifier: verifier, clock: clock)
        runtime.readiness.require(.migrations)
        let purger = LeasePurger(
            repository: repository, interval: configuration.purgeInterval, clock: clock, logger: runtime.logger)
        return runtime.makeApplication(
            responder: router.buildResponder(), host: configuration.host, port: configuration.port,
            services: services + [purger]
        ) {
            try await Migrator.migrate(store, migrations, logger: runtime.logger)
            runtime.readiness.set(.migrations, true)
        }
    }
}

struct InstanceRegistration: Decodable, OpenAPISchemaAnnotating {
    var id: String
    var service: String
    var version: String
    var baseURL: String
    var healthURL: String
    var routes: [RouteRule]
    var ttlSeconds: Int

    enum CodingKeys: String, CodingKey {
        case id, service, version, routes
        case baseURL = "base_url"
        case healthURL = "health_url"
        case ttlSeconds = "ttl_seconds"
    }

    static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .length(1...64)),
        .property("service", .pattern("^[a-z0-9-]{1,64}$")),
        .property("version", .length(1...64)),
        .property("base_url", .maxLength(512), .pattern(urlPattern)),
        .property("health_url", .maxLength(512), .pattern(urlPattern)),
        .property("ttl_seconds", .range(1...300)),
        .property("routes", .items(0...100)),
    ]

    /// What `validate` accepts as a URL: http(s), a host, an optional port and path.
    static let urlPattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$"

    func validate() throws {
        var errors: [Problem.FieldError] = []
        let nameCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789-")
        if id.isEmpty || id.count > 64 { errors.append(.init(field: "id", message: "must be 1 to 64 characters")) }
        if service.isEmpty || service.count > 64 || service.unicodeScalars.contains(where: { !nameCharacters.contains($0) }) {
            errors.append(.init(field: "service", message: "must be 1 to 64 of a-z, 0-9 and -"))
        }
        if version.isEmpty || version.count > 64 { errors.append(.init(field: "version", message: "must be 1 to 64 characters")) }
        var origins: [String: String] = [:]
        for (field, url) in [("base_url", baseURL), ("health_url", healthURL)] {
            guard let components = URLComponents(string: url), let scheme = components.scheme,
                ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty, url.count <= 512
            else {
                errors.append(.init(field: field, message: "must be an http(s) URL with a host"))
                continue
            }
            origins[field] = "\(scheme)://\(host.lowercased()):\(components.port ?? (scheme == "https" ? 443 : 80))"
        }
        // The gateway probes the health URL: one on another host would make it a request forger
        // (SSRF) for whoever registers.
        if let base = origins["base_url"], let health = origins["health_url"], base != health {
            errors.append(.init(field: "health_url", message: "must be on the base_url's scheme, host and port"))
        }
        if !(1...300).contains(ttlSeconds) { errors.append(.init(field: "ttl_seconds", message: "must be 1 to 300")) }
        if routes.count > 100 { errors.append(.init(field: "routes", message: "at most 100 routes")) }
        for (index, route) in routes.enumerated() {
            if !route.prefix.hasPrefix("/") || route.prefix.count > 256 {
                errors.append(.init(field: "routes[\(index)].prefix", message: "must start with / (at most 256 characters)"))
            }
        }
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}

struct InstanceList: ResponseEncodable, Decodable {
    var items: [ServiceInstance]
}

struct RegistryRoutes: Sendable {
    let configuration: RegistryConfiguration
    let repository: RegistryRepository
    let clock: any WallClock

    /// Who is calling: an instance of one service (its credential), or an admin (a JWT).
    enum Caller {
        case service(String)
        case admin
    }

    /// Instances authenticate with their service's credential; people (admins) with a JWT.
    func authorize(_ request: Request, context: ServiceRequestContext, allowAdmin: Bool) throws -> Caller {
        if let presented = request.headers[.registryToken] {
            guard let credential = RegistryCredential(header: presented), credential.isValid(under: configuration.credentialKey)
            else {
                context.logger.warning("registry credential refused")
                throw Problem.unauthorized("the registry credential is not valid", challenge: "Registry-Token")
            }
            return .service(credential.service)
        }
        if allowAdmin, let principal = context.principal {
            guard principal.isAdmin else { throw Problem.forbidden("this registry operation requires the admin role") }
            return .admin
        }
        throw Problem.unauthorized("a registry credential or an admin access token is required")
    }

    /// The service an instance-only operation acts as.
    func requireService(_ request: Request, context: ServiceRequestContext) throws -> String {
        guard case .service(let service) = try authorize(request, context: context, allowAdmin: false) else {
            throw Problem.unauthorized("a registry credential is required")
        }
        return service
    }

    @Sendable func register(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<ServiceInstance> {
        let caller = try requireService(request, context: context)
        let registration = try await request.decode(as: InstanceRegistration.self, context: context)
        try registration.validate()
        guard registration.service == caller else {
            context.logger.warning(
                "registration refused: foreign service", metadata: ["credential": "\(caller)", "for": "\(registration.service)"])
            throw Problem(
                .forbidden, code: "foreign_service",
                detail: "this credential is \(caller)'s; it cannot register \(registration.service)")
        }
        let foreign = registration.routes.map(\.prefix).filter { !configuration.ownership.allows(caller, toClaim: $0) }
        guard foreign.isEmpty else {
            let owners = foreign.map { "\($0) (\(configuration.ownership.owner(of: $0) ?? "nobody"))" }
            context.logger.warning(
                "registration refused: routes not owned",
                metadata: ["for": "\(caller)", "routes": "\(owners.joined(separator: ", "))"])
            throw Problem(
                .forbidden, code: "route_not_owned",
                detail: "\(caller) does not own these route prefixes: \(owners.joined(separator: ", "))")
        }
        let now = clock.now()
        let instance = ServiceInstance(
            id: registration.id, service: registration.service, version: registration.version,
            baseURL: registration.baseURL, healthURL: registration.healthURL, routes: registration.routes,
            registeredAt: now, leaseExpiresAt: now.addingTimeInterval(Double(registration.ttlSeconds)))
        guard try await repository.upsert(instance) else {
            context.logger.warning(
                "registration refused: instance id held by another service",
                metadata: ["instance": "\(instance.id)", "for": "\(caller)"])
            throw Problem(
                .conflict, code: "instance_id_taken", detail: "instance \(instance.id) belongs to another service")
        }
        context.logger.info("instance registered", metadata: ["instance": "\(instance.id)", "for": "\(instance.service)"])
        return EditedResponse(status: .created, response: instance)
    }

    @Sendable func list(request: Request, context: ServiceRequestContext) async throws -> InstanceList {
        _ = try authorize(request, context: context, allowAdmin: true)
        return InstanceList(items: try await repository.live(at: clock.now()))
    }

    @Sendable func renew(request: Request, context: ServiceRequestContext) async throws -> Response {
        let service = try requireService(request, context: context)
        let id = try context.parameters.require("id")
        var ttl = 10
        if let raw = request.uri.queryParameters["ttl_seconds"] {
            // Strict: `ttl_seconds=abc` is refused, not read as the default.
            guard let value = Int(raw), (1...300).contains(value) else {
                throw Problem.validation(field: "ttl_seconds", "must be 1 to 300")
            }
            ttl = value
        }
        let now = clock.now()
        // Another service's instance reads as unknown: a credential reaches only its own instances.
        guard try await repository.renew(id: id, service: service, now: now, until: now.addingTimeInterval(Double(ttl))) else {
            throw Problem(
                .notFound, code: "lease_lapsed", detail: "instance \(id) is not registered (or its lease lapsed); register again")
        }
        return Response(status: .ok)
    }

    /// An instance deregisters itself (another service's instance reads as unknown).
    @Sendable func deregister(request: Request, context: ServiceRequestContext) async throws -> Response {
        let service = try requireService(request, context: context)
        let id = try context.parameters.require("id")
        guard try await repository.delete(id: id, service: service) else { throw Problem.notFound("Instance \(id)") }
        return Response(status: .noContent)
    }
}

extension HTTPField.Name {
    public static let registryToken = Self("X-Registry-Token")!
}

extension ServiceInstance: ResponseEncodable {}

/// Deletes lapsed leases periodically (listings already ignore them; this keeps the table small).
struct LeasePurger: Service {
    let repository: RegistryRepository
    let interval: Duration
    let clock: any WallClock
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch { return }
            do {
                try await repository.purgeExpired(before: clock.now())
            } catch {
                logger.warning("lease purge failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
