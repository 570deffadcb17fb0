import Foundation

/// The one spelling of a request path that the gateway routes, authorises and forwards.
///
/// An upstream resolves a path its own way: it may collapse `//`, drop `;` parameters, decode
/// `%2F` into a separator, resolve `..`, or read `\` as `/`. If the gateway chose the route and its
/// policy on one spelling and the upstream acted on another, `/legacy//admin` would pass as the
/// public `/legacy` and be served as the admin-only `/legacy/admin`. So, before routing, the path
/// is brought to one form, and that form is both matched and forwarded:
/// - runs of `/` collapse into one (`/a//b` → `/a/b`);
/// - `;` (raw or `%3B`), encoded separators (`%2F`, `%5C`), a raw `\`, NUL (`%00`) and dot
///   segments (raw or encoded) are refused — no spelling of them means the same to every server.
///
/// Matching uses the percent-decoded form; forwarding the still-encoded one, which decodes to it
/// segment for segment (nothing refused above can make or remove a separator when decoded).
public struct CanonicalPath: Sendable, Equatable {
    /// What is forwarded: the canonical path, still percent-encoded.
    public let encoded: String
    /// What routes match on: `encoded`, percent-decoded.
    public let decoded: String

    /// Why a path was refused (the detail of the 400 `invalid_path`).
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notAbsolute
        case badPercentEncoding
        case parameters
        case encodedSeparator
        case dotSegment
        case nul

        public var description: String {
            switch self {
            case .notAbsolute: "the path must start with /"
            case .badPercentEncoding: "the path is not valid percent-encoding"
            case .parameters: "';' path parameters are not accepted"
            case .encodedSeparator: "encoded or back slashes are not accepted in a path"
            case .dotSegment: "dot segments ('.', '..') are not accepted in a path"
            case .nul: "NUL is not accepted in a path"
            }
        }
    }

    /// The canonical form of `raw` (the request target's path, without its query).
    public init(_ raw: Substring) throws(Refusal) {
        guard raw.hasPrefix("/") else { throw .notAbsolute }
        var collapsed = ""
        collapsed.reserveCapacity(raw.utf8.count)
        var previousWasSlash = false
        for scalar in raw.unicodeScalars {
            switch scalar {
            case ";": throw .parameters
            case "\\": throw .encodedSeparator
            case "/":
                if previousWasSlash { continue }
                previousWasSlash = true
            default:
                previousWasSlash = false
            }
            collapsed.unicodeScalars.append(scalar)
        }
        if collapsed.utf8.contains(UInt8(ascii: "%")) {
            let upper = collapsed.uppercased()
            if upper.contains("%2F") || upper.contains("%5C") { throw .encodedSeparator }
            if upper.contains("%3B") { throw .parameters }
            if upper.contains("%00") { throw .nul }
        }
        guard let decoded = collapsed.removingPercentEncoding else { throw .badPercentEncoding }
        if decoded.contains("/.") {
            for segment in decoded.split(separator: "/", omittingEmptySubsequences: false) where segment == "." || segment == ".."
            {
                throw .dotSegment
            }
        }
        self.encoded = collapsed
        self.decoded = decoded
    }
}
