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
}

extension Date {
    /// This instant moved by `duration`.
    public func adding(_ duration: Duration) -> Date {
        addingTimeInterval(duration.seconds)
    }
}
