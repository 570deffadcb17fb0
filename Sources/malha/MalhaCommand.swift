import ArgumentParser
import Logging
import MalhaCore

struct Malha: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "malha",
        abstract: "Malha: a microservices platform and the systems that run on it.",
        discussion: """
            `malha up` starts every service in one process (SQLite under ./data, gateway on :8080). \
            `malha serve <service>` starts one service per process, for production (PostgreSQL via \
            MALHA_<SERVICE>_DATABASE_URL). Configuration comes from MALHA_* environment variables and an \
            optional JSON file (--config); README.md lists every key.
            """,
        subcommands: [
            Up.self, Serve.self, DeadLetters.self, ConsolidationCommand.self, AuditCommand.self, RegistryCommand.self,
            TOTPCommand.self,
        ]
    )
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "A JSON configuration file (keys as in README, e.g. {\"malha\":{\"gateway\":{\"port\":8080}}}).")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    @Flag(name: .long, help: "Human-readable logs instead of JSON lines.")
    var textLogs = false
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start every service in one process, each on its own loopback port.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Gateway port (services take the next ports). Default 8080 or malha.gateway.port.")
    var port: Int?

    @Option(name: .long, help: "Directory for the SQLite databases. Default ./data or malha.data-dir.")
    var dataDir: String?

    func run() async throws {
        let settings = try await MalhaSettings.load(file: common.config, mode: .embedded, gatewayPort: port, dataDir: dataDir)
        bootstrapLogging(settings: settings, common: common)
        try await Topology(settings: settings, services: Topology.deployments).run(printBanner: true)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start one service in this process (production: one container per service).")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The service: \(ServiceName.allValueStrings.joined(separator: ", ")).")
    var service: ServiceName

    @Option(name: .long, help: "Port to listen on (default from malha.<service>.port).")
    var port: Int?

    func run() async throws {
        var settings = try await MalhaSettings.load(file: common.config, mode: .production, gatewayPort: nil, dataDir: nil)
        if let port { settings.endpoints[service]?.port = port }
        bootstrapLogging(settings: settings, common: common)
        try await Topology(settings: settings, services: Topology.deployments(named: [service])).run(printBanner: false)
    }
}

func bootstrapLogging(settings: MalhaSettings, common: CommonOptions) {
    let level = common.logLevel ?? settings.logLevel
    let json = !(common.textLogs || settings.logFormat == .text)
    LoggingSystem.bootstrap { label in
        if json { return JSONLogHandler(label: label, level: level) }
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// `--log-level` takes only a level swift-log knows (a typo is refused, not taken for `info`).
extension Logger.Level: @retroactive ExpressibleByArgument {}
