import ArgumentParser
import MalhaRegistry

/// `malha registry …`: what an operator needs to give each service its own registry identity.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "The service registry: per-service credentials.",
        subcommands: [Credential.self])

    struct Credential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a service's registry credential (give it to that service as MALHA_REGISTRY_CREDENTIAL).",
            discussion: """
                Derived from malha.registry.key (MALHA_REGISTRY_KEY), which only the registry holds. A credential \
                lets its holder register, renew and deregister instances of that one service, claiming only the \
                route prefixes the service owns.
                """)

        @OptionGroup var common: CommonOptions

        @Argument(help: "The service (any name; the topology's are \(ServiceName.allValueStrings.joined(separator: ", "))).")
        var service: String

        func run() async throws {
            let settings = try await MalhaSettings.load(file: common.config, mode: .production, gatewayPort: nil, dataDir: nil)
            guard let key = settings.registryKey else {
                throw ValidationError("malha.registry.key (MALHA_REGISTRY_KEY) is needed to derive a credential")
            }
            guard !service.isEmpty, service.utf8.count <= 64,
                service.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
            else {
                throw ValidationError("a service name is 1 to 64 of a-z, 0-9 and -")
            }
            printNow(RegistryCredential(service: service, key: key).header)
        }
    }
}
