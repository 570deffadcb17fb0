import Foundation
import HummingbirdTesting
import MalhaCore
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Ledger

/// The ledger's OpenAPI document against what its handlers really answer and accept.
@Suite("Ledger OpenAPI document", .serialized)
struct LedgerDocumentTests {
    let document = LedgerService.openAPI

    @Test func buildsWithEveryComponentAndNoDanglingReference() throws {
        #expect(document.danglingReferences() == [])
        for name in [
            "OpenAccountRequest", "RecordEntryRequest", "ReversalRequest", "LedgerAccount", "LedgerAccountPage", "LedgerEntry",
            "LedgerEntryPage", "LedgerEntryType", "Problem",
        ] {
            #expect(document.components[name] != nil, "\(name)")
        }
        let record = try #require(document.operations.first { $0.routeKey == "POST /v1/accounts/{id}/entries" })
        #expect(record.parameters.contains { $0.name == "Idempotency-Key" && $0.required })
        #expect(Set(record.responses.map(\.status)) == [201, 400, 401, 404, 409, 415, 422])
        let reversal = try #require(document.operations.first { $0.routeKey == "POST /v1/entries/{id}/reversal" })
        #expect(reversal.requestBody?.required == false)
        #expect(document.operations.filter { !$0.isPlatform }.allSatisfy { $0.security == [.bearer] })
    }

    @Test func realResponsesConformToTheirComponents() async throws {
        try await LedgerHarness.run { harness in
            let ana = try await harness.headers("ana")
            try await harness.test { client in
                let opened = try await client.send(.post, "/v1/accounts", headers: ana, json: #"{"name": "Caixa"}"#)
                #expect(opened.status == .created)
                #expect(try document.violations(of: opened, against: "LedgerAccount") == [])
                let account = try opened.decode(LedgerAccount.self)
                let accounts = try await client.send(.get, "/v1/accounts", headers: ana)
                #expect(try document.violations(of: accounts, against: "LedgerAccountPage") == [])
                let shown = try await client.send(.get, "/v1/accounts/\(account.id)", headers: ana)
                #expect(try document.violations(of: shown, against: "LedgerAccount") == [])

                var keyed = ana
                keyed[.idempotencyKey] = "doc-1"
                let recorded = try await client.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: keyed,
                    json: #"{"type": "credit", "amount_cents": 1500, "category": "vendas"}"#)
                #expect(recorded.status == .created)
                #expect(try document.violations(of: recorded, against: "LedgerEntry") == [])
                let entry = try recorded.decode(LedgerEntry.self)
                let entries = try await client.send(.get, "/v1/accounts/\(account.id)/entries", headers: ana)
                #expect(try document.violations(of: entries, against: "LedgerEntryPage") == [])
                let one = try await client.send(.get, "/v1/entries/\(entry.id)", headers: ana)
                #expect(try document.violations(of: one, against: "LedgerEntry") == [])

                keyed[.idempotencyKey] = "doc-2"
                let reversal = try await client.send(.post, "/v1/entries/\(entry.id)/reversal", headers: keyed)
                #expect(reversal.status == .created)
                #expect(try document.violations(of: reversal, against: "LedgerEntry") == [])

                let refused = try await client.send(
                    .post, "/v1/accounts/\(account.id)/entries", headers: keyed, json: #"{"type": "credit", "amount_cents": 1.5}"#
                )
                #expect(refused.status == .unprocessableContent)
                #expect(try document.violations(of: refused, against: "Problem") == [])
            }
        }
    }

    @Test func requestSchemasSayWhatTheRulesSay() throws {
        let validator = document.validator
        let account = JSONSchema.reference("OpenAccountRequest")
        #expect(validator.violations(of: ["name": "Caixa"], against: account) == [])
        #expect(validator.violations(of: ["name": "Caixa", "currency": nil, "timezone": nil], against: account) == [])
        #expect(validator.violations(of: ["name": "Caixa", "timezone": "America/Sao_Paulo"], against: account) == [])
        #expect(!validator.violations(of: ["name": "   "], against: account).isEmpty)
        #expect(!validator.violations(of: ["name": "Caixa", "currency": "brl"], against: account).isEmpty)
        #expect(!validator.violations(of: ["name": "Caixa", "timezone": "Mars/Olympus"], against: account).isEmpty)
        #expect(!validator.violations(of: [:], against: account).isEmpty)
        // Every documented time zone is one the rules accept.
        #expect(LedgerSchemas.timeZones.allSatisfy(AccountRules.isTimeZone))
        #expect(LedgerSchemas.timeZones.contains(AccountRules.defaultTimezone))

        let entry = JSONSchema.reference("RecordEntryRequest")
        #expect(validator.violations(of: ["type": "debit", "amount_cents": 100, "description": nil], against: entry) == [])
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 0], against: entry).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": 100_000_000_001], against: entry).isEmpty)
        #expect(!validator.violations(of: ["type": "credit", "amount_cents": "100"], against: entry).isEmpty)
        #expect(!validator.violations(of: ["type": nil, "amount_cents": 1], against: entry).isEmpty)
    }

    @Test(.enabled(if: OpenAPISpecValidation.isAvailable))
    func openAPISpecValidatorAcceptsIt() throws {
        try OpenAPISpecValidation.check(document)
    }
}
