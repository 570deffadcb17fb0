public import Foundation

/// Business days: the calendar day a moment falls on in an account's time zone, written
/// "YYYY-MM-DD". The text form sorts like the days it names, so ranges compare as strings.
///
/// Shared by the ledger (which stamps each entry's `business_date`) and the consolidation (which
/// sums entries per business day and walks ranges of days).
public enum BusinessDate {
    /// `date`'s calendar day (Gregorian) in `timeZone`: 2026-03-10T01:30:00Z is "2026-03-09" in
    /// America/Sao_Paulo (UTC−3).
    public static func of(_ date: Date, in timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        return format(year: day.year ?? 0, month: day.month ?? 0, day: day.day ?? 0)
    }

    /// `text` when it is a real day written "YYYY-MM-DD" (2026-02-29 is not: 2026 is no leap year).
    public static func parse(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        return text
    }

    /// The day `days` after `date` (before, when negative); `date` must be a valid "YYYY-MM-DD".
    public static func adding(_ days: Int, to date: String) -> String {
        let day = dayNumber(date) + days
        return civil(fromDayNumber: day)
    }

    /// Days from `from` to `to` (negative when `to` is earlier): 2026-03-01 to 2026-03-03 is 2.
    public static func distance(from: String, to: String) -> Int { dayNumber(to) - dayNumber(from) }

    /// Days since 1970-01-01 of a valid "YYYY-MM-DD" (Howard Hinnant's `days_from_civil`):
    /// integer arithmetic, no calendar or time zone involved.
    static func dayNumber(_ date: String) -> Int {
        let bytes = Array(date.utf8)
        func number(_ range: Range<Int>) -> Int {
            bytes[range].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        var year = number(0..<4)
        let month = number(5..<7)
        let day = number(8..<10)
        if month <= 2 { year -= 1 }
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `dayNumber` (`civil_from_days`).
    static func civil(fromDayNumber number: Int) -> String {
        let z = number + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return format(year: year, month: month, day: day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func format(year: Int, month: Int, day: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
    }
}
