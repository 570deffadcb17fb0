import Foundation
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaRegistry
import NIOCore
import Synchronization

/// One place requests can go: a registered instance or a static upstream.
struct Upstream: Sendable, Hashable {
    /// `http://host:port` (a trailing `/` removed; it may carry a base path).
    var baseURL: String
    /// The `service` metrics label.
    var service: String
}

/// One routable rule with the upstreams serving it.
final class RouteEntry: Sendable {
    let prefix: String
    let methods: Set<String>?
    let policy: AccessPolicy
    let timeout: TimeAmount
    let stripPrefix: Bool
    let service: String
    let upstreams: [Upstream]
    /// Round-robin cursor; relaxed is enough, it only spreads load.
    private let cursor = Atomic<Int>(0)

    init(
        prefix: String, methods: Set<String>?, policy: AccessPolicy, timeout: TimeAmount, stripPrefix: Bool, service: String,
        upstreams: [Upstream]
    ) {
        self.prefix = prefix
        self.methods = methods
        self.policy = policy
        self.timeout = timeout
        self.stripPrefix = stripPrefix
        self.service = service
        self.upstreams = upstreams
    }

    func accepts(method: String) -> Bool { methods?.contains(method) ?? true }

    /// Upstreams in the order to try them: round-robin start, ejected and failing ones left out —
    /// unless every one fails its active checks, in which case only ejected ones are (panic mode).
    func candidates(health: UpstreamHealth, now: Date) -> [Upstream] {
        guard !upstreams.isEmpty else { return [] }
        let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        func ordered(ignoringChecks: Bool) -> [Upstream] {
            var ordered: [Upstream] = []
            ordered.reserveCapacity(upstreams.count)
            for offset in 0..<upstreams.count {
                let upstream = upstreams[(start &+ offset) % upstreams.count]
                if health.isRoutable(upstream.baseURL, now: now, ignoringChecks: ignoringChecks) { ordered.append(upstream) }
            }
            return ordered
        }
        let healthy = ordered(ignoringChecks: false)
        return healthy.isEmpty ? ordered(ignoringChecks: true) : healthy
    }
}

/// The gateway's routing table: entries by prefix, longest prefix first.
final class RouteTable: Sendable {
    /// Each distinct prefix with its rules (in declaration order), longest prefix first.
    /// `isPattern`: the prefix has a `*` segment (matches any one non-empty segment).
    let prefixes: [(prefix: String, isPattern: Bool, entries: [RouteEntry])]

    init(entries: [RouteEntry]) {
        var byPrefix: [String: [RouteEntry]] = [:]
        var order: [String] = []
        for entry in entries {
            if byPrefix[entry.prefix] == nil { order.append(entry.prefix) }
            byPrefix[entry.prefix, default: []].append(entry)
        }
        prefixes = order.sorted { $0.utf8.count > $1.utf8.count }.map {
            ($0, RoutePrefix.isPattern($0), byPrefix[$0] ?? [])
        }
    }

    enum Match {
        case route(RouteEntry)
        /// A prefix matched but no rule accepts the method.
        case methodNotAllowed
        case none
    }

    /// The longest prefix matching `path` on a segment boundary, then the first rule accepting `method`.
    func match(path: Substring, method: String) -> Match {
        for (prefix, isPattern, entries) in prefixes
        where isPattern
            ? RoutePrefix.path(path, matchesPattern: prefix) : RoutePrefix.path(path, hasSegmentPrefix: prefix)
        {
            if let entry = entries.first(where: { $0.accepts(method: method) }) { return .route(entry) }
            // A longer prefix that refuses the method must not fall through to a shorter, maybe more
            // permissive one: its owner declared the path space.
            return .methodNotAllowed
        }
        return .none
    }

    struct RuleKey: Hashable, Sendable {
        var service: String
        var rule: RouteRule
    }

