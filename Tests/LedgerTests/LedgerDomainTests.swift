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
            EntryRules.validate(type: type, amount: amount, description: nil, category: nil, occurredAt: occurredAt, now: now)
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
}
