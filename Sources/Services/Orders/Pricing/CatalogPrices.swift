public import AsyncHTTPClient
import Foundation
import MalhaHTTP
public import MalhaIdentity
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
///
/// With a credential it asks as `client:orders` (`catalog.read` alone). The route is public, so
/// when identity cannot give a token, or the catalog refuses one (401: keys it has not fetched
/// yet), the product is asked for anonymously rather than the checkout failing.
public struct CatalogHTTPPrices: PriceSource {
    let baseURL: String
    let httpClient: HTTPClient
    let credential: (any ServiceCredential)?
    let timeout: TimeAmount

    public init(
        baseURL: String, httpClient: HTTPClient, credential: (any ServiceCredential)? = nil, timeout: Duration = .seconds(2)
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.credential = credential
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
        var (response, body) = try await send(request, authorization: try? await credential?.authorization())
        if response.status == .unauthorized, let credential {
            await credential.invalidate()
            (response, body) = try await send(request, authorization: nil)
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

    func send(_ request: HTTPClientRequest, authorization: String?) async throws -> (HTTPClientResponse, ByteBuffer) {
        var request = request
        if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            return (response, try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw CatalogUnavailable(description: "the catalog did not answer: \(error)")
        }
    }
}