    /// Builds the table from registered instances and static routes. Instances of one service that
    /// declare the same rule share one entry (that is what round-robin spreads over). `remembered`
    /// rules (the known services' declared ones) stay routable with no upstream, so a stopped
    /// service answers 503, not 404.
    static func build(
        instances: [ServiceInstance], remembered: [RuleKey] = [], staticRoutes: StaticRoutesFile, defaultTimeout: Duration
    ) -> RouteTable {
        typealias Key = RuleKey
        var upstreamsByKey: [Key: [Upstream]] = [:]
        var keys: [Key] = []
        for key in remembered where upstreamsByKey[key] == nil {
            upstreamsByKey[key] = []
            keys.append(key)
        }
        for instance in instances.sorted(by: { ($0.service, $0.id) < ($1.service, $1.id) }) {
            let upstream = Upstream(baseURL: normalized(instance.baseURL), service: instance.service)
            for rule in instance.routes {
                let key = Key(service: instance.service, rule: rule)
                if upstreamsByKey[key] == nil { keys.append(key) }
                if upstreamsByKey[key]?.contains(upstream) != true { upstreamsByKey[key, default: []].append(upstream) }
            }
        }
        var entries: [RouteEntry] = []
        for key in keys {
            guard key.rule.prefix.hasPrefix("/") else { continue }
            entries.append(
                RouteEntry(
                    prefix: key.rule.prefix, methods: key.rule.methods.map { Set($0.map { $0.uppercased() }) },
                    policy: key.rule.policy,
                    timeout: timeout(key.rule.timeoutMilliseconds, default: defaultTimeout), stripPrefix: false,
                    service: key.service, upstreams: upstreamsByKey[key] ?? []))
        }
        for route in staticRoutes.routes {
            let service = route.service ?? "static"
            entries.append(
                RouteEntry(
                    prefix: route.prefix, methods: route.methods.map { Set($0.map { $0.uppercased() }) }, policy: route.policy,
                    timeout: timeout(route.timeoutMilliseconds, default: defaultTimeout), stripPrefix: route.stripPrefix ?? false,
                    service: service, upstreams: route.upstreams.map { Upstream(baseURL: normalized($0), service: service) }))
        }
        return RouteTable(entries: entries)
    }

    static func timeout(_ milliseconds: Int?, default defaultTimeout: Duration) -> TimeAmount {
        if let milliseconds, milliseconds > 0 { return .milliseconds(Int64(milliseconds)) }
        return .nanoseconds(defaultTimeout.nanoseconds)
    }

    static func normalized(_ baseURL: String) -> String {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

/// Keeps the table for the instance set it was built from; rebuilds only when the set changes.
final class RouteTableCache: Sendable {
    private let source: any ServiceInstanceSource
    private let staticRoutes: StaticRoutesFile
    private let defaultTimeout: Duration
    /// The known services' declared rules, routable with no upstream (503) while none is live.
    private let declared: [RouteTable.RuleKey]
    private struct State {
        var fingerprint: Int?
        var table: RouteTable?
    }
    private let state = Mutex(State())

    init(
        source: any ServiceInstanceSource, staticRoutes: StaticRoutesFile, defaultTimeout: Duration,
        declaredRoutes: [String: [RouteRule]] = [:]
    ) {
        self.source = source
        self.staticRoutes = staticRoutes
        self.defaultTimeout = defaultTimeout
        self.declared = declaredRoutes.sorted { $0.key < $1.key }.flatMap { service, rules in
            rules.map { RouteTable.RuleKey(service: service, rule: $0) }
        }
    }

    /// The table for the source's current view. The fingerprint hashes only what routing depends on
    /// (ids, URLs, rules — not lease times, which change on every renewal).
    func current() -> RouteTable {
        let instances = source.currentInstances()
        var hasher = Hasher()
        hasher.combine(instances.count)
        for instance in instances {
            hasher.combine(instance.id)
            hasher.combine(instance.service)
            hasher.combine(instance.baseURL)
            hasher.combine(instance.routes)
        }
        let fingerprint = hasher.finalize()
        if let table = state.withLock({ $0.fingerprint == fingerprint ? $0.table : nil }) { return table }
        let table = RouteTable.build(
            instances: instances, remembered: declared, staticRoutes: staticRoutes, defaultTimeout: defaultTimeout)
        state.withLock { state in
            state.fingerprint = fingerprint
            state.table = table
        }
        return table
    }
}
