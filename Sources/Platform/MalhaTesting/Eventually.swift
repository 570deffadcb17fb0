/// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it held.
/// For behaviour driven by real background work (a health checker, a poller) that a test cannot
/// step by hand; the timeout bounds the test, it is not the expectation.
public func eventually(
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(25), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}
