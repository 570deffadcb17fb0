public import AsyncHTTPClient
import Foundation
import MalhaHTTP
import NIOCore
import NIOHTTP1

/// A product as orders needs it from the catalog: what it is called and what it costs now.
public struct CatalogPrice: Sendable, Hashable {
    public var productID: String
    public var name: String
    public var unitPriceCents: Int64
    public var currency: String

    public init(productID: String, name: String, unitPriceCents: Int64, currency: String) {
        self.productID = productID
        self.name = name
        self.unitPriceCents = unitPriceCents
        self.currency = currency
    }
}

/// Where current prices come from. Products missing from the answer are not for sale (unknown or
/// deactivated).
public protocol PriceSource: Sendable {
    func prices(for productIDs: [String]) async throws -> [String: CatalogPrice]
}

/// The catalog could not be asked (down, timed out, answered 5xx): the caller answers 503.
public struct CatalogUnavailable: Error, CustomStringConvertible {
    public var description: String
}

/// Asks the catalog's public API (`GET /v1/products/{id}`), one request per product, concurrently.
/// The catalog serves products from its cache, so this costs a loopback round trip per line.
public struct CatalogHTTPPrices: PriceSource {
    let baseURL: String
    let httpClient: HTTPClient
    let timeout: TimeAmount

    public init(baseURL: String, httpClient: HTTPClient, timeout: Duration = .seconds(2)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.timeout = .nanoseconds(timeout.nanoseconds)
    }

    struct ProductBody: Decodable {
        var id: String
        var name: String
        var priceCents: Int64
        var currency: String
        var active: Bool

        enum CodingKeys: String, CodingKey {
            case id, name, currency, active
            case priceCents = "price_cents"
        }
    }

    public func prices(for productIDs: [String]) async throws -> [String: CatalogPrice] {
        try await withThrowingTaskGroup(of: CatalogPrice?.self) { group in
            for id in Set(productIDs) {
                group.addTask { try await price(of: id) }
            }
            var prices: [String: CatalogPrice] = [:]
            for try await price in group {
                if let price { prices[price.productID] = price }
            }
            return prices
        }
    }

    func price(of productID: String) async throws -> CatalogPrice? {
        guard let encoded = productID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) else { return nil }
        var request = HTTPClientRequest(url: "\(baseURL)/v1/products/\(encoded)")
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw CatalogUnavailable(description: "the catalog did not answer: \(error)")
        }
        switch response.status.code {
        case 200:
            let product: ProductBody
            do {
                product = try JSONCoding.decoder.decode(ProductBody.self, from: Data(body.readableBytesView))
            } catch {
                throw CatalogUnavailable(description: "the catalog answered a product orders cannot read: \(error)")
            }
            guard product.active else { return nil }
            return CatalogPrice(
                productID: productID, name: product.name, unitPriceCents: product.priceCents, currency: product.currency)
        case 404:
            return nil
        default:
            throw CatalogUnavailable(description: "the catalog answered \(response.status.code)")
        }
    }
}
