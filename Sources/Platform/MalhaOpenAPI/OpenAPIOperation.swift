extension OpenAPIDocument {
    /// Who may call an operation. Anything but `public` needs a bearer JWT.
    public enum Access: String, Sendable, Hashable, CaseIterable {
        case `public`, authenticated, admin, service
        /// The people who keep the books: the `finance` role or administrators.
        case finance

        /// Whether a valid token can still be refused (403) for lacking a role.
        var needsRole: Bool { self == .admin || self == .service || self == .finance }

        /// What the docs page says.
        var label: String {
            switch self {
            case .public: "public (no token)"
            case .authenticated: "any valid bearer token"
            case .admin: "bearer token with the admin role"
            case .service: "bearer token of a service client"
            case .finance: "bearer token with the finance or admin role"
            }
        }
    }

    public enum Method: String, Sendable, Hashable, CaseIterable {
        case get, put, post, delete, patch, head, options
    }

    /// Whether an operation takes an `Idempotency-Key` header.
    public enum IdempotencyKey: Sendable, Hashable {
        case none, optional, required
    }

    /// One way to authenticate (an OpenAPI security requirement): every scheme listed at once.
    public struct Security: Sendable, Hashable {
        public var schemes: [String]

        /// `Authorization: Bearer <JWT>`.
        public static let bearer = Security(schemes: ["bearer"])
        /// `Authorization: Basic …` (OAuth client credentials).
        public static let basic = Security(schemes: ["basic"])
        /// `X-Registry-Token`: the credential a service's instances register with (their own service's).
        public static let registryToken = Security(schemes: ["registryToken"])
        /// `Authorization: Bearer <metrics token>`: what a Prometheus scraper presents for `/metrics`.
        public static let metricsToken = Security(schemes: ["metricsToken"])
        /// Both at once (a bearer token and the registry token, say).
        public func and(_ other: Security) -> Security { Security(schemes: schemes + other.schemes) }
        /// No credentials: listed next to another, it makes that one optional.
        public static let anonymous = Security(schemes: [])

        /// The `components.securitySchemes` entry of each scheme this module knows.
        static let schemeObjects: [String: JSONValue] = [
            "bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"],
            "basic": ["type": "http", "scheme": "basic"],
            "registryToken": ["type": "apiKey", "in": "header", "name": "X-Registry-Token"],
            "metricsToken": [
                "type": "http", "scheme": "bearer",
                "description": "The metrics token (malha.metrics.token); none when malha.metrics.public is set",
            ],
        ]
    }

    /// A request or response body in one media type.
    public struct Content: Sendable {
        public var mediaType: String
        public var schema: SchemaSource

        public init(_ mediaType: String, _ schema: SchemaSource) {
            self.mediaType = mediaType
            self.schema = schema
        }
    }

    /// A path, query or header parameter.
    public struct Parameter: Sendable {
        public enum Location: String, Sendable, Hashable {
            case path, query, header, cookie
        }

        public var name: String
        public var location: Location
        public var required: Bool
        public var description: String?
        public var schema: SchemaSource
        public var deprecated: Bool

        public init(
            _ name: String, in location: Location, _ schema: SchemaSource, required: Bool = false,
            description: String? = nil, deprecated: Bool = false
        ) {
            self.name = name
            self.location = location
            // OpenAPI: a path parameter is always required.
            self.required = location == .path || required
            self.description = description
            self.schema = schema
            self.deprecated = deprecated
            if location == .path, var text = schema.literal, text.types == [.string], text.pattern == nil,
                text.format == nil, text.enumValues == nil
            {
                text.pattern = Self.pathSegmentPattern
                self.schema = .schema(text)
            }
        }

        /// What a path segment may hold through the gateway, which refuses `;` and `\` (raw or
        /// encoded) and NUL in a path (`CanonicalPath`): documented so clients and fuzzers know.
        public static let pathSegmentPattern = "^[^;\\\\\\x00]*$"

        /// A path segment, a non-empty string unless said otherwise.
        public static func path(
            _ name: String, _ schema: JSONSchema = .string(minLength: 1), description: String? = nil
        )
            -> Parameter
        {
            Parameter(name, in: .path, .schema(schema), description: description)
        }

        /// A path segment documented as `type` (`UUID.self` → a uuid string).
        public static func path<T: Decodable>(_ name: String, _ type: T.Type, description: String? = nil) -> Parameter {
            Parameter(name, in: .path, .derived(type), description: description)
        }

        public static func query(
            _ name: String, _ schema: JSONSchema, required: Bool = false, description: String? = nil
        ) -> Parameter {
            Parameter(name, in: .query, .schema(schema), required: required, description: description)
        }

        /// A query parameter documented as `type` (an enum becomes its component).
        public static func query<T: Decodable>(
            _ name: String, _ type: T.Type, required: Bool = false, description: String? = nil
        ) -> Parameter {
            Parameter(name, in: .query, .derived(type), required: required, description: description)
        }

        public static func header(
            _ name: String, _ schema: JSONSchema, required: Bool = false, description: String? = nil
        ) -> Parameter {
            Parameter(name, in: .header, .schema(schema), required: required, description: description)
        }

        /// The client's key for a request that must take effect once: 1 to 255 visible ASCII
        /// characters (what Malha's idempotency middleware accepts).
        public static func idempotencyKey(required: Bool) -> Parameter {
            .header(
                "Idempotency-Key", .string(minLength: 1, maxLength: 255, pattern: "^[!-~]{1,255}$"), required: required,
                description: "Makes the request take effect once: a retry with the same key and body gets the first "
                    + "answer (marked Idempotent-Replayed: true); the same key with another body is refused (422)")
        }

        /// A conditional GET: the `ETag` of the copy the client holds (304 when unchanged).
        /// Any value: one that matches no current ETag (an empty one included) is no condition.
        public static let ifNoneMatch = Parameter.header(
            "If-None-Match", .string(),
            description: "ETag(s) of the representation the client has; 304 Not Modified when it is current")
    }

    /// A request body: its media types and their schemas.
    public struct RequestBody: Sendable {
        public var description: String?
        public var required: Bool
        public var content: [Content]

        public init(_ content: [Content], required: Bool = true, description: String? = nil) {
            self.content = content
            self.required = required
            self.description = description
        }

        /// `application/json`, documented as `type` decodes it.
        public static func json<T: Decodable>(
            _ type: T.Type, required: Bool = true, description: String? = nil
        )
            -> RequestBody
        {
            RequestBody([Content("application/json", .derived(type))], required: required, description: description)
        }

        /// `application/x-www-form-urlencoded` (an OAuth token endpoint), and JSON as well when
        /// `orJSON`: the fields `type` decodes.
        public static func form<T: Decodable>(
            _ type: T.Type, orJSON: Bool = false, required: Bool = true, description: String? = nil
        ) -> RequestBody {
            var content = [Content("application/x-www-form-urlencoded", .derived(type))]
            if orJSON { content.append(Content("application/json", .derived(type))) }
            return RequestBody(content, required: required, description: description)
        }
    }

    /// A header an operation's response may carry.
    public struct ResponseHeader: Sendable, Hashable {
        public var name: String
        public var description: String
        public var required: Bool
        public var schema: JSONSchema

        public init(_ name: String, _ schema: JSONSchema = .string(), required: Bool = false, description: String) {
            self.name = name
            self.schema = schema
            self.required = required
            self.description = description
        }

        public static let etag = ResponseHeader(
            "ETag", .string(minLength: 1), required: true,
            description: "The representation's entity tag (send it back in If-None-Match)")
        public static let location = ResponseHeader(
            "Location", .string(format: .uriReference), required: true, description: "The created resource")
        public static let idempotentReplayed = ResponseHeader(
            "Idempotent-Replayed", .enumeration(["true"]),
            description: "Present when this is the stored answer to an earlier request with the same Idempotency-Key")
        public static let retryAfter = ResponseHeader(
            "Retry-After", .integer(minimum: 1), description: "Seconds to wait before retrying")
        public static let wwwAuthenticate = ResponseHeader(
            "WWW-Authenticate", .string(), required: true, description: "The authentication challenge")
    }

    /// One documented response status.
    public struct Response: Sendable {
        public var status: Int
        public var description: String
        public var content: [Content]
        public var headers: [ResponseHeader]

        public init(_ status: Int, _ description: String, content: [Content] = [], headers: [ResponseHeader] = []) {
            self.status = status
            self.description = description
            self.content = content
            self.headers = headers
        }

        /// Whether it is an RFC 9457 problem.
        public var isProblem: Bool { content.contains { $0.mediaType == "application/problem+json" } }
    }

    /// One or more documented responses, as an operation lists them:
    /// `[.created(LedgerEntry.self, headers: [.location]), .problem(404, 409)]`.
    public struct ResponseSpec: Sendable {
        public var responses: [Response]

        public init(_ responses: [Response]) { self.responses = responses }

        /// A JSON body documented as `type`.
        public static func status<T: Decodable>(
            _ status: Int, _ type: T.Type, _ description: String, headers: [ResponseHeader] = []
        ) -> ResponseSpec {
            ResponseSpec([Response(status, description, content: [Content("application/json", .derived(type))], headers: headers)]
            )
        }

        /// A status without a body.
        public static func status(_ status: Int, _ description: String, headers: [ResponseHeader] = []) -> ResponseSpec {
            ResponseSpec([Response(status, description, headers: headers)])
        }

        /// A body of any media type with a literal schema (`text/plain`, a hand-written shape).
        public static func status(
            _ status: Int, _ description: String, contentType: String, schema: JSONSchema, headers: [ResponseHeader] = []
        ) -> ResponseSpec {
            ResponseSpec([Response(status, description, content: [Content(contentType, .schema(schema))], headers: headers)])
        }

        /// A body in one media type.
        public static func status(
            _ status: Int, _ description: String, _ content: Content, headers: [ResponseHeader] = []
        ) -> ResponseSpec {
            ResponseSpec([Response(status, description, content: [content], headers: headers)])
        }

        public static func ok<T: Decodable>(
            _ type: T.Type, _ description: String = "OK", headers: [ResponseHeader] = []
        )
            -> ResponseSpec
        {
            .status(200, type, description, headers: headers)
        }

        /// 200 with one page of `item`s: `{items, next_cursor}`.
        public static func page<T: Decodable>(
            of item: T.Type, _ description: String = "One page, in list order"
        )
            -> ResponseSpec
        {
            ResponseSpec([Response(200, description, content: [Content("application/json", .page(of: item))])])
        }

        public static func created<T: Decodable>(
            _ type: T.Type, _ description: String = "Created", headers: [ResponseHeader] = [.location]
        ) -> ResponseSpec {
            .status(201, type, description, headers: headers)
        }

        public static func accepted<T: Decodable>(
            _ type: T.Type, _ description: String = "Accepted", headers: [ResponseHeader] = []
        ) -> ResponseSpec {
            .status(202, type, description, headers: headers)
        }

        public static func noContent(
            _ description: String = "Done; no body", headers: [ResponseHeader] = []
        )
            -> ResponseSpec
        {
            .status(204, description, headers: headers)
        }

        /// 304 for a conditional GET whose `If-None-Match` still matches.
        public static let notModified = ResponseSpec.status(
            304, "Not modified: the client's copy (If-None-Match) is current", headers: [.etag])

        /// Problem responses (`application/problem+json`) with the usual description of each status.
        public static func problem(_ statuses: Int...) -> ResponseSpec {
            ResponseSpec(statuses.map { problemResponse($0, nil) })
        }

        /// One problem response, described for this operation.
        public static func problem(_ status: Int, _ description: String) -> ResponseSpec {
            ResponseSpec([problemResponse(status, description)])
        }

        /// The 403 of an operation that needs a second factor (`SecondFactorMiddleware`) after its role.
        public static let forbiddenWithoutSecondFactor = problem(
            403, "forbidden: the token lacks the role; mfa_required: the token was issued without a second factor")

        static func problemResponse(_ status: Int, _ description: String?) -> Response {
            Response(
                status, description ?? ProblemBody.describe(status),
                content: [Content("application/problem+json", .derived(ProblemBody.self))],
                headers: ProblemBody.headers(for: status))
        }
    }

    /// One operation: a method on a path template, what it takes and what it answers.
    public struct Operation: Sendable {
        public var method: Method
        public var path: String
        public var summary: String
        public var description: String?
        /// Given, or made from the method and the path (`post /v1/accounts/{id}/entries` →
        /// `postV1AccountsByIdEntries`): stable as long as the route is.
        public var operationID: String
        /// Empty: the document's service.
        public var tags: [String]
        public var access: Access
        /// Alternatives, any one of which authenticates; empty: none needed.
        public var security: [Security]
        public var parameters: [Parameter]
        public var requestBody: RequestBody?
        public var responses: [Response]
        public var deprecated: Bool
        /// `/health/*`, `/metrics`, `/openapi.json`: every service has them; a merged public
        /// document leaves them out.
        public var isPlatform: Bool

        /// The operation, completed with what its declaration implies: undeclared path
        /// parameters (non-empty strings), the `Idempotency-Key` and `If-None-Match` headers,
        /// and the responses the platform gives whether or not the handler does (401 without a
        /// token, 403 without the role, 304 for a conditional GET, 400/415/422 for a body, 409/422
        /// for an idempotency key), each only when not listed already.
        public init(
            _ method: Method, _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            idempotencyKey: IdempotencyKey = .none, ifNoneMatch: Bool = false, body: RequestBody? = nil,
            responses: [ResponseSpec], deprecated: Bool = false, isPlatform: Bool = false
        ) {
            self.method = method
            self.path = path
            self.summary = summary
            self.description = description
            self.operationID = operationID ?? Self.operationID(method, path)
            self.tags = tags
            self.access = access
            self.security = security ?? (access == .public ? [] : [.bearer])
            self.requestBody = body
            self.deprecated = deprecated
            self.isPlatform = isPlatform

            var parameters = parameters
            for name in Self.templateParameters(path)
            where !parameters.contains(where: { $0.location == .path && $0.name == name }) {
                parameters.append(.path(name))
            }
            switch idempotencyKey {
            case .none: break
            case .optional: parameters.append(.idempotencyKey(required: false))
            case .required: parameters.append(.idempotencyKey(required: true))
            }
            if ifNoneMatch { parameters.append(.ifNoneMatch) }
            self.parameters = parameters

            var listed = responses.flatMap(\.responses)
            func add(_ status: Int, _ response: @autoclosure () -> Response) {
                if !listed.contains(where: { $0.status == status }) { listed.append(response()) }
            }
            if ifNoneMatch { add(304, ResponseSpec.notModified.responses[0]) }
            if body != nil {
                add(400, ResponseSpec.problemResponse(400, nil))
                add(415, ResponseSpec.problemResponse(415, nil))
                add(422, ResponseSpec.problemResponse(422, nil))
            }
            if idempotencyKey != .none {
                add(400, ResponseSpec.problemResponse(400, nil))
                add(409, ResponseSpec.problemResponse(409, "The first request with this Idempotency-Key is still running"))
                add(422, ResponseSpec.problemResponse(422, nil))
            }
            if !self.security.isEmpty && !self.security.contains(.anonymous) {
                add(401, ResponseSpec.problemResponse(401, nil))
            }
            if access.needsRole { add(403, ResponseSpec.problemResponse(403, nil)) }
            if parameters.contains(where: { $0.location == .path }) {
                add(400, ResponseSpec.problemResponse(400, "invalid_path: a path spelling the gateway refuses"))
            }
            self.responses = listed.sorted { $0.status < $1.status }
        }

        public static func get(
            _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            ifNoneMatch: Bool = false, responses: [ResponseSpec]
        ) -> Operation {
            Operation(
                .get, path, summary, description: description, operationID: operationID, tags: tags, access: access,
                security: security, parameters: parameters, ifNoneMatch: ifNoneMatch, responses: responses)
        }

        public static func post(
            _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            idempotencyKey: IdempotencyKey = .none, body: RequestBody? = nil, responses: [ResponseSpec]
        ) -> Operation {
            Operation(
                .post, path, summary, description: description, operationID: operationID, tags: tags, access: access,
                security: security, parameters: parameters, idempotencyKey: idempotencyKey, body: body,
                responses: responses)
        }

        public static func put(
            _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            idempotencyKey: IdempotencyKey = .none, body: RequestBody? = nil, responses: [ResponseSpec]
        ) -> Operation {
            Operation(
                .put, path, summary, description: description, operationID: operationID, tags: tags, access: access,
                security: security, parameters: parameters, idempotencyKey: idempotencyKey, body: body,
                responses: responses)
        }

        public static func patch(
            _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            idempotencyKey: IdempotencyKey = .none, body: RequestBody? = nil, responses: [ResponseSpec]
        ) -> Operation {
            Operation(
                .patch, path, summary, description: description, operationID: operationID, tags: tags, access: access,
                security: security, parameters: parameters, idempotencyKey: idempotencyKey, body: body,
                responses: responses)
        }

        public static func delete(
            _ path: String, _ summary: String, description: String? = nil, operationID: String? = nil,
            tags: [String] = [], access: Access = .public, security: [Security]? = nil, parameters: [Parameter] = [],
            idempotencyKey: IdempotencyKey = .none, responses: [ResponseSpec]
        ) -> Operation {
            Operation(
                .delete, path, summary, description: description, operationID: operationID, tags: tags, access: access,
                security: security, parameters: parameters, idempotencyKey: idempotencyKey, responses: responses)
        }

        /// `METHOD /path`, as the router and the tests that compare it with the docs spell it.
        public var routeKey: String { "\(method.rawValue.uppercased()) \(path)" }

        /// The `{name}` variables of a path template, in order.
        public static func templateParameters(_ path: String) -> [String] {
            path.split(separator: "/").compactMap { segment in
                segment.hasPrefix("{") && segment.hasSuffix("}") && segment.count > 2
                    ? String(segment.dropFirst().dropLast()) : nil
            }
        }

        /// `get /v1/accounts/{id}/entries` → `getV1AccountsByIdEntries`.
        public static func operationID(_ method: Method, _ path: String) -> String {
            var id = method.rawValue
            for segment in path.split(separator: "/") {
                if segment.hasPrefix("{") && segment.hasSuffix("}") {
                    id += "By" + camel(segment.dropFirst().dropLast())
                } else {
                    id += camel(segment)
                }
            }
            return id
        }

        private static func camel(_ text: Substring) -> String {
            text.split(whereSeparator: { !($0.isLetter || $0.isNumber) || !$0.isASCII })
                .map { word in word.prefix(1).uppercased() + word.dropFirst() }
                .joined()
        }
    }
}
