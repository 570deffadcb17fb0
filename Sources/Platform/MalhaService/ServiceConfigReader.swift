public import Configuration
import Foundation
import MalhaCore

/// How `malha` runs: `up` (everything in one process on embedded defaults) or `serve`.
public enum DeploymentMode: Sendable, Hashable {
    case embedded, production
}

/// A configuration value that is present but unusable. Starting stops with its message, which
/// names the key (`malha.orders.step-timeout-ms must be at least 100 (got 5)`).
public struct InvalidConfiguration: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key) \(message)" }
}

/// A service's view of the configuration: its own keys, `malha.<service>.…` (or a platform
/// section's, such as `malha.log.…`), read through
/// swift-configuration (flags, `MALHA_*` environment variables, the JSON file), with the defaults
/// and documentation next to where each is read.
///
/// Unlike the plain `ConfigReader` accessors, a present but malformed value is never silently
/// replaced by the default: it throws `InvalidConfiguration` naming the key.
public struct ServiceConfigReader: Sendable {
    /// The service (or section) whose keys these are.
    public let service: String
    public let mode: DeploymentMode
    let scoped: ConfigReader
    let urls: @Sendable (String) -> String?

    /// `root` is the whole configuration; `urls` tells another service's base URL in this
    /// topology (for defaults such as where orders finds the catalog).
    public init(
        service: String, mode: DeploymentMode, root: ConfigReader, urls: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.service = service
        self.mode = mode
        self.scoped = root.scoped(to: ConfigKey("malha.\(service)"))
        self.urls = urls
    }

    /// The full name of one of the service's keys, as messages and the README spell it.
    public func fullName(_ key: String) -> String { "malha.\(service).\(key)" }

    /// Another service's base URL in this topology (`http://127.0.0.1:8083` for the catalog in `up`).
    public func url(of service: String) -> String? { urls(service) }

    public func string(_ key: String, isSecret: Bool = false) -> String? {
        scoped.string(forKey: ConfigKey(key), isSecret: isSecret)
    }

    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        let value: Int
        if let read = scoped.int(forKey: ConfigKey(key)) {
            value = read
        } else if let text = scoped.string(forKey: ConfigKey(key)) {
            throw InvalidConfiguration(key: fullName(key), "must be an integer (got \(text))")
        } else {
            return defaultValue
        }
        if let range, !range.contains(value) {
            throw InvalidConfiguration(
                key: fullName(key), "must be from \(range.lowerBound) to \(range.upperBound) (got \(value))")
        }
        return value
    }

    /// An optional integer: nil when absent.
    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard scoped.int(forKey: ConfigKey(key)) != nil || scoped.string(forKey: ConfigKey(key)) != nil else { return nil }
        return try int(key, default: range.lowerBound, in: range)
    }

    public func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) throws -> Double {
        let value: Double
        if let read = scoped.double(forKey: ConfigKey(key)) {
            value = read
        } else if let text = scoped.string(forKey: ConfigKey(key)) {
            throw InvalidConfiguration(key: fullName(key), "must be a number (got \(text))")
        } else {
            return defaultValue
        }
        guard range.contains(value) else {
            throw InvalidConfiguration(
                key: fullName(key), "must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
        }
        return value
    }

    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        if let read = scoped.bool(forKey: ConfigKey(key)) { return read }
        if let text = scoped.string(forKey: ConfigKey(key)) {
            throw InvalidConfiguration(key: fullName(key), "must be true or false (got \(text))")
        }
        return defaultValue
    }

    /// A duration given in milliseconds (`…-ms` keys), at least `minimum`.
    public func milliseconds(_ key: String, default defaultValue: Duration, atLeast minimum: Duration = .zero) throws -> Duration
    {
        let minimumMilliseconds = Int(minimum.milliseconds)
        let value = try int(key, default: Int(defaultValue.milliseconds), in: minimumMilliseconds...Int(Int32.max))
        return .milliseconds(value)
    }

    /// One of a closed set of values (`simulated` or `http`): anything else throws, listing them.
    public func choice<Choice: RawRepresentable<String> & CaseIterable>(
        _ key: String, default defaultValue: Choice
    ) throws -> Choice {
        guard let text = string(key) else { return defaultValue }
        guard let value = Choice(rawValue: text) else {
            let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw InvalidConfiguration(key: fullName(key), "must be one of \(allowed) (got \(text))")
        }
        return value
    }
}
