import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `malha-bench`: the load generators and benchmarks, apart from the production binary (`malha`
/// lists only what an operator uses). `scripts/bench/*` run it; see BENCHMARKS.md.
struct MalhaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "malha-bench",
        abstract: "Load generators and benchmarks for Malha.",
        subcommands: [Load.self, Bench.self])
}

@main
enum Entry {
    /// The same executor as `malha` (Swift Concurrency on NIO's event loops unless
    /// `MALHA_EXECUTOR=swift`), so that `bench bus` measures the platform as it runs in production.
    static func main() {
        if ProcessInfo.processInfo.environment["MALHA_EXECUTOR"] != "swift" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        Task { @MainActor in
            await MalhaBench.main(nil)
            exit(0)
        }
        dispatchMain()
    }
}
