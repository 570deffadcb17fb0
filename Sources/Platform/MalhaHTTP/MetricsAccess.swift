import Crypto
public import Foundation
import MalhaCore

/// Who may read a listener's `/metrics`: its counters name every route, status and upstream, and
/// its gauges tell an attacker how loaded the system is, so by default only a scraper holding the
/// metrics token does (`Authorization: Bearer <token>`, as Prometheus's `authorization` block
/// sends it). Read from `malha.metrics.*` (README, "Configuration").
public enum MetricsAccess: Sendable {
    /// Anyone who reaches the port (`malha.metrics.public`: a listener only the monitoring
    /// network reaches).
    case open
    /// Only a request that presents this token.
    case bearer(MetricsToken)

    /// Whether a request with this `Authorization` header may read the metrics.
    func admits(authorization: String?) -> Bool {
        switch self {
        case .open:
            return true
        case .bearer(let token):
            guard let presented = authorization.flatMap(AuthorizationHeader.bearerToken) else { return false }
            return token.matches(presented)
        }
    }

    /// 401 for a scrape without the token; the same answer whether none or a wrong one was sent.
    static let refusal: Problem = {
        var problem = Problem.unauthorized("/metrics needs the metrics token (Authorization: Bearer …)")
        problem.code = "metrics_token_required"
        return problem
    }()
}

/// The metrics token, kept only as its SHA-256 digest; a presented token is compared digest to
/// digest, in constant time (swift-crypto's digest equality).
public struct MetricsToken: Sendable {
    let digest: SHA256.Digest

    /// The shortest token accepted: a guessable one would make the check theatre.
    public static let minimumLength = 16

    /// nil for a token shorter than `minimumLength` (after trimming).
    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count >= Self.minimumLength else { return nil }
        digest = SHA256.hash(data: Data(text.utf8))
    }

    func matches(_ presented: String) -> Bool {
        SHA256.hash(data: Data(presented.utf8)) == digest
    }
}
