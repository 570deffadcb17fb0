import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP

/// What a route requires of its caller.
public enum AccessPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Anyone; a valid token is still read (so handlers can personalise), an invalid one is refused.
    case `public`
    /// Any valid access token.
    case authenticated
    /// A valid token holding at least one of these roles.
    case anyRole(Set<String>)

    public static let admin = AccessPolicy.anyRole([Role.admin])

    public var description: String {
        switch self {
        case .public: "public"
        case .authenticated: "authenticated"
        case .anyRole(let roles): "roles(\(roles.sorted().joined(separator: ",")))"
        }
    }

    /// Whether `principal` may pass. Returns the problem to answer otherwise: 401 when there is
    /// no (valid) identity, 403 when the identity lacks the role.
    public func evaluate(_ principal: Principal?) -> Problem? {
        switch self {
        case .public:
            return nil
        case .authenticated:
            return principal == nil ? .unauthorized("an access token is required") : nil
        case .anyRole(let roles):
            guard let principal else { return .unauthorized("an access token is required") }
            return principal.roles.isDisjoint(with: roles)
                ? .forbidden("this operation requires one of the roles: \(roles.sorted().joined(separator: ", "))") : nil
        }
    }
}

/// On the wire (a route rule a service registers, the gateway's routes file) a policy is one
/// string: `public`, `authenticated`, or `roles:<role>[,<role>…]`. Anything else fails to decode,
/// so a mistyped policy is refused where it is declared instead of the route being dropped.
extension AccessPolicy: Codable {
    /// What the wire form must look like (the decoding error's message).
    public static let wireFormat = "must be public, authenticated or roles:<role>[,<role>…]"

    /// Parses the wire form; nil for anything else (including `roles:` with no role).
    public init?(wire: String) {
        switch wire {
        case "public": self = .public
        case "authenticated": self = .authenticated
        default:
            guard wire.hasPrefix("roles:") else { return nil }
            let roles = wire.dropFirst("roles:".count).split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !roles.isEmpty else { return nil }
            self = .anyRole(Set(roles))
        }
    }

    /// The wire form (roles sorted, so equal policies are equal strings).
    public var wire: String {
        switch self {
        case .public: "public"
        case .authenticated: "authenticated"
        case .anyRole(let roles): "roles:" + roles.sorted().joined(separator: ",")
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let policy = AccessPolicy(wire: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: Self.wireFormat)
        }
        self = policy
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wire)
    }
}

/// Reads `Authorization: Bearer …`, verifies it, and puts the principal on the context.
/// A present but invalid token is refused with 401 even on public routes.
public struct BearerAuthenticationMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    let verifier: AccessTokenVerifier

    public init(verifier: AccessTokenVerifier) {
        self.verifier = verifier
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard let token = Self.bearerToken(header) else {
            throw Problem.unauthorized(
                "the Authorization header must be 'Bearer <token>'", challenge: #"Bearer error="invalid_request""#)
        }
        var context = context
        do {
            context.principal = try await verifier.verify(token)
        } catch {
            context.logger.info("token refused", metadata: ["reason": "\(error)"])
            throw Problem.unauthorized(error.description, challenge: #"Bearer error="invalid_token""#)
        }
        context.logger[metadataKey: "subject"] = .string(context.principal!.subject)
        return try await next(request, context)
    }

    public static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Enforces an `AccessPolicy` on the routes of a group.
public struct AccessPolicyMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    let policy: AccessPolicy

    public init(_ policy: AccessPolicy) {
        self.policy = policy
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let problem = policy.evaluate(context.principal) { throw problem }
        return try await next(request, context)
    }
}

extension MalhaRequestContext {
    /// The caller, or 401 when the route was reached without one.
    public func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthorized("an access token is required") }
        return principal
    }
}
