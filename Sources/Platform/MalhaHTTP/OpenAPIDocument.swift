import Foundation

/// A service's OpenAPI 3.1 description, declared next to its routes and served at `/openapi.json`.
///
/// It is written by hand (not derived from the router) so that a test can compare the two:
/// a route without documentation, or documentation without a route, fails the build's tests.
public struct OpenAPIDocument: Sendable {
    public enum Access: String, Sendable {
        case `public`, authenticated, admin, service
        /// The people who keep the books: the `finance` role or administrators.
        case finance
    }

    public struct Operation: Sendable {
        public var method: String
        public var path: String
        public var summary: String
        public var access: Access
        public var requestSchema: String?
        public var responses: [Int: String]

        public init(
            _ method: String, _ path: String, _ summary: String, access: Access = .public, request: String? = nil,
            responses: [Int: String]
        ) {
            self.method = method.uppercased()
            self.path = path
            self.summary = summary
            self.access = access
            self.requestSchema = request
            self.responses = responses
        }
    }

    public var title: String
    public var version: String
    public var operations: [Operation]

    public init(title: String, version: String, operations: [Operation]) {
        self.title = title
        self.version = version
        self.operations = operations + Self.platformOperations
    }

    /// Endpoints every service has.
    public static let platformOperations: [Operation] = [
        Operation("GET", "/health/live", "Liveness", responses: [200: "The process is alive"]),
        Operation("GET", "/health/ready", "Readiness", responses: [200: "Ready", 503: "Not ready yet"]),
        Operation("GET", "/metrics", "Prometheus metrics", responses: [200: "Text exposition format"]),
        Operation("GET", "/openapi.json", "This document", responses: [200: "OpenAPI 3.1"]),
    ]

    /// `METHOD /path` for every documented operation.
    public var routeKeys: Set<String> { Set(operations.map { "\($0.method) \($0.path)" }) }

    public func jsonObject() -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for operation in operations {
            var responses: [String: Any] = [:]
            for (status, description) in operation.responses {
                var response: [String: Any] = ["description": description]
                if status >= 400 {
                    response["content"] = ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]]
                }
                responses[String(status)] = response
            }
            var entry: [String: Any] = [
                "summary": operation.summary,
                "responses": responses,
                "x-malha-access": operation.access.rawValue,
            ]
            let parameters = Self.pathParameters(operation.path)
            if !parameters.isEmpty {
                entry["parameters"] = parameters.map {
                    ["name": $0, "in": "path", "required": true, "schema": ["type": "string"]] as [String: Any]
                }
            }
            if operation.access != .public { entry["security"] = [["bearer": [String]()]] }
            if let schema = operation.requestSchema {
                entry["requestBody"] = [
                    "required": true,
                    "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(schema)"]]],
                ]
            }
            paths[operation.path, default: [:]][operation.method.lowercased()] = entry
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": title, "version": version],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
                "schemas": [
                    "Problem": [
                        "type": "object",
                        "required": ["type", "title", "status", "code"],
                        "properties": [
                            "type": ["type": "string"], "title": ["type": "string"], "status": ["type": "integer"],
                            "code": ["type": "string"], "detail": ["type": "string"], "instance": ["type": "string"],
                            "errors": ["type": "array"],
                        ],
                    ]
                ],
            ],
        ]
    }

    public func jsonBytes() -> [UInt8] {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys])) ?? Data()
        return [UInt8](data)
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? String(segment.dropFirst().dropLast()) : nil
        }
    }
}
