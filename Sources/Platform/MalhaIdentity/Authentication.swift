import Foundation
public import Hummingbird
public import MalhaCore
public import MalhaHTTP

/// What a route requires of its caller: which people (a user's token) and which service clients
/// (a client-credentials token, `client:<id>`) may pass.
///
/// A service client passes only by holding one of the route's `scopes` (or, when an admin gave it
/// one, one of its roles): `authenticated` means any *person*, so a client token created for
/// `catalog.read` opens nothing else.
public struct AccessPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Which people pass.
    public enum People: Sendable, Hashable {
        /// Anyone, with or without a token (a token is still read, and refused when invalid).
        case anyone
        /// Any valid user token.
        case anyUser
        /// A token holding at least one of these roles.
        case anyRole(Set<String>)
        /// Nobody by role: only clients holding one of the scopes.
        case noOne
    }

    public var people: People
    /// Service clients holding any one of these scopes pass too.
    public var scopes: Set<String>

    public init(people: People, scopes: Set<String> = []) {
        self.people = people
        self.scopes = scopes
    }

    public static let `public` = AccessPolicy(people: .anyone)
    public static let authenticated = AccessPolicy(people: .anyUser)
    public static let admin = AccessPolicy.anyRole([Role.admin])

    public static func anyRole(_ roles: Set<String>) -> AccessPolicy { AccessPolicy(people: .anyRole(roles)) }

    /// Only service clients holding one of `scopes`.
    public static func scopes(_ scopes: Set<String>) -> AccessPolicy { AccessPolicy(people: .noOne, scopes: scopes) }

    /// This policy, and service clients holding one of `scopes` as well.
    public func orScopes(_ more: Set<String>) -> AccessPolicy { AccessPolicy(people: people, scopes: scopes.union(more)) }

    public var description: String { wire }

    /// Whether `principal` may pass. Returns the problem to answer otherwise: 401 when there is
    /// no (valid) identity, 403 when the identity lacks the role or scope.
    public func evaluate(_ principal: Principal?) -> Problem? {
        if people == .anyone { return nil }
        guard let principal else { return .unauthorized("an access token is required") }
        if !principal.scopes.isDisjoint(with: scopes) { return nil }
        switch people {
        case .anyUser where !principal.isServiceClient:
            return nil
        case .anyRole(let roles) where !principal.roles.isDisjoint(with: roles):
            return nil
        default:
            return .forbidden(refusal(principal))
        }
    }

    func refusal(_ principal: Principal) -> String {
        var needs: [String] = []
        switch people {
        case .anyone, .noOne: break
        case .anyUser: needs.append("a user's token")
        case .anyRole(let roles): needs.append("one of the roles: \(roles.sorted().joined(separator: ", "))")
        }
        if !scopes.isEmpty { needs.append("a service token with one of the scopes: \(scopes.sorted().joined(separator: ", "))") }
        if needs.isEmpty { return "no token may call this operation" }
        return "this operation requires " + needs.joined(separator: ", or ")
    }
}

/// On the wire (a route rule a service registers, the gateway's routes file) a policy is one
/// string: `public`, `authenticated`, `roles:<role>[,<role>…]` or `scopes:<scope>[,<scope>…]`, or
/// `authenticated;scopes:…` / `roles:…;scopes:…` for either. Anything else fails to decode, so a
/// mistyped policy is refused where it is declared instead of the route being dropped.
extension AccessPolicy: Codable {
    /// What the wire form must look like (the decoding error's message).
    public static let wireFormat =
        "must be public, authenticated or roles:<role>[,<role>…], optionally ;scopes:<scope>[,<scope>…]"

    /// Parses the wire form; nil for anything else (including `roles:` with no role).
    public init?(wire: String) {
        let clauses = wire.split(separator: ";", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        func names(_ clause: String, after keyword: String) -> Set<String>? {
            guard clause.hasPrefix(keyword) else { return nil }
            let names = clause.dropFirst(keyword.count).split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return names.isEmpty ? nil : Set(names)
        }
        guard let first = clauses.first, clauses.count <= 2 else { return nil }
        var scopes: Set<String> = []
        if clauses.count == 2 {
            guard let listed = names(clauses[1], after: "scopes:") else { return nil }
            scopes = listed
        }
        switch first {
        case "public" where scopes.isEmpty: self = .public
        case "authenticated": self = AccessPolicy(people: .anyUser, scopes: scopes)
        default:
            if clauses.count == 1, let listed = names(first, after: "scopes:") {
                self = .scopes(listed)
            } else if let roles = names(first, after: "roles:") {
                self = AccessPolicy(people: .anyRole(roles), scopes: scopes)
            } else {
                return nil
            }
        }
    }

    /// The wire form (names sorted, so equal policies are equal strings).
    public var wire: String {
        let people: String? =
            switch self.people {
            case .anyone: "public"
            case .anyUser: "authenticated"
            case .anyRole(let roles): "roles:" + roles.sorted().joined(separator: ",")
            case .noOne: nil
            }
        let scopes = self.scopes.isEmpty ? nil : "scopes:" + self.scopes.sorted().joined(separator: ",")
        return [people, scopes].compactMap { $0 }.joined(separator: ";")
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

    public static func bearerToken(_ header: String) -> String? { AuthorizationHeader.bearerToken(header) }
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

/// Refuses, with 403 `mfa_required`, a caller whose token was issued without a second factor:
/// what the operations that could take over the platform (role changes, signing-key rotation,
/// refunds) put after their role check. Each service checks it itself (zero trust): a gateway
/// that forgot would not open them.
///
/// A service client's token never carries a second factor, so such an operation is a person's.
public struct SecondFactorMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try context.requireSecondFactor()
        return try await next(request, context)
    }
}

extension MalhaRequestContext {
    /// The caller, when their token was issued after a second factor (`amr` holds `otp`); 401
    /// without a token, 403 `mfa_required` after a password alone.
    @discardableResult
    public func requireSecondFactor() throws -> Principal {
        let principal = try requirePrincipal()
        guard principal.hasSecondFactor else { throw Problem.mfaRequired }
        return principal
    }
}

extension Problem {
    /// 403 `mfa_required`: the operation needs a token issued after a second factor.
    public static let mfaRequired = Problem(
        .forbidden, code: "mfa_required", title: "Forbidden",
        detail: "this operation requires a token issued after a second factor: enrol in MFA "
            + "(POST /v1/auth/mfa/enrolment) and log in again with a code")
}
