import HTTPTypes
import NIOHTTP1

/// Hop-by-hop headers (RFC 9110 §7.6.1) never cross the gateway, nor do those `Connection` names.
enum ProxyHeaders {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// Lower-cased names listed in `Connection` headers.
    static func connectionNamed(_ values: some Sequence<Substring>) -> Set<String> {
        var names: Set<String> = []
        for value in values {
            for name in value.split(separator: ",") {
                let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
                if !trimmed.isEmpty { names.insert(trimmed) }
            }
        }
        return names
    }

    /// The headers to send upstream: the client's minus hop-by-hop, `Host`, `Content-Length`
    /// (the body's framing is set from its length) and the forwarding headers the gateway writes.
    static func upstreamRequestHeaders(
        from fields: HTTPFields, clientAddress: String?, requestID: String
    ) -> HTTPHeaders {
        let named = connectionNamed(fields[values: .connection].map { Substring($0) })
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 3)
        var forwardedFor: String?
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || (!named.isEmpty && named.contains(name)) { continue }
            switch name {
            case "host", "content-length", "x-forwarded-proto", "x-request-id":
                continue
            case "x-forwarded-for":
                forwardedFor = forwardedFor.map { "\($0), \(field.value)" } ?? field.value
            default:
                headers.add(name: field.name.rawName, value: field.value)
            }
        }
        if let clientAddress {
            forwardedFor = forwardedFor.map { "\($0), \(clientAddress)" } ?? clientAddress
        }
        if let forwardedFor { headers.add(name: "X-Forwarded-For", value: forwardedFor) }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        headers.add(name: "X-Request-ID", value: requestID)
        return headers
    }

    /// The upstream's response headers minus hop-by-hop ones (and the request id the gateway echoes itself).
    static func downstreamResponseHeaders(from headers: HTTPHeaders) -> HTTPFields {
        let named = connectionNamed(headers["connection"].map { Substring($0) })
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count)
        for (name, value) in headers {
            let lowered = name.lowercased()
            if hopByHop.contains(lowered) || (!named.isEmpty && named.contains(lowered)) || lowered == "x-request-id" {
                continue
            }
            guard let fieldName = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }
}
