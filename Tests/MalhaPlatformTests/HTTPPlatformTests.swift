import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaOpenAPI
import Testing

@Suite("HTTP platform")
struct HTTPPlatformTests {
    struct Item: Codable { var sku: String; var quantity: Int }
    struct Order: Codable { var name: String; var count: Int; var items: [Item] }

    static let openAPI = OpenAPIDocument.declaring {
        try OpenAPIDocument(
            service: "test", title: "Test", version: "1",
            operations: [
                .post("/v1/orders", "Create", body: .json(Order.self), responses: [.created(Order.self), .problem(422)]),
                .get(
                    "/v1/orders/{id}", "Show", access: .authenticated,
                    responses: [.status(200, "Found"), .problem(404, "Missing")]),
                .get("/v1/crash", "Fails", responses: [.problem(500, "Always")]),
            ])
    }

    static func makeApp() -> (ServiceRuntime, some ApplicationProtocol) {
        var logger = Logger(label: "test.http")
        logger.logLevel = .critical
        let runtime = ServiceRuntime(descriptor: ServiceDescriptor(name: "test"), logger: logger)
        let router = runtime.makeRouter(openAPI: openAPI)
        router.post("/v1/orders") { request, context -> Response in
            let order = try await request.decode(as: Order.self, context: context)
            return Response(status: .created, body: .init(byteBuffer: ByteBuffer(string: "\(order.count)")))
        }
        router.get("/v1/orders/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard id == "1" else { throw Problem.notFound("Order") }
            return Response(status: .ok)
        }
        struct Secret: Error {}
        router.get("/v1/crash") { _, _ -> Response in throw Secret() }
        #expect(Set(router.routes.map { "\($0.method) \($0.path)" }) == openAPI.routeKeys)
        return (runtime, Application(router: router, logger: logger))
    }

