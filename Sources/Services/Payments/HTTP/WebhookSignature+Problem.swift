import MalhaHTTP

extension WebhookSignature.Failure: ProblemConvertible {
    /// A notification the provider did not sign (or signed too long ago): 401, whichever check failed.
    public var problem: Problem {
        Problem(
            .unauthorized, code: "invalid_signature", title: "Unauthorized",
            detail: "the \(WebhookSignature.header) header is missing, stale or wrong (\(self))")
    }
}
