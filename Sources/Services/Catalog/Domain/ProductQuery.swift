import Foundation

/// How a product list is ordered. Every order ends with the id, so it is total and a cursor
/// (the last row's sort key and id) says exactly where the next page starts.
public enum ProductSort: String, Sendable, CaseIterable, Codable {
    case name
    case priceAscending = "price_asc"
    case priceDescending = "price_desc"
    case newest
}

/// A parsed, validated `GET /v1/products` query.
public struct ProductQuery: Sendable, Hashable {
    public static let defaultLimit = 20
    public static let maxLimit = 100

    public var text: String?
    /// A category id or slug.
    public var category: String?
    public var minPriceCents: Int?
    public var maxPriceCents: Int?
    public var inStock: Bool?
    public var sort: ProductSort
    public var limit: Int
    public var cursor: ProductCursor?

    public init(
        text: String? = nil, category: String? = nil, minPriceCents: Int? = nil, maxPriceCents: Int? = nil,
        inStock: Bool? = nil, sort: ProductSort = .name, limit: Int = ProductQuery.defaultLimit,
        cursor: ProductCursor? = nil
    ) {
        self.text = text
        self.category = category
        self.minPriceCents = minPriceCents
        self.maxPriceCents = maxPriceCents
        self.inStock = inStock
        self.sort = sort
        self.limit = limit
        self.cursor = cursor
    }

    public enum ParseError: Error, Sendable, Equatable {
        case invalid([FieldViolation])
        /// A cursor this endpoint did not issue for this sort order: it names no page (404).
        case cursorNotFound
    }

    /// Parses query parameters (first value of each). Unknown parameters are ignored.
    public static func parse(_ parameters: [String: String]) -> Result<ProductQuery, ParseError> {
        var query = ProductQuery()
        var violations: [FieldViolation] = []
        func integer(_ name: String, range: ClosedRange<Int>) -> Int? {
            guard let raw = parameters[name] else { return nil }
            guard let value = Int(raw), range.contains(value) else {
                violations.append(.init(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
                return nil
            }
            return value
        }
        // Bounded in code points before trimming, as the schema's maxLength counts them.
        if let raw = parameters["q"], case let text = raw.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
            if raw.unicodeScalars.count > 200 {
                violations.append(.init("q", "must be at most 200 characters"))
            } else {
                query.text = text
            }
        }
        if let category = parameters["category"], !category.isEmpty { query.category = category }
        query.minPriceCents = integer("min_price", range: 0...ProductRules.maxPriceCents)
        query.maxPriceCents = integer("max_price", range: 0...ProductRules.maxPriceCents)
        // min_price above max_price is a range with no price in it: an empty page, not an error.
        if let raw = parameters["in_stock"] {
            switch raw.lowercased() {
            case "true", "1": query.inStock = true
            case "false", "0": query.inStock = false
            default: violations.append(.init("in_stock", "must be true or false"))
            }
        }
        if let raw = parameters["sort"] {
            if let sort = ProductSort(rawValue: raw) {
                query.sort = sort
            } else {
                violations.append(.init("sort", "must be one of \(ProductSort.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if parameters["limit"] != nil {
            query.limit = integer("limit", range: 1...maxLimit) ?? defaultLimit
        }
        guard violations.isEmpty else { return .failure(.invalid(violations)) }
        if let raw = parameters["cursor"] {
            guard let cursor = ProductCursor(encoded: raw), cursor.sort == query.sort else {
                return .failure(.cursorNotFound)
            }
            query.cursor = cursor
        }
        return .success(query)
    }
}

/// Where the next page starts: the sort key and id of the last item served. Opaque to clients
/// (base64url JSON) and bound to its sort order, so a cursor from another order is refused.
public struct ProductCursor: Sendable, Hashable, Codable {
    public var sort: ProductSort
    /// The last item's name (sort `name`).
    public var text: String?
    /// The last item's price or creation time in ms (the other orders).
    public var number: Int64?
    public var id: String

    enum CodingKeys: String, CodingKey {
        case sort = "s", text = "t", number = "n", id = "i"
    }

    public init(sort: ProductSort, text: String? = nil, number: Int64? = nil, id: String) {
        self.sort = sort
        self.text = text
        self.number = number
        self.id = id
    }

    /// The cursor after `product` in `sort` order.
    public init(after product: Product, sort: ProductSort) {
        switch sort {
        case .name: self.init(sort: sort, text: product.name, id: product.id)
        case .priceAscending, .priceDescending: self.init(sort: sort, number: Int64(product.priceCents), id: product.id)
        case .newest: self.init(sort: sort, number: product.createdAt.exactEpochMilliseconds, id: product.id)
        }
    }

    public init?(encoded: String) {
        guard encoded.count <= 2048 else { return nil }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let cursor = try? JSONDecoder().decode(ProductCursor.self, from: data),
            UUID(uuidString: cursor.id) != nil
        else { return nil }
        switch cursor.sort {
        case .name: guard cursor.text != nil else { return nil }
        case .priceAscending, .priceDescending, .newest: guard cursor.number != nil else { return nil }
        }
        self = cursor
    }

    public var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(self)) ?? Data()
        return data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

extension Date {
    /// Milliseconds since the epoch, rounded to nearest: a `Date` made from stored milliseconds
    /// comes back as the same integer (rounding down can lose one to floating-point error,
    /// and a cursor one millisecond off would skip or repeat rows).
    var exactEpochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
}

/// One page of products.
public struct ProductPage: Sendable {
    public var items: [Product]
    public var nextCursor: String?
    public init(items: [Product], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE … ESCAPE '\'`.
public func likePattern(containing text: String) -> String {
    var escaped = ""
    for character in text.lowercased() {
        if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
        escaped.append(character)
    }
    return "%" + escaped + "%"
}