    static func problem(_ response: TestResponse) throws -> ProblemBody {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: response.body))
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    func post(_ client: some TestClientProtocol, _ body: String, headers: HTTPFields = json) async throws -> TestResponse {
        try await client.execute(uri: "/v1/orders", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test func validBodyDecodes() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            let response = try await post(client, #"{"name":"a","count":3,"items":[{"sku":"x","quantity":1}]}"#)
            #expect(response.status == .created)
            #expect(String(buffer: response.body) == "3")
            // application/*+json and parameters are JSON too.
            let vendor = try await post(
                client, #"{"name":"a","count":4,"items":[]}"#,
                headers: [.contentType: "application/vnd.malha+json; charset=utf-8"])
            #expect(vendor.status == .created)
        }
    }

    @Test func decodingFailuresAreProblems() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            let malformed = try await post(client, #"{"name": "a", "count": "#)
            #expect(malformed.status == .badRequest)
            let malformedBody = try Self.problem(malformed)
            #expect(malformedBody.code == "malformed_json")
            #expect(malformedBody.status == 400)
            #expect(malformedBody.type.hasSuffix("/malformed_json"))
            #expect(malformedBody.instance == "/v1/orders")

            let empty = try await post(client, "")
            #expect(empty.status == .badRequest)
            #expect(try Self.problem(empty).code == "malformed_json")

            let mismatch = try await post(client, #"{"name":"a","count":"five","items":[]}"#)
            #expect(mismatch.status == .unprocessableContent)
            let mismatchBody = try Self.problem(mismatch)
            #expect(mismatchBody.code == "validation_failed")
            #expect(mismatchBody.status == 422)
            #expect(mismatchBody.errors?.map(\.field) == ["count"])

            let nested = try await post(
                client, #"{"name":"a","count":1,"items":[{"sku":"x","quantity":1},{"sku":7,"quantity":1}]}"#)
            #expect(nested.status == .unprocessableContent)
            #expect(try Self.problem(nested).errors?.map(\.field) == ["items[1].sku"])

            let missing = try await post(client, #"{"name":"a","items":[]}"#)
            #expect(missing.status == .unprocessableContent)
            let missingBody = try Self.problem(missing)
            #expect(missingBody.errors == [Problem.FieldError(field: "count", message: "is required")])

            let null = try await post(client, #"{"name":null,"count":1,"items":[]}"#)
            #expect(null.status == .unprocessableContent)
            #expect(try Self.problem(null).errors?.map(\.field) == ["name"])

            let wrongType = try await post(client, "name=a", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(try Self.problem(wrongType).code == "unsupported_media_type")

            let big = "{\"name\":\"" + String(repeating: "x", count: (1 << 20) + 10) + "\",\"count\":1,\"items\":[]}"
            let oversize = try await post(client, big)
            #expect(oversize.status == .contentTooLarge)
            #expect(try Self.problem(oversize).code == "payload_too_large")
        }
    }

    @Test func errorsRenderAsProblems() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            let unknown = try await client.execute(uri: "/nope", method: .get)
            #expect(unknown.status == .notFound)
            let unknownBody = try Self.problem(unknown)
            #expect(unknownBody.code == "not_found")
            #expect(unknownBody.status == 404)
            #expect(unknown.headers[.requestID] != nil)

            let missing = try await client.execute(uri: "/v1/orders/2", method: .get)
            #expect(missing.status == .notFound)
            #expect(try Self.problem(missing).detail == "Order was not found")

            let crash = try await client.execute(uri: "/v1/crash", method: .get)
            #expect(crash.status == .internalServerError)
            let crashBody = try Self.problem(crash)
            #expect(crashBody.code == "internal_error")
            #expect(crashBody.detail?.contains("Secret") == false)
        }
    }

    @Test func requestIDIsEchoedOrGenerated() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            let given = try await client.execute(uri: "/v1/orders/1", method: .get, headers: [.requestID: "req-abc-123"])
            #expect(given.status == .ok)
            #expect(given.headers[.requestID] == "req-abc-123")

            let generated = try await client.execute(uri: "/v1/orders/1", method: .get)
            let id = try #require(generated.headers[.requestID])
            #expect(UUID(uuidString: id) != nil)
            let another = try await client.execute(uri: "/v1/orders/1", method: .get)
            #expect(another.headers[.requestID] != id)

            // An unacceptable id (control characters, too long) is replaced, not echoed.
            let long = String(repeating: "a", count: 200)
            let replaced = try await client.execute(uri: "/v1/orders/1", method: .get, headers: [.requestID: long])
            #expect(replaced.headers[.requestID] != long)
            #expect(replaced.headers[.requestID].flatMap { UUID(uuidString: $0) } != nil)

            // Problems carry it too.
            let failed = try await post(client, "{", headers: [.contentType: "application/json", .requestID: "req-fail"])
            #expect(failed.headers[.requestID] == "req-fail")
        }
    }

    @Test func readinessFollowsConditions() async throws {
        let (runtime, app) = Self.makeApp()
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
            // No conditions declared yet: not ready.
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .serviceUnavailable)
            runtime.readiness.require(.migrations)
            runtime.readiness.require(.store)
            runtime.readiness.set(.store, true)
            let pending = try await client.execute(uri: "/health/ready", method: .get)
            #expect(pending.status == .serviceUnavailable)
            #expect(String(buffer: pending.body).contains("pending"))
            runtime.readiness.set(.migrations, true)
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
            #expect(runtime.readiness.isReady)
            runtime.readiness.set(.store, false)
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .serviceUnavailable)
        }
    }

    @Test func openAPIIsServed() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(response.status == .ok)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
            #expect(object["openapi"] as? String == "3.1.0")
            let paths = try #require(object["paths"] as? [String: Any])
            #expect(paths["/v1/orders/{id}"] != nil)
        }
    }

    @Test func metricsExposeREDSeries() async throws {
        let (_, app) = Self.makeApp()
        try await app.test(.router) { client in
            _ = try await client.execute(uri: "/v1/orders/1", method: .get)
            _ = try await client.execute(uri: "/v1/orders/2", method: .get)
            _ = try await client.execute(uri: "/nope/123", method: .get)
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = String(buffer: response.body)
            let lines = text.split(separator: "\n")
            let requests = lines.filter { $0.hasPrefix("http_requests_total{") }
            #expect(requests.contains { $0.contains(#"route="/v1/orders/{id}""#) && $0.contains(#"status="200""#) })
            #expect(requests.contains { $0.contains(#"route="/v1/orders/{id}""#) && $0.contains(#"status="404""#) })
            // Raw paths never become labels.
            #expect(!text.contains("/v1/orders/1\""))
            #expect(!text.contains("/nope/123"))
            #expect(lines.contains { $0.hasPrefix("http_request_duration_seconds_bucket{") })
            #expect(lines.contains { $0.hasPrefix("# TYPE http_requests_total counter") })
            try Self.checkWithPromtool(text)
        }
    }

    /// Behind a token, `/metrics` answers the token alone: none, another, one differing in its
    /// last character, or another scheme is 401 `metrics_token_required`, with a Bearer challenge.
    @Test func metricsBehindATokenAnswerOnlyThatToken() async throws {
        let token = "0123456789abcdef0123456789abcdef"
        #expect(MetricsToken("too short") == nil)
        let runtime = ServiceRuntime(
            descriptor: ServiceDescriptor(name: "test"), metricsAccess: .bearer(try #require(MetricsToken(token))))
        let app = Application(router: runtime.makeRouter(openAPI: Self.openAPI))
        try await app.test(.router) { client in
            for refused in [nil, "Bearer", "Bearer 0123456789abcdef0123456789abcdee", "Basic \(token)", token] {
                let headers: HTTPFields = refused.map { [.authorization: $0] } ?? [:]
                let response = try await client.execute(uri: "/metrics", method: .get, headers: headers)
                #expect(response.status == .unauthorized, "\(refused ?? "no header")")
                #expect(try Self.problem(response).code == "metrics_token_required")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            for accepted in ["Bearer \(token)", "bearer \(token)"] {
                let response = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: accepted])
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("http_requests_total"))
            }
            // The rest of the platform's endpoints stay open.
            #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
        }
    }

    /// Runs `promtool check metrics` when promtool is installed (scripts/test installs it).
    static func checkWithPromtool(_ text: String) throws {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .map { "\($0)/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let report = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool: \(String(decoding: report, as: UTF8.self))\n\(text)")
    }
}
