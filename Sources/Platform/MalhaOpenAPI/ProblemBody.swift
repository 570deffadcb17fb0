/// The wire form of an RFC 9457 problem, as Malha's `Problem` writes it (`MalhaHTTP.ProblemBody`;
/// the lab keeps a copy so that it depends on nothing). Every problem response refers to its
/// component, `Problem`.
public struct ProblemBody: Codable, Sendable, Hashable {
    /// One field that broke a rule.
    public struct FieldError: Codable, Sendable, Hashable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// `https://malha.dev/problems/<code>`.
    public var type: String
    public var title: String
    public var status: Int
    /// Stable and machine-readable: `validation_failed`, `not_found`…
    public var code: String
    public var detail: String?
    /// The request path.
    public var instance: String?
    public var errors: [FieldError]?

    public init(
        type: String, title: String, status: Int, code: String, detail: String? = nil, instance: String? = nil,
        errors: [FieldError]? = nil
    ) {
        self.type = type
        self.title = title
        self.status = status
        self.code = code
        self.detail = detail
        self.instance = instance
        self.errors = errors
    }
}

extension ProblemBody: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("Problem"),
        .description("An RFC 9457 problem: the one error shape every Malha endpoint returns"),
        .property("type", .format(.uri), .description("https://malha.dev/problems/<code>")),
        .property("status", .range(100...599)),
        .property("code", .pattern("^[a-z0-9_]+$"), .description("Stable, machine-readable: validation_failed, not_found…")),
        .property("detail", .description("What went wrong this time")),
        .property("instance", .description("The request path")),
        .property("errors", .description("Every field that broke a rule (validation failures)")),
    ]
}

extension ProblemBody.FieldError: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .componentName("ProblemFieldError"),
        .property("field", .description("The field's wire name, e.g. amount_cents")),
    ]
}

extension ProblemBody {
    /// The usual meaning of a problem status in Malha, for responses listed by number only.
    static func describe(_ status: Int) -> String {
        switch status {
        case 400: "Bad request: malformed JSON, or an invalid parameter or header"
        case 401: "No bearer token, or an invalid or expired one"
        case 403: "The token lacks the role this operation needs"
        case 404: "Not found (or not visible to the caller)"
        case 405: "Method not allowed"
        case 406: "Not acceptable"
        case 409: "Conflict with the resource's current state"
        case 410: "Gone"
        case 412: "Precondition failed"
        case 413: "Request body too large"
        case 415: "Unsupported media type: send the documented content type"
        case 422: "Validation failed: the body or a parameter breaks a rule (errors lists each field)"
        case 428: "Precondition required"
        case 429: "Too many requests"
        case 500: "Internal error"
        case 502: "Bad gateway: the upstream service failed"
        case 503: "Unavailable: a dependency is not ready"
        case 504: "Gateway timeout"
        default: "Problem"
        }
    }

    /// The headers a problem of this status carries.
    static func headers(for status: Int) -> [OpenAPIDocument.ResponseHeader] {
        switch status {
        case 401: [.wwwAuthenticate]
        case 429, 503: [.retryAfter]
        default: []
        }
    }
}
