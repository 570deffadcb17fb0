import Contracts
import Foundation
import MalhaHTTP
import Testing

@testable import Ledger

@Suite("Ledger rules")
struct LedgerDomainTests {
    static let saoPaulo = TimeZone(identifier: "America/Sao_Paulo")!

    @Test func businessDatesAreCalendarDaysInTheAccountsTimeZone() throws {
        func date(_ text: String) throws -> Date { try Date.ISO8601FormatStyle().parse(text) }
        #expect(BusinessDate.of(try date("2026-03-10T01:30:00Z"), in: Self.saoPaulo) == "2026-03-09")
        #expect(BusinessDate.of(try date("2026-03-10T02:59:59Z"), in: Self.saoPaulo) == "2026-03-09")
        #expect(BusinessDate.of(try date("2026-03-10T03:00:00Z"), in: Self.saoPaulo) == "2026-03-10")
        #expect(BusinessDate.of(try date("2026-03-10T01:30:00Z"), in: TimeZone(identifier: "UTC")!) == "2026-03-10")
        #expect(BusinessDate.of(try date("2026-03-10T16:00:00Z"), in: TimeZone(identifier: "Asia/Tokyo")!) == "2026-03-11")
        // New York moves to daylight time on 2026-03-08 at 07:00Z: 04:30Z is 23:30 of the 7th, 05:30Z 00:30 of the 8th.
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(BusinessDate.of(try date("2026-03-08T04:30:00Z"), in: newYork) == "2026-03-07")
        #expect(BusinessDate.of(try date("2026-03-08T05:30:00Z"), in: newYork) == "2026-03-08")
        #expect(BusinessDate.of(try date("2026-11-01T03:59:59Z"), in: newYork) == "2026-10-31")
        #expect(BusinessDate.of(Date(timeIntervalSince1970: 0), in: Self.saoPaulo) == "1969-12-31")
    }

    @Test func businessDateTextMustNameARealDay() {
        for valid in ["2026-03-09", "2024-02-29", "2000-02-29", "1970-01-01", "2026-12-31"] {
            #expect(BusinessDate.parse(valid) == valid, "\(valid)")
        }
        for invalid in [
            "2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-03-00", "2026-3-09", "20260309",
            "2026-03-09T00:00:00Z", "２０２６-03-09", "abcd-ef-gh", "", "2026/03/09",
        ] {
            #expect(BusinessDate.parse(invalid) == nil, "\(invalid)")
        }
    }

    @Test func accountRules() throws {
        let opening = try AccountRules.validate(name: "  Caixa  ", currency: nil, timezone: nil).get()
        #expect(opening == AccountOpening(name: "Caixa", currency: "BRL", timezone: "America/Sao_Paulo"))
        #expect(try AccountRules.validate(name: "x", currency: "USD", timezone: "UTC").get().currency == "USD")
        let broken: [(String?, String?, String?, [String])] = [
            (nil, nil, nil, ["name"]),
            ("\n\t ", nil, nil, ["name"]),
            (String(repeating: "a", count: 201), nil, nil, ["name"]),
            ("ok", "usd", "Nowhere/City", ["currency", "timezone"]),
            ("ok", "US", nil, ["currency"]),
            ("ok", "ÁBC", nil, ["currency"]),
            ("ok", nil, String(repeating: "A", count: 65), ["timezone"]),
        ]
        for (name, currency, timezone, fields) in broken {
            guard case .failure(let violations) = AccountRules.validate(name: name, currency: currency, timezone: timezone)
            else {
                Issue.record(
                    "accepted \(String(describing: name)) \(String(describing: currency)) \(String(describing: timezone))")
                continue
            }
            #expect(violations.fields == fields)
        }
    }

