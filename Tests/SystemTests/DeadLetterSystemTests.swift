import AsyncHTTPClient
import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import Testing

/// Dead letters for people, on a running `malha up`: the admin API through the gateway and
/// `malha dlq`, on a dead letter made with the real SQL transport on the bus's own database file.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct DeadLetterSystemTests {
    struct Probe: MessageContract {
        static let type = "system-test.probe.v1"
        var n: Int
    }

    /// Runs `malha <arguments>` to completion; returns its exit status and output.
    static func runMalha(_ arguments: [String], in directory: URL) throws -> (Int32, String) {
        let process = try MalhaProcess(
            arguments: arguments, environment: [:], name: "cli-\(UUID().uuidString.prefix(8))", logDirectory: directory)
        process.process.waitUntilExit()
        return (process.process.terminationStatus, process.log)
    }

    @Test func listReplayAndPurgeThroughTheGatewayAndTheCLI() async throws {
        let (sandbox, up) = try await UpSandbox.started(
            "dlq",
            environment: ["MALHA_ADMIN_EMAIL": "root@example.com", "MALHA_ADMIN_PASSWORD": "correct horse battery staple"])
        let (directory, dataDir) = (sandbox.directory, sandbox.dataDir)
        defer { up.terminate() }
        let client = TestClient(base: sandbox.baseURL, http: HTTPClient.shared)

        // A consumer gave up on a message: dead-lettered on the bus's own database.
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SQLiteStore.open(path: dataDir + "/bus.sqlite", logger: logger)
        let transport = SQLTransport(store: store, logger: logger)
        try await transport.bind(subscription: "system-test", to: [Probe.type])
        let message = try Envelope(Probe(n: 7), source: "system-test", at: Date())
        try await transport.publish([message])
        let delivery = try #require(try await transport.receive(from: "system-test", limit: 1, lease: .seconds(30)).first)
        #expect(try await transport.deadLetter(delivery, error: "boom: the handler failed"))

        // The CLI sees it.
        let (status, listed) = try Self.runMalha(["dlq", "list", "--data-dir", dataDir], in: directory)
        #expect(status == 0, "dlq list failed: \(listed)")
        #expect(listed.contains(message.id) && listed.contains("boom: the handler failed"), "dlq list: \(listed)")
        let (showStatus, shown) = try Self.runMalha(
            ["dlq", "show", "system-test", message.id, "--data-dir", dataDir], in: directory)
        #expect(showStatus == 0 && shown.contains("\"n\" : 7"), "dlq show: \(shown)")
        let (badStatus, _) = try Self.runMalha(["dlq", "replay", "system-test", "--data-dir", dataDir], in: directory)
        #expect(badStatus != 0, "replay without --id or --all is refused")

        // The admin API through the gateway: admins only.
        let login = try await client.request(
            .POST, "/v1/auth/login", json: ["email": "root@example.com", "password": "correct horse battery staple"])
        let admin = try #require(login.json["access_token"] as? String)
        #expect(try await client.request(.GET, "/v1/admin/dead-letters").status == 401)
        #expect(
            try await client.request(
                .POST, "/v1/auth/register", json: ["email": "c@example.com", "password": "a long passphrase 42", "name": "C"]
            ).status == 201)
        let customerLogin = try await client.request(
            .POST, "/v1/auth/login", json: ["email": "c@example.com", "password": "a long passphrase 42"])
        let customer = try #require(customerLogin.json["access_token"] as? String)
        #expect(try await client.request(.GET, "/v1/admin/dead-letters", token: customer).status == 403)

        let list = try await client.request(.GET, "/v1/admin/dead-letters?subscription=system-test", token: admin)
        #expect(list.status == 200, "\(list.text)")
        let items = try #require(list.json["items"] as? [[String: Any]])
        #expect(items.count == 1)
        #expect(items.first?["last_error"] as? String == "boom: the handler failed")
        #expect(((items.first?["message"] as? [String: Any])?["payload"] as? [String: Any])?["n"] as? Int == 7)
        let one = try await client.request(.GET, "/v1/admin/dead-letters/system-test/\(message.id)", token: admin)
        #expect(one.status == 200 && (one.json["attempts"] as? [Any])?.count == 1)
        #expect(try await client.request(.GET, "/v1/admin/dead-letters/system-test/nope", token: admin).status == 404)
        #expect(
            try await client.request(.POST, "/v1/admin/dead-letters/system-test/replay", json: [:], token: admin).status == 422)

        // Replay through the API: the message is deliverable again, as a fresh delivery.
        let replay = try await client.request(
            .POST, "/v1/admin/dead-letters/system-test/replay", json: ["ids": [message.id]], token: admin)
        #expect(replay.status == 200 && replay.json["count"] as? Int == 1, "\(replay.text)")
        let again = try #require(try await transport.receive(from: "system-test", limit: 1, lease: .seconds(30)).first)
        #expect(again.envelope.id == message.id && again.envelope.attempt == 1 && again.history.count == 1)

        // Dead again; purged from the CLI.
        #expect(try await transport.deadLetter(again, error: "boom again"))
        let (purgeStatus, purged) = try Self.runMalha(
            ["dlq", "purge", "system-test", "--all", "--data-dir", dataDir], in: directory)
        #expect(purgeStatus == 0 && purged.contains("Purged 1 dead letter"), "dlq purge: \(purged)")
        let empty = try await client.request(.GET, "/v1/admin/dead-letters?subscription=system-test", token: admin)
        #expect((empty.json["items"] as? [Any])?.isEmpty == true)
        await store.close()
    }
}
