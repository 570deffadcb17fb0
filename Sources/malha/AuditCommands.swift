import ArgumentParser
import Identity
import Logging
import MalhaCore
import MalhaStore
import Payments

/// `malha audit verify <service>`: checks a service's audit trail, a hash chain, straight on its
/// database (the checks are `AuditChain.verify`; each service only reads its rows).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Audit trails: verify their hash chains.", subcommands: [Verify.self])

    /// The services that keep a chained audit trail.
    enum AuditedService: String, CaseIterable, ExpressibleByArgument {
        case identity, payments

        var name: ServiceName { ServiceName(rawValue) }

        func snapshot(in store: any SQLStore) async throws -> AuditChainSnapshot {
            switch self {
            case .identity: try await IdentityAuditTrail.snapshot(in: store)
            case .payments: try await PaymentsAuditTrail.snapshot(in: store)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that no audit record was changed, deleted or reordered.",
            discussion: """
                Reads the service's database: <data-dir>/<service>.sqlite, or malha.<service>.database-url \
                (MALHA_<SERVICE>_DATABASE_URL, PostgreSQL). Prints `ok: N records, head <hash>`, or the first \
                break and exits with status 1. Records written before the chain's migration are counted as \
                unchained, not checked. Anyone who can write the database can rebuild a whole chain: keep the \
                head it prints somewhere else and compare.
                """)

        @OptionGroup var common: CommonOptions

        @Argument(help: "The service: identity or payments.")
        var service: AuditedService

        @Option(name: .long, help: "Directory of the embedded databases. Default ./data or malha.data-dir.")
        var dataDir: String?

        func run() async throws {
            let settings = try await MalhaSettings.load(file: common.config, mode: .embedded, gatewayPort: nil, dataDir: dataDir)
            var logger = Logger(label: "malha.audit")
            logger.logLevel = .warning
            let service = service
            let snapshot = try await Topology(settings: settings, services: []).withExistingStore(
                for: service.name, logger: logger
            ) { store in try await service.snapshot(in: store) }
            let report = snapshot.verify()
            printNow(Self.describe(report))
            if !report.isIntact { throw ExitCode(1) }
        }

        /// The report for a terminal: the first line says ok or names the first break.
        static func describe(_ report: AuditChainReport) -> String {
            var lines: [String] = []
            if let first = report.breaks.first {
                lines.append("broken at \(first)")
                lines += report.breaks.dropFirst().map { "  then \($0)" }
                lines.append("\(report.records) records read, last sequence \(report.head.sequence)")
            } else {
                lines.append("ok: \(report.records) records, head \(report.head.hash)")
            }
            if report.unchained > 0 {
                lines.append("\(report.unchained) older records (before the chain began) are unchained: not checked")
            }
            return lines.joined(separator: "\n")
        }
    }
}
