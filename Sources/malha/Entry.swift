import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
enum Entry {
    /// Swift Concurrency's global executor runs on NIO's event loops unless `MALHA_EXECUTOR=swift`:
    /// the async handlers then run on the thread that does their I/O, without a hop to the
    /// cooperative pool and back for every request (measured in BENCHMARKS.md). Nothing in Malha
    /// blocks a thread in async code — SQLite and bcrypt run on NIOThreadPool — which is what this
    /// takeover requires. It must happen first, before any task exists: hence a synchronous main.
    static func main() {
        if ProcessInfo.processInfo.environment["MALHA_EXECUTOR"] != "swift" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        Task { @MainActor in
            await Malha.main(nil)
            exit(0)
        }
        // The main thread serves the main queue (and so the main actor) until `exit`.
        dispatchMain()
    }
}
