import ArgumentParser
import Foundation
import Logging
import MalhaBus
import MalhaHTTP
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import ServiceLifecycle

/// `malha dlq …`: the dead letters for people at a terminal, straight on the bus database (the
/// same operations as `/v1/admin/dead-letters` through the gateway).
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Dead letters: list, show, replay, purge.",
        discussion: """
            Works on the bus database: <data-dir>/bus.sqlite, or MALHA_BUS_DATABASE_URL (PostgreSQL). \
            Replay puts messages back on their subscription as fresh deliveries (their history kept); \
            consumers' inboxes make a replay of an already-applied message a no-op.
            """,
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct Location: ParsableArguments {
        @OptionGroup var common: CommonOptions

        @Option(name: .long, help: "Directory of the embedded databases. Default ./data or malha.data-dir.")
        var dataDir: String?

        /// Runs `body` with the bus's dead letters, the store running (PostgreSQL needs its pool
        /// running) and closed afterwards.
        func withDeadLetters<T: Sendable>(_ body: @Sendable (any DeadLetterStore) async throws -> T) async throws -> T {
            let settings = try await MalhaSettings.load(file: common.config, mode: .embedded, gatewayPort: nil, dataDir: dataDir)
            var logger = Logger(label: "malha.dlq")
            logger.logLevel = .warning
            return try await Topology(settings: settings, services: []).withExistingStore(for: .bus, logger: logger) { store in
                try await Migrator.migrate(store, SQLTransport.migrations, logger: logger)
                return try await body(SQLTransport(store: store, logger: logger))
            }
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @OptionGroup var location: Location
        @Option(name: .long, help: "Only this subscription.") var subscription: String?
        @Option(name: .long, help: "At most this many (1–1000).") var limit = 100
        @Flag(name: .long, help: "One JSON object per line instead of a table.") var json = false

        func run() async throws {
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1 to 1000") }
            let (subscription, limit, json) = (subscription, limit, json)
            let letters = try await location.withDeadLetters { store in
                try await store.deadLetters(subscription: subscription, limit: limit, after: nil)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                for letter in letters {
                    printNow(String(decoding: try encoder.encode(DeadLetterView(letter)), as: UTF8.self))
                }
                return
            }
            if letters.isEmpty {
                printNow("No dead letters.")
                return
            }
            let formatter = ISO8601DateFormatter()
            for letter in letters {
                let error = letter.lastError.replacingOccurrences(of: "\n", with: " ")
                printNow(
                    [
                        letter.envelope.id, letter.subscription, letter.envelope.type, "\(letter.attempts.count) attempts",
                        formatter.string(from: letter.deadAt), String(error.prefix(100)),
                    ].joined(separator: "  "))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with every attempt.")
        @OptionGroup var location: Location
        @Argument(help: "The subscription.") var subscription: String
        @Argument(help: "The message id.") var id: String

        func run() async throws {
            let (subscription, id) = (subscription, id)
            guard let letter = try await location.withDeadLetters({ try await $0.deadLetter(id: id, subscription: subscription) })
            else {
                throw ValidationError("no dead letter \(id) in \(subscription)")
            }
            printNow(try DeadLetters.json(DeadLetterView(letter)))
        }
    }

    struct Selection: ParsableArguments {
        @Argument(help: "The subscription.") var subscription: String
        @Option(name: .long, help: "A message id (repeat for several).") var id: [String] = []
        @Flag(name: .long, help: "Every dead letter of the subscription.") var all = false

        func resolved() throws -> [String]? {
            if all && !id.isEmpty { throw ValidationError("give --id or --all, not both") }
            if !all && id.isEmpty { throw ValidationError("give --id <message id> (repeatable) or --all") }
            return all ? nil : id
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put dead letters back on their subscription.")
        @OptionGroup var location: Location
        @OptionGroup var selection: Selection

        func run() async throws {
            let (subscription, ids) = (selection.subscription, try selection.resolved())
            let count = try await location.withDeadLetters { try await $0.replay(subscription: subscription, ids: ids) }
            printNow("Replayed \(count) dead letter\(count == 1 ? "" : "s") on \(subscription).")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @OptionGroup var location: Location
        @OptionGroup var selection: Selection

        func run() async throws {
            let (subscription, ids) = (selection.subscription, try selection.resolved())
            let count = try await location.withDeadLetters { try await $0.purge(subscription: subscription, ids: ids) }
            printNow("Purged \(count) dead letter\(count == 1 ? "" : "s") from \(subscription).")
        }
    }
}
