import Foundation
import Synchronization
import Testing

@testable import MalhaMessaging

@Suite("Acknowledgement batcher")
struct AcknowledgementBatcherTests {
    final class Writes: Sendable {
        let batches = Mutex<[[String]]>([])
        let early = Mutex<[String]>([])
    }

    static func delivery(_ n: Int) throws -> Delivery {
        struct Ping: MessageContract {
            static let type = "test.ping.v1"
            var n: Int
        }
        return Delivery(
            subscription: "s", envelope: try Envelope(Ping(n: n), source: "test", at: Date()), receipt: "\(n)", history: [])
    }

    /// Acknowledgements that arrive during a write go out together in the next one; every caller
    /// returns only once its own was written, and none is written twice or lost.
    @Test func acknowledgementsArrivingDuringAWriteShareTheNext() async throws {
        let writes = Writes()
        let batcher = AcknowledgementBatcher { deliveries in
            try? await Task.sleep(for: .milliseconds(20))  // a write that takes a while
            writes.batches.withLock { $0.append(deliveries.map(\.receipt)) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<100 {
                let delivery = try Self.delivery(n)
                group.addTask {
                    await batcher.acknowledge(delivery)
                    let written = writes.batches.withLock { $0.contains { $0.contains(delivery.receipt) } }
                    if !written { writes.early.withLock { $0.append(delivery.receipt) } }
                }
            }
            try await group.waitForAll()
        }
        let batches = writes.batches.withLock { $0 }
        let all = batches.flatMap { $0 }
        #expect(all.count == 100 && Set(all).count == 100, "each written exactly once")
        #expect(batches.count < 20, "coalesced: \(batches.map(\.count))")
        #expect(writes.early.withLock { $0 }.isEmpty, "a caller returned before its acknowledgement was written")
    }
}
