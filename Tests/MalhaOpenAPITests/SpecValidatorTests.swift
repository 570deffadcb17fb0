import Foundation
import MalhaTesting
import Testing

@testable import MalhaOpenAPI

/// Runs the real `openapi-spec-validator` (`pip install openapi-spec-validator`) on the sample
/// documents when it is installed; `scripts/test` installs it.
@Suite("openapi-spec-validator")
struct SpecValidatorTests {
    static func samples() throws -> [(String, OpenAPIDocument)] {
        [
            ("ledger", try SampleDocuments.ledger()), ("orders", try SampleDocuments.shop()),
            ("identity", try SampleDocuments.identity()), ("gateway", try SampleDocuments.gateway()),
        ]
    }

    /// Writes the samples where `MALHA_OPENAPI_SAMPLE_DIR` says , else nowhere.
    @Test("writes the sample documents where MALHA_OPENAPI_SAMPLE_DIR says")
    func writesSampleDocuments() throws {
        guard let directory = ProcessInfo.processInfo.environment["MALHA_OPENAPI_SAMPLE_DIR"] else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, document) in try Self.samples() {
            let url = URL(fileURLWithPath: directory).appendingPathComponent("\(name).openapi.json")
            try Data(document.jsonBytes(pretty: true)).write(to: url)
            try Data(document.docsPage().utf8).write(to: url.deletingPathExtension().appendingPathExtension("html"))
        }
    }

    @Test("every sample document is a valid OpenAPI 3.1 document", .enabled(if: OpenAPISpecValidation.isAvailable))
    func validates() throws {
        for (_, document) in try Self.samples() { try OpenAPISpecValidation.check(document) }
    }
}
