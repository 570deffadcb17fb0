// swift-tools-version:6.2
import PackageDescription

/// Malha: one package, two executables: `malha` (what an operator runs) and `malha-bench` (the load
/// generators and benchmarks). Platform targets never import service targets; service targets never
/// import each other.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "malha",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "malha", targets: ["malha"]),
        .executable(name: "malha-bench", targets: ["malha-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // MARK: Platform
        .target(
            name: "MalhaCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Platform/MalhaCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaHTTP",
            dependencies: [
                "MalhaCore",
                "MalhaOpenAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Platform/MalhaHTTP",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaStore",
            dependencies: [
                "MalhaCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Platform/MalhaStore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaMessaging",
            dependencies: [
                "MalhaCore", "MalhaStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Platform/MalhaMessaging",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaMessagingSQL",
            dependencies: [
                "MalhaCore", "MalhaStore", "MalhaMessaging",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Platform/MalhaMessagingSQL",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaBus",
            dependencies: [
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Platform/MalhaBus",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaIdentity",
            dependencies: [
                "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Platform/MalhaIdentity",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaRegistry",
            dependencies: [
                "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI",
                "MalhaStore",
                "MalhaIdentity",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Platform/MalhaRegistry",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaGateway",
            dependencies: [
                "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI",
                "MalhaIdentity",
                "MalhaRegistry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/Platform/MalhaGateway",
            swiftSettings: swiftSettings
        ),
        .target(
            // OpenAPI 3.1 documents derived from the Codable types the handlers decode and
            // encode, merged for the gateway, rendered as the /docs page (issue 11, part 7; not
            // yet adopted by the services, which still serve MalhaHTTP's OpenAPIDocument).
            name: "MalhaOpenAPI",
            dependencies: ["MalhaCore"],
            path: "Sources/Platform/MalhaOpenAPI",
            swiftSettings: swiftSettings
        ),
        .target(
            // The service shape: what every service declares, and what the platform assembles
            // from it (store, relay, consumers, readiness, registration), plus the cross-cutting
            // HTTP pieces a service's routes use (idempotent commands, store failures as problems).
            name: "MalhaService",
            dependencies: [
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaMessaging", "MalhaIdentity", "MalhaRegistry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Sources/Platform/MalhaService",
            swiftSettings: swiftSettings
        ),
        .target(
            // A JSON-over-HTTP client for Malha's API from outside (operator commands, load tools).
            name: "MalhaClient",
            dependencies: [
                "MalhaCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/Platform/MalhaClient",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MalhaTesting",
            dependencies: [
                "MalhaCore",
                "MalhaService",
                .product(name: "Crypto", package: "swift-crypto"),
                "MalhaStore",
                "MalhaMessaging",
                "MalhaIdentity",
                "MalhaHTTP", "MalhaOpenAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            path: "Sources/Platform/MalhaTesting",
            swiftSettings: swiftSettings
        ),

        // MARK: Contracts
        .target(
            name: "Contracts",
            dependencies: ["MalhaMessaging"],
            path: "Sources/Contracts",
            swiftSettings: swiftSettings
        ),

        // MARK: Services
        .target(
            name: "Identity",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaMessaging",
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaIdentity", "MalhaRegistry",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Services/Identity",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Catalog",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaMessaging",
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaIdentity", "MalhaRegistry",
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            path: "Sources/Services/Catalog",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "Orders",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                "MalhaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Services/Orders",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Payments",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                "MalhaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Services/Payments",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Notifications",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                "MalhaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Services/Notifications",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Ledger",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                "MalhaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Services/Ledger",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Consolidation",
            dependencies: [
                "MalhaService",
                "Contracts", "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity", "MalhaMessaging", "MalhaRegistry",
                "MalhaStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Services/Consolidation",
            swiftSettings: swiftSettings
        ),

        // MARK: Executable
        .executableTarget(
            name: "malha",
            dependencies: [
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaIdentity", "MalhaRegistry", "MalhaGateway",
                "MalhaMessaging", "MalhaMessagingSQL", "MalhaBus", "MalhaService", "MalhaClient", "Identity", "Catalog",
                "Orders", "Payments", "Notifications", "Ledger", "Consolidation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/malha",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            // Load generators and benchmarks, out of the production binary. They speak the
            // services' own request and response types (Ledger, Consolidation, Contracts).
            name: "malha-bench",
            dependencies: [
                "MalhaCore", "MalhaHTTP", "MalhaStore", "MalhaMessaging", "MalhaMessagingSQL", "MalhaClient", "Contracts",
                "Ledger", "Consolidation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/malha-bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .testTarget(
            name: "MalhaPlatformTests",
            dependencies: [
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaIdentity", "MalhaRegistry", "MalhaGateway",
                "MalhaTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MalhaOpenAPITests",
            dependencies: ["MalhaOpenAPI", "MalhaTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MalhaMessagingTests",
            dependencies: [
                "MalhaCore", "MalhaStore", "MalhaMessaging", "MalhaMessagingSQL", "MalhaTesting", "MalhaBus",
                "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                "MalhaService",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IdentityTests",
            dependencies: [
                "Contracts", "MalhaMessaging",
                "MalhaService",
                "Identity", "MalhaTesting", "MalhaIdentity", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CatalogTests",
            dependencies: [
                "Catalog", "MalhaTesting", "MalhaIdentity", "MalhaHTTP", "MalhaOpenAPI", "MalhaStore", "MalhaCore", "Contracts",
                "MalhaMessaging",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrdersTests",
            dependencies: [
                "MalhaService",
                "Orders", "Contracts", "MalhaMessaging", "MalhaMessagingSQL", "MalhaStore", "MalhaTesting", "MalhaCore",
                "Catalog",
                "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaymentsTests",
            dependencies: [
                "MalhaService",
                "Payments", "Contracts", "MalhaMessaging", "MalhaMessagingSQL", "MalhaStore", "MalhaTesting", "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotificationsTests",
            dependencies: [
                "MalhaService",
                "Notifications", "Contracts", "MalhaMessaging", "MalhaMessagingSQL", "MalhaStore", "MalhaTesting", "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "Ledger", "Contracts", "MalhaMessaging", "MalhaMessagingSQL", "MalhaStore", "MalhaTesting", "MalhaCore",
                "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsolidationTests",
            dependencies: [
                "Consolidation", "Ledger", "Contracts", "MalhaMessaging", "MalhaMessagingSQL", "MalhaStore", "MalhaTesting",
                "MalhaCore", "MalhaHTTP", "MalhaOpenAPI", "MalhaIdentity",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "malha", "malha-bench", "MalhaTesting", "MalhaStore", "MalhaCore", "MalhaMessaging", "MalhaMessagingSQL",
                "Contracts", "MalhaHTTP", "MalhaOpenAPI", "MalhaGateway", "MalhaRegistry", "MalhaIdentity", "Ledger",
                "Consolidation", "Payments", "Identity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
