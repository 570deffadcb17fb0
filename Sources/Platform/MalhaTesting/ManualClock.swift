public import Foundation
public import MalhaCore
import Synchronization

/// A `WallClock` that only moves when a test moves it: time-dependent logic is tested without sleeping.
public final class ManualClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward (or back, with a negative duration).
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.adding(duration) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
