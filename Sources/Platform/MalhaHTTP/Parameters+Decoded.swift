public import Hummingbird

extension Parameters {
    /// The path parameter `name` as the client meant it: percent-decoded (the router hands over
    /// the raw segment, so `a%20b` would otherwise be counted and looked up as six characters).
    /// A segment that is not valid percent-encoding is a 400.
    public func requireDecoded(_ name: String) throws -> String {
        let raw = try require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw Problem.badRequest("invalid_path", "the path parameter \(name) is not valid percent-encoding")
        }
        return decoded
    }
}
