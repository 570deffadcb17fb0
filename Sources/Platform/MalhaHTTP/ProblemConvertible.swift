/// An error that knows the problem+json it answers with.
///
/// Domain errors conform in their service's `HTTP/` folder (so `Domain/` stays free of HTTP), and
/// routes simply throw them: `ProblemMiddleware` renders whatever conforms, and nothing converts
/// an error by hand. A conformance whose problem is a 5xx is still logged once, with the request
/// id, by the middleware (the body never carries the error itself).
public protocol ProblemConvertible: Error {
    var problem: Problem { get }
}

extension Problem: ProblemConvertible {
    public var problem: Problem { self }
}
