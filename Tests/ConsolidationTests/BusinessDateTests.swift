import Contracts
import Foundation
import Testing

@Suite("Business dates")
struct BusinessDateTests {
    @Test func addingCrossesMonthYearAndLeapDayBoundaries() {
        let cases: [(String, Int, String)] = [
            ("2026-03-10", 0, "2026-03-10"),
            ("2026-01-31", 1, "2026-02-01"),
            ("2026-04-30", 1, "2026-05-01"),
            ("2026-12-31", 1, "2027-01-01"),
            ("2026-02-28", 1, "2026-03-01"),
            ("2028-02-28", 1, "2028-02-29"),
            ("2028-02-29", 1, "2028-03-01"),
            ("2000-02-28", 1, "2000-02-29"),
            ("1900-02-28", 1, "1900-03-01"),
            ("2100-02-28", 1, "2100-03-01"),
            ("2026-03-01", -1, "2026-02-28"),
            ("2028-03-01", -1, "2028-02-29"),
            ("2027-01-01", -1, "2026-12-31"),
            ("1970-01-01", -1, "1969-12-31"),
            ("1969-12-31", 1, "1970-01-01"),
            ("2026-01-01", 365, "2027-01-01"),
            ("2028-01-01", 366, "2029-01-01"),
            ("2026-03-10", -3_650, "2016-03-12"),
            ("2026-03-10", 36_524, "2126-03-10"),
        ]
        for (date, days, expected) in cases {
            #expect(BusinessDate.adding(days, to: date) == expected, "\(date) + \(days)")
            #expect(BusinessDate.distance(from: date, to: expected) == days, "\(date) → \(expected)")
            #expect(BusinessDate.adding(-days, to: expected) == date, "\(expected) − \(days)")
        }
    }

    @Test func distanceCountsDaysAndIsNegativeBackwards() {
        #expect(BusinessDate.distance(from: "2026-03-01", to: "2026-03-03") == 2)
        #expect(BusinessDate.distance(from: "2026-03-03", to: "2026-03-01") == -2)
        #expect(BusinessDate.distance(from: "2026-03-03", to: "2026-03-03") == 0)
        #expect(BusinessDate.distance(from: "2026-02-01", to: "2026-03-01") == 28)
        #expect(BusinessDate.distance(from: "2028-02-01", to: "2028-03-01") == 29)
        #expect(BusinessDate.distance(from: "2024-01-01", to: "2025-01-01") == 366)
        #expect(BusinessDate.distance(from: "2025-01-01", to: "2026-01-01") == 365)
        #expect(BusinessDate.distance(from: "1970-01-01", to: "2026-03-10") == 20_522)
    }

    /// Every day from 1899-12-01 on for 5 000 days and from 1999-12-01 for 12 000 (leap and non-leap
    /// centuries, the epoch), against Foundation's Gregorian calendar in UTC.
    @Test(arguments: [("1899-12-01", 5_000), ("1999-12-01", 12_000)])
    func agreesWithFoundationsCalendar(start: String, count: Int) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        let parts = start.split(separator: "-").map { Int($0)! }
        let origin = try #require(calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])))
        var mismatches = 0
        for offset in 0..<count {
            let moment = try #require(calendar.date(byAdding: .day, value: offset, to: origin))
            let expected = BusinessDate.of(moment, in: calendar.timeZone)
            let components = calendar.dateComponents([.year, .month, .day], from: moment)
            let written = [(components.year!, 4), (components.month!, 2), (components.day!, 2)]
                .map { value, width in String(repeating: "0", count: width - String(value).count) + String(value) }
                .joined(separator: "-")
            if BusinessDate.adding(offset, to: start) != written || expected != written
                || BusinessDate.distance(from: start, to: written) != offset
                || BusinessDate.adding(-offset, to: written) != start || BusinessDate.parse(written) != written
            {
                mismatches += 1
                if mismatches <= 5 { Issue.record("day \(offset) after \(start): expected \(written)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func ofTakesTheAccountsTimeZone() throws {
        let moment = Date(timeIntervalSince1970: 1_773_106_200)  // 2026-03-10T01:30:00Z
        #expect(BusinessDate.of(moment, in: try #require(TimeZone(identifier: "UTC"))) == "2026-03-10")
        #expect(BusinessDate.of(moment, in: try #require(TimeZone(identifier: "America/Sao_Paulo"))) == "2026-03-09")
        #expect(BusinessDate.of(moment, in: try #require(TimeZone(identifier: "Asia/Tokyo"))) == "2026-03-10")
    }

    @Test func parseAcceptsOnlyRealDaysWrittenInFull() {
        for valid in ["2026-03-10", "2028-02-29", "2000-02-29", "2026-12-31", "2026-01-01"] {
            #expect(BusinessDate.parse(valid) == valid)
        }
        for invalid in [
            "2026-02-29", "1900-02-29", "2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00", "2026-3-10",
            "26-03-10", "2026/03/10", "2026-03-10T00:00:00Z", "x", "", "２026-03-10", "+026-03-10", "2026-03-1a",
        ] {
            #expect(BusinessDate.parse(invalid) == nil, "\(invalid)")
        }
    }
}
