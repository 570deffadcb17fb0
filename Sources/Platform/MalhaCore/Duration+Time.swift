public import Foundation

extension Duration {
    /// Seconds as a `TimeInterval`, for `Date` arithmetic.
    public var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole nanoseconds, saturating.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, saturating (for millisecond columns and configuration keys).
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    /// Whole seconds, rounded up: for wire fields counted in seconds (a lease TTL, `Retry-After`,
    /// a token lifetime), where 500 ms must become 1, never 0.
    public var secondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        return attoseconds > 0 ? seconds + 1 : seconds
    }
}

extension Date {
    /// This instant moved by `duration`.
    public func adding(_ duration: Duration) -> Date {
        addingTimeInterval(duration.seconds)
    }
}