    @Test func entryRules() throws {
        let now = Date(timeIntervalSince1970: 1_773_144_000)
        func validate(
            _ amount: AmountInput, type: String? = "credit", occurredAt: Date? = nil
        ) -> Result<EntryDraft, Violations> {
            EntryRules.validate(
                type: type, amount: amount, description: nil, category: nil, occurredAt: occurredAt.map(TimestampInput.date),
                now: now)
        }
        #expect(try validate(.integer(1)).get().amountCents == 1)
        #expect(try validate(.integer(100_000_000_000)).get().amountCents == 100_000_000_000)
        for amount in [
            AmountInput.integer(0), .integer(-5), .integer(100_000_000_001), .integer(.min), .missing, .notAnInteger, .notANumber,
        ] {
            guard case .failure(let violations) = validate(amount) else {
                Issue.record("accepted \(amount)")
                continue
            }
            #expect(violations.fields == ["amount_cents"])
            #expect(violations.problem.code == "invalid_amount" && violations.problem.status == .unprocessableContent)
        }
        guard case .failure(let typeOnly) = validate(.integer(5), type: "Credit") else {
            Issue.record("accepted a type in the wrong case")
            return
        }
        #expect(typeOnly.problem.code == "validation_failed")
        #expect(try validate(.integer(5), occurredAt: now.addingTimeInterval(86_400)).get().occurredAt != nil)
        guard case .failure(let future) = validate(.integer(5), occurredAt: now.addingTimeInterval(86_400.001)) else {
            Issue.record("accepted a date more than a day ahead")
            return
        }
        #expect(future.fields == ["occurred_at"])
        // The clock, not a stated rule, refuses it: 409 with the same code.
        #expect(future.problem.status == .conflict && future.problem.code == "validation_failed")

        let trimmed = try EntryRules.validate(
            type: "debit", amount: .integer(10), description: "  aluguel de março \n", category: "   ", occurredAt: nil, now: now
        ).get()
        #expect(
            trimmed == EntryDraft(type: .debit, amountCents: 10, description: "aluguel de março", category: nil, occurredAt: nil))
    }

    /// How `amount_cents` reads from JSON: exact integers only, never a rounded fraction.
    @Test func amountsDecodeWithoutFloatingPoint() throws {
        struct Body: Decodable { var amount: AmountInput? }
        func read(_ literal: String) throws -> AmountInput {
            try JSONCoding.decoder.decode(Body.self, from: Data(#"{"amount": \#(literal)}"#.utf8)).amount ?? .missing
        }
        #expect(try read("1") == .integer(1))
        #expect(try read("100000000000") == .integer(100_000_000_000))
        #expect(try read("9223372036854775807") == .integer(.max))
        #expect(try read("-5") == .integer(-5))
        #expect(try read("null") == .missing)
        for fraction in ["10.5", "0.1", "1.0000000000000001", "99999999999.99", "1e30", "9223372036854775808", "1e-2"] {
            #expect(try read(fraction) == .notAnInteger, "\(fraction)")
        }
        for other in [#""10""#, "true", "[1]", #"{"cents": 1}"#] {
            #expect(try read(other) == .notANumber, "\(other)")
        }
        // A literal whose value is a whole number is that number (JSON does not tell 10.0 from 10).
        #expect(try read("10.0") == .integer(10))
        #expect(try read("1e3") == .integer(1000))
    }

    @Test func fingerprintsTellRequestsApart() {
        let draft = EntryDraft(type: .credit, amountCents: 100, description: nil, category: nil, occurredAt: nil)
        let same = RequestFingerprint.entry(draft, accountID: "a")
        #expect(same == RequestFingerprint.entry(draft, accountID: "a") && same.count == 64)
        var changed = draft
        changed.description = ""
        #expect(RequestFingerprint.entry(changed, accountID: "a") != same, "empty is not absent")
        #expect(RequestFingerprint.entry(draft, accountID: "b") != same)
        changed = draft
        changed.occurredAt = Date(timeIntervalSince1970: 0)
        #expect(RequestFingerprint.entry(changed, accountID: "a") != same)
        #expect(RequestFingerprint.reversal(ReversalDraft(), entryID: "a") != same)
    }

    @Test("occurred_at: RFC 3339 from year 1970 as written, real days and times, to the millisecond")
    func timestamps() throws {
        let accepted: [(String, Int64)] = [
            ("2026-03-09T10:00:00Z", 1_773_050_400_000), ("2026-03-09T10:00:00.123Z", 1_773_050_400_123),
            ("2026-03-09T10:00:00.5Z", 1_773_050_400_500), ("2026-03-09T10:00:00.123999999Z", 1_773_050_400_123),
            ("2026-03-09t10:00:00z", 1_773_050_400_000), ("2026-03-09T10:00:00-03:00", 1_773_061_200_000),
            ("2026-03-09T10:00:00+23:59", 1_772_964_060_000), ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            // The year as written is 1970: a little before the epoch once the offset is applied.
            ("1970-01-01T00:00:00+01:00", -3_600_000), ("9999-12-31T23:59:59Z", 253_402_300_799_000),
        ]
        for (text, milliseconds) in accepted {
            #expect(Timestamp.parse(text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } == milliseconds, "\(text)")
        }
        for text in [
            "", "yesterday", "1969-12-31T23:59:59Z", "0818-02-04T18:27:17-03:53", "2026-02-29T10:00:00Z",
            "2026-03-09T24:00:00Z", "2016-12-31T23:59:60Z", "2026-03-09T10:00:00Z\n", "2026-03-09 10:00:00Z",
            "2026-03-09T10:00:00", "2026-03-09T10:00:00.Z", "2026-03-09T10:00:00+0300", "2026-03-09T10:00:00+24:00",
            "2026-03-09T10:00Z", "+2026-03-09T10:00:00Z", "2026-3-09T10:00:00Z",
        ] {
            #expect(Timestamp.parse(text) == nil, "\(text.debugDescription)")
        }
        // What the document's pattern admits is what the parser reads (for real dates and times).
        let pattern = try NSRegularExpression(pattern: Timestamp.pattern)
        for text in accepted.map(\.0) {
            #expect(pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil, "\(text)")
        }
        for text in ["1969-12-31T23:59:59Z", "2016-12-31T23:59:60Z", "2026-03-09T10:00:00+0300"] {
            #expect(pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil, "\(text)")
        }
    }

    @Test("Text bounds count code points as sent, surrounding spaces included")
    func textBoundsCountCodePoints() throws {
        let now = Date(timeIntervalSince1970: 1_773_144_000)
        func category(_ text: String) -> Result<EntryDraft, Violations> {
            EntryRules.validate(type: "credit", amount: .integer(1), description: nil, category: text, occurredAt: nil, now: now)
        }
        // 51 flags are 51 characters but 102 code points: JSON Schema's maxLength 100 refuses them.
        #expect(throws: Violations.self) { try category(String(repeating: "🇧🇷", count: 51)).get() }
        #expect(try category(String(repeating: "é", count: 100)).get().category?.unicodeScalars.count == 100)
        #expect(throws: Violations.self) { try category(" " + String(repeating: "c", count: 100)).get() }
        #expect(try category("").get().category == nil, "blank is none")
        #expect(throws: Violations.self) {
            try AccountRules.validate(name: String(repeating: "👍🏻", count: 101), currency: nil, timezone: nil).get()
        }
        #expect(
            try AccountRules.validate(name: "s#\u{A8}9\u{9C}\u{9E}\u{F9}\u{8DCCE}\u{D73F0}\u{2}#c🏻", currency: nil, timezone: nil)
                .get().name.isEmpty == false)
    }
}
