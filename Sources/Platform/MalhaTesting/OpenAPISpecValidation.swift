import Foundation
public import MalhaOpenAPI

/// Runs the real `openapi-spec-validator` (PyPI; `scripts/test` installs it) on a document, with
/// every `$ref` resolved, so a test fails on what a client generator or a fuzzer would refuse.
public enum OpenAPISpecValidation {
    /// The validator on `PATH`, if installed (tests that need it are `.enabled(if: isAvailable)`).
    public static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { "\($0)/openapi-spec-validator" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    public static var isAvailable: Bool { executable != nil }

    /// What the validator said when it refused the document.
    public struct Failure: Error, CustomStringConvertible {
        public var document: String
        public var output: String
        public var description: String { "openapi-spec-validator refused \(document): \(output)" }
    }

    /// Throws `Failure` with the validator's output unless it accepts `document`.
    public static func check(_ document: OpenAPIDocument) throws {
        guard let executable else { return }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("malha-openapi-\(UUID().uuidString).json")
        try Data(document.jsonBytes()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, text.contains("OK") else {
            throw Failure(document: document.service, output: text)
        }
    }
}
