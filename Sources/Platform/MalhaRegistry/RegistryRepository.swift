import Foundation
import MalhaCore
import MalhaStore
import SQLKit

/// The registry's own database: one row per instance, with its lease expiry.
public struct RegistryRepository: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "instances",
            [
                """
                CREATE TABLE instances (
                    id TEXT PRIMARY KEY,
                    service TEXT NOT NULL,
                    version TEXT NOT NULL,
                    base_url TEXT NOT NULL,
                    health_url TEXT NOT NULL,
                    routes TEXT NOT NULL,
                    registered_at BIGINT NOT NULL,
                    lease_expires_at BIGINT NOT NULL)
                """,
                "CREATE INDEX instances_lease ON instances (lease_expires_at)",
            ])
    ]

    let store: any SQLStore

    public init(store: any SQLStore) {
        self.store = store
    }

    /// Inserts or replaces the instance (re-registration after a lapse keeps the same id). Returns
    /// false, changing nothing, when the id is another service's instance.
    public func upsert(_ instance: ServiceInstance) async throws -> Bool {
        let routes = String(decoding: try JSONEncoder().encode(instance.routes), as: UTF8.self)
        return try await store.transaction { db in
            try await !db.raw(
                """
                INSERT INTO instances (id, service, version, base_url, health_url, routes, registered_at, lease_expires_at)
                VALUES (\(bind: instance.id), \(bind: instance.service), \(bind: instance.version), \(bind: instance.baseURL),
                        \(bind: instance.healthURL), \(bind: routes), \(bind: instance.registeredAt.epochMilliseconds),
                        \(bind: instance.leaseExpiresAt.epochMilliseconds))
                ON CONFLICT (id) DO UPDATE SET service = excluded.service, version = excluded.version,
                    base_url = excluded.base_url, health_url = excluded.health_url, routes = excluded.routes,
                    lease_expires_at = excluded.lease_expires_at
                WHERE instances.service = excluded.service
                RETURNING id
                """
            ).all().isEmpty
        }
    }

    /// Extends a live lease. Returns false when the instance is unknown or its lease already lapsed
    /// (the client must register again: a lapsed instance has dropped out).
    public func renew(id: String, service: String, now: Date, until: Date) async throws -> Bool {
        try await store.transaction { db in
            let rows = try await db.raw(
                """
                UPDATE instances SET lease_expires_at = \(bind: until.epochMilliseconds)
                WHERE id = \(bind: id) AND service = \(bind: service) AND lease_expires_at > \(bind: now.epochMilliseconds)
                RETURNING id
                """
            ).all()
            return !rows.isEmpty
        }
    }

    /// Deletes the instance, if it is `service`'s.
    public func delete(id: String, service: String) async throws -> Bool {
        try await store.transaction { db in
            try await !db.raw("DELETE FROM instances WHERE id = \(bind: id) AND service = \(bind: service) RETURNING id")
                .all().isEmpty
        }
    }

    /// Instances whose lease is live at `now`.
    public func live(at now: Date) async throws -> [ServiceInstance] {
        let rows = try await store.read { db in
            try await db.raw(
                """
                SELECT id, service, version, base_url, health_url, routes, registered_at, lease_expires_at
                FROM instances WHERE lease_expires_at > \(bind: now.epochMilliseconds) ORDER BY service, id
                """
            ).all()
        }
        return try rows.map { row in
            let routes = try JSONDecoder().decode(
                [RouteRule].self, from: Data(try row.decode(column: "routes", as: String.self).utf8))
            return ServiceInstance(
                id: try row.decode(column: "id", as: String.self),
                service: try row.decode(column: "service", as: String.self),
                version: try row.decode(column: "version", as: String.self),
                baseURL: try row.decode(column: "base_url", as: String.self),
                healthURL: try row.decode(column: "health_url", as: String.self),
                routes: routes,
                registeredAt: Date(epochMilliseconds: try row.decode(column: "registered_at", as: Int64.self)),
                leaseExpiresAt: Date(epochMilliseconds: try row.decode(column: "lease_expires_at", as: Int64.self)))
        }
    }

    /// Deletes instances whose lease lapsed before `now`; returns how many.
    @discardableResult
    public func purgeExpired(before now: Date) async throws -> Int {
        try await store.transaction { db in
            try await db.raw("DELETE FROM instances WHERE lease_expires_at <= \(bind: now.epochMilliseconds) RETURNING id").all()
                .count
        }
    }
}
