import Foundation
import MalhaIdentity
import MalhaRegistry

/// The declarative routes file: upstreams that do not register themselves (a legacy system).
///
/// ```json
/// {"routes":[{"prefix":"/legacy","upstreams":["http://127.0.0.1:9000"],"policy":"public",
///             "timeout_ms":2000,"strip_prefix":false,"service":"legacy","methods":["GET"],
///             "health_path":"/status"}]}
/// ```
public struct StaticRoutesFile: Codable, Sendable, Equatable {
    public struct Route: Codable, Sendable, Equatable {
        public var prefix: String
        public var upstreams: [String]
        public var policy: AccessPolicy
        public var methods: [String]?
        public var timeoutMilliseconds: Int?
        public var stripPrefix: Bool?
        /// The `service` label on metrics (default `static`).
        public var service: String?
        /// Path probed by the active health checks on each upstream (none: only passive ejection).
        public var healthPath: String?

        public init(
            prefix: String, upstreams: [String], policy: AccessPolicy, methods: [String]? = nil, timeoutMilliseconds: Int? = nil,
            stripPrefix: Bool? = nil, service: String? = nil, healthPath: String? = nil
        ) {
            self.prefix = prefix
            self.upstreams = upstreams
            self.policy = policy
            self.methods = methods
            self.timeoutMilliseconds = timeoutMilliseconds
            self.stripPrefix = stripPrefix
            self.service = service
            self.healthPath = healthPath
        }

        enum CodingKeys: String, CodingKey {
            case prefix, upstreams, policy, methods, service
            case timeoutMilliseconds = "timeout_ms"
            case stripPrefix = "strip_prefix"
            case healthPath = "health_path"
        }
    }

    public var routes: [Route]

    public init(routes: [Route]) { self.routes = routes }

    /// Reads and validates the file; a broken file stops the gateway from starting (better than
    /// silently serving without the legacy routes).
    public static func load(path: String) throws -> StaticRoutesFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw GatewayConfigurationError("cannot read routes file \(path): \(error.localizedDescription)")
        }
        let file: StaticRoutesFile
        do {
            file = try JSONDecoder().decode(StaticRoutesFile.self, from: data)
        } catch {
            throw GatewayConfigurationError("routes file \(path) is not valid: \(error)")
        }
        try file.validate()
        return file
    }

    public func validate() throws {
        for (index, route) in routes.enumerated() {
            guard route.prefix.hasPrefix("/") else {
                throw GatewayConfigurationError("routes[\(index)].prefix must start with /")
            }
            guard !route.upstreams.isEmpty else { throw GatewayConfigurationError("routes[\(index)].upstreams is empty") }
            for upstream in route.upstreams {
                guard let url = URL(string: upstream), ["http", "https"].contains(url.scheme), url.host?.isEmpty == false else {
                    throw GatewayConfigurationError("routes[\(index)]: '\(upstream)' is not an http(s) URL")
                }
            }
            if let path = route.healthPath, !path.hasPrefix("/") {
                throw GatewayConfigurationError("routes[\(index)].health_path must start with /")
            }
            if let timeout = route.timeoutMilliseconds, timeout <= 0 {
                throw GatewayConfigurationError("routes[\(index)].timeout_ms must be positive")
            }
        }
    }
}

public struct GatewayConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
