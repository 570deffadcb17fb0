import Hummingbird

/// One page of a cursor-paginated list: `{"items": […], "next_cursor": "…" | null}`.
public struct Page<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        // Always present: `null` on the last page, so clients need not test for a missing key.
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// A page read back by a client (`malha-bench`), in the same shape.
extension Page: Decodable where Item: Decodable {}
