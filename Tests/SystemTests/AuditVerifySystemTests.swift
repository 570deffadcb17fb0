import Contracts
import Foundation
import Logging
import MalhaMessaging
import MalhaStore
import MalhaTesting
import Payments
import Testing

/// `malha audit verify payments`, the built binary on a payments database: the acceptance check
/// of issue 12 item 10 — a row edited directly in the database is reported (exit status 1).
@Suite("malha audit verify")
struct AuditVerifySystemTests {
    struct Outcome {
        var status: Int32
        var output: String
    }

    static func verify(_ service: String, dataDirectory: URL) throws -> Outcome {
        let process = Process()
        process.executableURL = MalhaProcess.binary
        process.arguments = ["audit", "verify", service, "--data-dir", dataDirectory.path]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MALHA_") }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }

    @Test func aRowEditedInTheDatabaseIsReported() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("malha-audit-\(UUID().uuidString.lowercased())", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "test.audit")
        logger.logLevel = .warning
        let store = try await SQLiteStore.open(
            path: directory.appendingPathComponent("payments.sqlite").path, logger: logger)
        try await PaymentsService.migrate(store, logger: logger)
        let handler = PaymentCommandHandler {}
        for order in ["o1", "o2"] {
            let command = AuthorizePayment(orderID: order, customerID: "c1", amountCents: 1_000, currency: "BRL")
            let envelope = try Envelope(command, source: "orders", at: Date(), key: order, correlationID: order)
            try await store.transaction { db in try await handler.handle(envelope, HandlerContext(database: db)) }
        }

        let intact = try Self.verify("payments", dataDirectory: directory)
        #expect(intact.status == 0, "\(intact.output)")
        #expect(intact.output.hasPrefix("ok: 2 records, head "), "\(intact.output)")

        try await AuditTampering.liftAppendOnly("payment_events", in: store)
        try await AuditTampering.run(["UPDATE payment_events SET detail = 'nothing happened' WHERE sequence = 1"], in: store)
        await store.close()
        let broken = try Self.verify("payments", dataDirectory: directory)
        #expect(broken.status == 1, "\(broken.output)")
        #expect(broken.output.hasPrefix("broken at sequence 1: changed"), "\(broken.output)")

        let missing = try Self.verify("identity", dataDirectory: directory)
        #expect(missing.status != 0 && missing.output.contains("no identity database"), "\(missing.output)")
    }
}
