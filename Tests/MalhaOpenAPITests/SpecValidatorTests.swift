import Foundation
import Testing

@testable import MalhaOpenAPI

/// Runs the real `openapi-spec-validator` (`pip install openapi-spec-validator`) on the sample
/// documents when it is installed; `scripts/test` installs it.
@Suite("openapi-spec-validator")
struct SpecValidatorTests {
    static let validator: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { "\($0)/openapi-spec-validator" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

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

    @Test("every sample document is a valid OpenAPI 3.1 document", .enabled(if: validator != nil))
    func validates() throws {
        let validator = try #require(Self.validator)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("malha-openapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, document) in try Self.samples() {
            let file = directory.appendingPathComponent("\(name).json")
            try Data(document.jsonBytes()).write(to: file)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: validator)
            process.arguments = [file.path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(name): \(text)")
            #expect(text.contains("OK"), "\(name): \(text)")
        }
    }
}
