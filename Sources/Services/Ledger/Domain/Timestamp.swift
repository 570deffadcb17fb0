public import Foundation

/// An `occurred_at` as the ledger reads it: RFC 3339 written
/// `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`, a real day and time in a year from 1970 to 9999,
/// without a leap second, to the millisecond (further digits are dropped, never rounded).
///
/// Read with integer arithmetic instead of `Date.ISO8601FormatStyle`, which takes what RFC 3339
/// does not (2026-02-30, 24:00, a trailing newline) and refuses some of what it does (offsets
/// past ±18:00): the ledger's rule is exactly `Timestamp.pattern` plus the `date-time` format.
public enum Timestamp {
    /// The shape, as a regex (ECMA-262 and Python's `re` read it alike). A trailing newline, which
    /// Python lets `$` pass, is refused by the `date-time` format the schema pairs this with.
    public static let pattern =
        #"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"#
        + #"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"#

    /// The instant `text` names, truncated to the millisecond, or nil when it is not one the ledger reads.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ index: Int, is characters: String) -> Bool {
            index < bytes.count && characters.utf8.contains(bytes[index])
        }
        guard let year = digits(0..<4), let month = digits(5..<7), let day = digits(8..<10),
            let hour = digits(11..<13), let minute = digits(14..<16), let second = digits(17..<19),
            byte(4, is: "-"), byte(7, is: "-"), byte(10, is: "Tt"), byte(13, is: ":"), byte(16, is: ":"),
            (1970...9999).contains(year), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var milliseconds = 0
        if byte(index, is: ".") {
            let start = index + 1
            index = start
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > start else { return nil }
            // The first three digits, padded: ".5" is 500 ms, ".123456" is 123 ms.
            for position in 0..<3 {
                milliseconds = milliseconds * 10 + (start + position < index ? Int(bytes[start + position] - 48) : 0)
            }
        }
        var offsetMinutes = 0
        if byte(index, is: "Zz"), index + 1 == bytes.count {
            offsetMinutes = 0
        } else if byte(index, is: "+-"), index + 6 == bytes.count, byte(index + 3, is: ":"),
            let offsetHour = digits(index + 1..<index + 3), let offsetMinute = digits(index + 4..<index + 6),
            offsetHour < 24, offsetMinute < 60
        {
            offsetMinutes = (offsetHour * 60 + offsetMinute) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let seconds =
            daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second
            - offsetMinutes * 60
        return Date(timeIntervalSince1970: Double(Int64(seconds) * 1_000 + Int64(milliseconds)) / 1_000)
    }

    /// Howard Hinnant's `days_from_civil` (proleptic Gregorian), for years from 1970 on.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// What a request said `occurred_at` was, before the rules judge it.
public enum TimestampInput: Sendable, Hashable {
    case date(Date)
    /// A string that is not a timestamp `Timestamp.parse` reads.
    case malformed
}
