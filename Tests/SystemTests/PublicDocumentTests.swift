import Foundation
import MalhaIdentity
import MalhaOpenAPI
import MalhaRegistry
import MalhaTesting
import Testing

@testable import MalhaGateway
@testable import malha

/// The documents of everything `malha up` runs, and the gateway's merged one, checked the way a
/// client generator or a fuzzer reads them — and against what the gateway actually routes.
@Suite("Public OpenAPI documents")
struct PublicDocumentTests {
    static var documented: [(Deployment, OpenAPIDocument)] {
        Topology.deployments.compactMap { deployment in deployment.openAPI.map { (deployment, $0) } }
    }

    @Test("every service documents itself, and each document is valid OpenAPI 3.1 with every $ref resolved")
    func everyDocumentValidates() throws {
        let names = Set(Self.documented.map(\.0.name.rawValue))
        #expect(names == Set(Topology.deployments.map(\.name.rawValue)).subtracting(["gateway"]))
        for (_, document) in Self.documented {
            #expect(document.danglingReferences() == [], "\(document.service)")
            try OpenAPISpecValidation.check(document)
        }
    }

    @Test("the gateway's merged document holds every service's public operations, and is valid")
    func mergedDocument() throws {
        let merged = try GatewayService.publicDocument(services: Self.documented.map(\.1))
        #expect(merged.danglingReferences() == [])
        try OpenAPISpecValidation.check(merged)
        for (_, document) in Self.documented {
            for operation in document.operations where !operation.isPlatform {
                #expect(merged.routeKeys.contains(operation.routeKey), "\(operation.routeKey) of \(document.service)")
            }
        }
        for page in ["GET /", "GET /docs", "GET /openapi.json", "GET /health/ready"] {
            #expect(merged.routeKeys.contains(page))
        }
        // Two services defining one component name differently get prefixed names; this lists
        // them, so a new clash is a decision, not an accident.
        #expect(merged.componentRenames.map { "\($0.service).\($0.from)" }.sorted() == [])
    }

    /// Every documented operation is reachable through the gateway, with the access it documents:
    /// a public operation behind a token rule could never be called anonymously, and a documented
    /// route no rule covers would answer 404 at the gateway.
    @Test("each documented operation is routed by its service's rules, and public ones are public there")
    func operationsAreRouted() {
        let instances = Self.documented.map { deployment, document in
            ServiceInstance(
                id: document.service, service: document.service, version: "1", baseURL: "http://127.0.0.1:1",
                healthURL: "http://127.0.0.1:1/health/ready", routes: deployment.routeRules, registeredAt: Date(),
                leaseExpiresAt: Date())
        }
        let table = RouteTable.build(instances: instances, staticRoutes: .init(routes: []), defaultTimeout: .seconds(1))
        for (_, document) in Self.documented {
            for operation in document.operations where !operation.isPlatform {
                let path = operation.path.replacing(/\{[^}]+\}/, with: "x")
                guard case .route(let entry) = table.match(path: path[...], method: operation.method.rawValue.uppercased())
                else {
                    Issue.record("\(operation.routeKey) of \(document.service) is not routed by the gateway")
                    continue
                }
                #expect(entry.service == document.service, "\(operation.routeKey) goes to \(entry.service)")
                if operation.access == .public {
                    #expect(entry.policy == .public, "\(operation.routeKey) is public but the gateway asks \(entry.policy)")
                }
            }
        }
    }
}
