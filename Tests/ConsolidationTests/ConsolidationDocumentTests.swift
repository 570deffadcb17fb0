import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Consolidation

/// The consolidation's OpenAPI document against what its handlers really answer and accept.
@Suite("Consolidation OpenAPI document", .serialized)
struct ConsolidationDocumentTests {
    let document = ConsolidationService.openAPI

    @Test func buildsWithEveryComponentAndNoDanglingReference() throws {
        #expect(document.danglingReferences() == [])
        for name in [
            "BalanceOfDay", "BalanceRange", "DayBalance", "Freshness", "RebuildRequest", "RebuildReport", "RebuildDifference",
            "RebuildFigures", "Problem",
        ] {
            #expect(document.components[name] != nil, "\(name)")
        }
        // The day is flattened into BalanceOfDay, as it is encoded.
        let day = try #require(document.components["BalanceOfDay"])
        #expect(
            Set(day.required) == [
                "account_id", "currency", "date", "opening_balance_cents", "credits_cents", "debits_cents", "net_cents",
                "closing_balance_cents", "entry_count", "freshness",
            ])
        let balance = try #require(document.operations.first { $0.routeKey == "GET /v1/accounts/{id}/balances/{date}" })
        #expect(balance.parameters.contains { $0.name == "If-None-Match" })
        #expect(
            Set(balance.responses.map(\.status)) == [200, 304, 400, 401, 404, 422], "400: a path spelling the gateway refuses")
        let rebuild = try #require(document.operations.first { $0.routeKey == "POST /v1/admin/consolidation/rebuild" })
        #expect(Set(rebuild.responses.map(\.status)) == [200, 400, 401, 403, 404, 415, 422, 502, 503])
    }

    @Test func realResponsesConformToTheirComponents() async throws {
        try await ConsolidationHarness.run { harness in
            let (account, _) = try await BalancesHTTPTests.seed(harness)
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let day = try await client.send(.get, "/v1/accounts/\(account)/balances/2026-03-09", headers: ana)
                #expect(day.status == .ok)
                #expect(try document.violations(of: day, against: "BalanceOfDay") == [])
                let range = try await client.send(
                    .get, "/v1/accounts/\(account)/balances?from=2026-03-08&to=2026-03-12", headers: ana)
                #expect(range.status == .ok)
                #expect(try document.violations(of: range, against: "BalanceRange") == [])
                let refused = try await client.send(.get, "/v1/accounts/\(account)/balances/2026-02-30", headers: ana)
                #expect(refused.status == .unprocessableContent)
                #expect(try document.violations(of: refused, against: "Problem") == [])
            }
            // Before any entry, freshness has a null recorded_at, written rather than omitted.
            let quiet = newAccountID()
            try await harness.deliver(try accountOpened(quiet, owner: "ana"))
            try await harness.test { client in
                let reply = try await client.send(.get, "/v1/accounts/\(quiet)/balances/2026-03-09", headers: ana)
                #expect(try document.violations(of: reply, against: "BalanceOfDay") == [])
            }
        }
    }

    @Test func aRebuildReportConforms() throws {
        let figures = RebuildReport.Figures(
            openingCents: 0, creditsCents: 1_000, debitsCents: 0, closingCents: 1_000, entryCount: 1)
        let report = RebuildReport(
            accountID: newAccountID(), from: nil, to: "2026-03-10", mode: "verify", consistent: false, ledgerEntries: 1,
            daysChecked: 2,
            differences: [
                .init(date: "2026-03-09", expected: figures, actual: nil),
                .init(date: "2026-03-10", expected: figures, actual: figures),
            ], missingEntries: [newAccountID()], missingEntryCount: 1, unexpectedEntries: [], unexpectedEntryCount: 0,
            repaired: false)
        let encoded = try JSONValue.encoding(report, with: JSONCoding.encoder)
        #expect(document.validator.violations(of: encoded, against: .reference("RebuildReport")) == [])
    }

    @Test func theRebuildRequestSchemaSaysWhatTheHandlerChecks() throws {
        let validator = document.validator
        let request = JSONSchema.reference("RebuildRequest")
        let id = newAccountID()
        #expect(validator.violations(of: ["account_id": .string(id)], against: request) == [])
        #expect(
            validator.violations(
                of: ["account_id": .string(id), "from": "2026-03-01", "to": nil, "verify": true], against: request)
                == [])
        #expect(!validator.violations(of: [:], against: request).isEmpty)
        #expect(!validator.violations(of: ["account_id": "not-a-uuid"], against: request).isEmpty)
        #expect(!validator.violations(of: ["account_id": .string(id), "date": "09/03/2026"], against: request).isEmpty)
    }

    @Test(.enabled(if: OpenAPISpecValidation.isAvailable))
    func openAPISpecValidatorAcceptsIt() throws {
        try OpenAPISpecValidation.check(document)
    }
}
