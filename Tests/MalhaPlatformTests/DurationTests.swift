import Foundation
import MalhaCore
import Testing

/// The one conversion from `Duration` used everywhere: fractions survive, and whole-second wire
/// fields round up, so a 500 ms interval never becomes 0.
@Suite("Duration conversions")
struct DurationTests {
    @Test func fractionsAreKept() {
        #expect(Duration.milliseconds(500).seconds == 0.5)
        #expect(Duration.milliseconds(500).milliseconds == 500)
        #expect(Duration.microseconds(1500).nanoseconds == 1_500_000)
        #expect(Date(timeIntervalSince1970: 10).adding(.milliseconds(250)) == Date(timeIntervalSince1970: 10.25))
    }

    @Test func wholeSecondsRoundUp() {
        #expect(Duration.milliseconds(500).secondsRoundedUp == 1)
        #expect(Duration.seconds(2).secondsRoundedUp == 2)
        #expect(Duration.milliseconds(2001).secondsRoundedUp == 3)
        #expect(Duration.zero.secondsRoundedUp == 0)
    }

    @Test func saturatesInsteadOfOverflowing() {
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
    }
}
