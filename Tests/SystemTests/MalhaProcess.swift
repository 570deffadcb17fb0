import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A `malha` process started by a system test, stopped (SIGTERM, then SIGKILL) when done.
final class MalhaProcess: @unchecked Sendable {
    let process = Process()
    let name: String
    let logURL: URL

    /// `executable`: `binary` (`malha`) unless given, e.g. `benchBinary`.
    init(
        _ executable: URL = MalhaProcess.binary, arguments: [String], environment: [String: String], name: String,
        logDirectory: URL
    ) throws {
        self.name = name
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MALHA_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        logURL = logDirectory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// The `malha` binary next to the test bundle (`swift build --build-tests` builds both).
    static var binary: URL { built("malha", unless: "MALHA_BINARY") }

    /// The `malha-bench` binary (the load tools), built the same way.
    static var benchBinary: URL { built("malha-bench", unless: "MALHA_BENCH_BINARY") }

    /// `.build/debug/<product>`, or the path in the environment variable `variable`.
    static func built(_ product: String, unless variable: String) -> URL {
        if let path = ProcessInfo.processInfo.environment[variable] { return URL(fileURLWithPath: path) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/\(product)")
    }

    func terminate() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Runs a `malha` command to its end (at most `timeout`): its exit status and what it wrote.
    static func run(
        _ arguments: [String], environment: [String: String], timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try MalhaProcess(arguments: arguments, environment: environment, name: "run", logDirectory: directory)
        let deadline = ContinuousClock.now + timeout
        while command.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        command.terminate()
        return (command.process.terminationStatus, command.log)
    }

    deinit { terminate() }
}

/// Ports `freePort` has handed out in this test process. Every system test runs in it, so none of
/// them ever gets a port another one already got: with a dozen ports per `malha up` and several
/// sandboxes alive at once, random picks alone collided (a clean-clone run failed when two
/// sandboxes drew the same bus port, one `up` finding it taken at bind time).
private let handedOutPorts = Mutex<Set<Int>>([])

/// A port free on 127.0.0.1 now, below the kernel's ephemeral range (32768–60999 on Linux): the
/// many client connections of tests running alongside take ephemeral ports, and one of them could
/// otherwise land on a port picked here before `malha up` binds it. Random within 20000–32767,
/// never one handed out before in this process, and checked by binding it.
func freePort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20_000...32_767)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    struct NoFreePort: Error {}
    throw NoFreePort()
}

struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small JSON-over-HTTP client for system tests.
struct TestClient {
    let base: String
    let http: HTTPClient

    func request(
        _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, token: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    /// Polls until `check` holds or `timeout` passes; returns the last result.
    func eventually(
        _ path: String, method: HTTPMethod = .GET, token: String? = nil, timeout: Duration = .seconds(60),
        until check: (HTTPResult) -> Bool
    ) async throws -> HTTPResult? {
        let deadline = ContinuousClock.now + timeout
        var last: HTTPResult?
        while ContinuousClock.now < deadline {
            last = try? await request(method, path, token: token)
            if let last, check(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        return last
    }
}

/// Where one `malha up` under test lives: a scratch directory (data and logs), a free gateway port,
/// and the arguments that start it there.
struct UpSandbox {
    let directory: URL
    let dataDir: String
    let port: Int
    var arguments: [String] { ["up", "--port", String(port), "--data-dir", dataDir, "--text-logs"] }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every service's port, each one found free (the gateway's next ports may be taken by another
    /// test's connections; a service that cannot bind stops the whole process).
    let servicePorts: [String: Int]

    init(_ name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        dataDir = directory.appendingPathComponent("data").path
        port = try freePort()
        var ports: [String: Int] = [:]
        for service in [
            "registry", "identity", "catalog", "bus", "orders", "payments", "notifications", "ledger", "consolidation",
        ] {
            ports[service] = try freePort()
        }
        servicePorts = ports
    }

    /// A new sandbox with `malha up` running in it and ready. Ports are picked free, but a test
    /// running alongside may take one before `up` binds it; `up` then stops at once ("Address
    /// already in use") and a new sandbox with new ports is tried (three in all).
    static func started(
        _ name: String, environment: [String: String] = [:], processName: String = "up"
    ) async throws -> (sandbox: UpSandbox, up: MalhaProcess) {
        var lastLog = ""
        for _ in 0..<3 {
            let sandbox = try UpSandbox(name)
            let up = try sandbox.start(environment: environment, name: processName)
            if try await sandbox.becomesReady(up) { return (sandbox, up) }
            up.terminate()
            lastLog = up.log
            guard lastLog.contains("Address already in use") else { break }
        }
        throw NeverReady(description: "malha up never got ready: \(lastLog.suffix(3000))")
    }

    struct NeverReady: Error, CustomStringConvertible { var description: String }

    /// Whether `up` answers `/health/ready` with 200 within 90 s (false once it has exited).
    func becomesReady(_ up: MalhaProcess) async throws -> Bool {
        let client = TestClient(base: baseURL, http: HTTPClient.shared)
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline, up.process.isRunning {
            if (try? await client.request(.GET, "/health/ready"))?.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Starts `malha up` in the sandbox.
    func start(environment: [String: String] = [:], name: String = "up") throws -> MalhaProcess {
        var environment = environment
        for (service, port) in servicePorts { environment["MALHA_\(service.uppercased())_PORT"] = String(port) }
        return try MalhaProcess(arguments: arguments, environment: environment, name: name, logDirectory: directory)
    }
}
