import Foundation

/// Shared JSON coders: created once (they are expensive), configured the same everywhere.
/// Snake-case keys on the wire are spelled out with `CodingKeys` in each type, not converted.
///
/// Dates are RFC 3339 in UTC with milliseconds (`2026-11-23T16:43:35.123Z`) — the precision the
/// databases keep, so the times a client sees order events the way the server does. Decoding also
/// takes whole seconds (`…T16:43:35Z`).
public enum JSONCoding {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(withMilliseconds))
        }
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? withMilliseconds.parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 date-time such as 2026-11-23T16:43:35.123Z")
        }
        return decoder
    }()

    static let withMilliseconds = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
