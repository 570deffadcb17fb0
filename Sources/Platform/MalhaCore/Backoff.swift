/// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
/// attempt n waits a uniform random time in [0, min(cap, base · 2ⁿ)].
public struct Backoff: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The upper bound of the wait before retry `attempt` (0-based).
    public func ceiling(attempt: Int) -> Duration {
        let factor = Double(1 << min(max(attempt, 0), 30))
        let scaled = base * factor
        return scaled < cap ? scaled : cap
    }

    /// A jittered wait for retry `attempt` (0-based).
    public func delay<G: RandomNumberGenerator>(attempt: Int, using generator: inout G) -> Duration {
        Self.fullJitter(ceiling(attempt: attempt), using: &generator)
    }

    /// A uniform random wait in `0...ceiling`.
    public static func fullJitter<G: RandomNumberGenerator>(_ ceiling: Duration, using generator: inout G) -> Duration {
        let nanoseconds = ceiling.nanoseconds
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
    }

    public static func fullJitter(_ ceiling: Duration) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return fullJitter(ceiling, using: &generator)
    }

    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}
