import AsyncHTTPClient
import Contracts
import Foundation
import Logging
import MalhaCore
import MalhaMessaging
import MalhaMessagingSQL
import MalhaStore
import Testing

/// The catalog's side of the saga on a running `malha up`: stock commands published on the bus
/// (by this test, standing in for orders) are applied and answered through the catalog's outbox.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct StockCommandSystemTests {
    @Test func reserveAndCommitThroughTheBus() async throws {
        let (sandbox, up) = try await UpSandbox.started("stock")
        let dataDir = sandbox.dataDir
        defer { up.terminate() }
        let client = TestClient(base: sandbox.baseURL, http: HTTPClient.shared)
        let listing = try await client.eventually("/v1/products?limit=1&in_stock=true", until: { $0.status == 200 })
        let product = try #require((listing?.json["items"] as? [[String: Any]])?.first)
        let productID = try #require(product["id"] as? String)
        let before = try #require((product["stock"] as? [String: Any])?["reserved"] as? Int)
        let onHand = try #require((product["stock"] as? [String: Any])?["on_hand"] as? Int)

        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try await SQLiteStore.open(path: dataDir + "/bus.sqlite", logger: logger)
        let transport = SQLTransport(store: store, logger: logger)
        try await transport.bind(subscription: "test.saga-replies", to: [StockReserved.type, StockCommitted.type])
        func reply() async throws -> Envelope? {
            for _ in 0..<200 {
                if let delivery = try await transport.receive(from: "test.saga-replies", limit: 1, lease: .seconds(30)).first {
                    try await transport.acknowledge(delivery)
                    return delivery.envelope
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }

        let orderID = UUID().uuidString.lowercased()
        let reserve = try Envelope(
            ReserveStock(orderID: orderID, lines: [OrderLine(productID: productID, quantity: 2, unitPriceCents: 100)]),
            source: "system-test", at: Date(), key: orderID)
        try await transport.publish([reserve])
        let reserved = try #require(try await reply(), "no answer to ReserveStock: \(up.log.suffix(2000))")
        #expect(reserved.type == StockReserved.type && reserved.causationID == reserve.id)
        #expect(try reserved.decode(StockReserved.self).orderID == orderID)
        let afterReserve = try await client.request(.GET, "/v1/products/\(productID)")
        #expect((afterReserve.json["stock"] as? [String: Any])?["reserved"] as? Int == before + 2, "\(afterReserve.text)")

        try await transport.publish([
            try reserve.caused(CommitStock(orderID: orderID), source: "system-test", at: Date(), key: orderID)
        ])
        let committed = try #require(try await reply(), "no answer to CommitStock")
        #expect(committed.type == StockCommitted.type)
        let afterCommit = try await client.request(.GET, "/v1/products/\(productID)")
        #expect((afterCommit.json["stock"] as? [String: Any])?["reserved"] as? Int == before)
        #expect((afterCommit.json["stock"] as? [String: Any])?["on_hand"] as? Int == onHand - 2, "the sale left on hand")
        await store.close()
    }
}
