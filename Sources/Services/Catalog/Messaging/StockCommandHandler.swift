public import Contracts
import Foundation
public import MalhaCore
public import MalhaMessaging

/// The catalog's side of the order saga: reserve, release and commit stock on command, and answer
/// every command — a redelivered one too, so a saga that asked again (after its timeout) always
/// hears back. The reply goes through the catalog's outbox in the same transaction as the stock
/// change and the inbox record: the change and its answer commit together or not at all.
public struct StockCommandHandler: Sendable {
    public static let subscription = Subscription(
        name: "catalog.stock-commands", types: [ReserveStock.type, ReleaseStock.type, CommitStock.type],
        retry: RetryPolicy(base: .milliseconds(100), cap: .seconds(30), maxAttempts: 10), concurrency: 8)

    /// At most this many lines per order, each of 1…1000 units.
    public static let maxLines = 100
    public static let maxQuantity = 1_000

    let cache: any KeyValueCache
    let clock: any WallClock
    /// Wakes the catalog's outbox relay once a reply is committed.
    let wakeRelay: @Sendable () -> Void

    public init(cache: any KeyValueCache, clock: any WallClock = SystemWallClock(), wakeRelay: @escaping @Sendable () -> Void) {
        self.cache = cache
        self.clock = clock
        self.wakeRelay = wakeRelay
    }

    public func handle(_ envelope: Envelope, _ context: HandlerContext) async throws {
        let now = clock.now()
        let db = context.database
        let reply: Envelope
        let touched: [String]
        do {
            switch envelope.type {
            case ReserveStock.type:
                let command = try envelope.decode(ReserveStock.self)
                try Self.validate(command)
                let outcome = try await StockReservations.reserve(
                    orderID: command.orderID, lines: command.lines.map { ($0.productID, $0.quantity) }, now: now, in: db)
                touched = command.lines.map(\.productID)
                switch outcome {
                case .reserved:
                    reply = try envelope.caused(
                        StockReserved(orderID: command.orderID), source: "catalog", at: now, key: command.orderID)
                case .unavailable(let products):
                    reply = try envelope.caused(
                        StockReservationFailed(orderID: command.orderID, unavailableProductIDs: products), source: "catalog",
                        at: now,
                        key: command.orderID)
                }
            case ReleaseStock.type:
                let command = try envelope.decode(ReleaseStock.self)
                touched = try await StockReservations.productIDs(orderID: command.orderID, in: db)
                _ = try await StockReservations.release(orderID: command.orderID, now: now, in: db)
                reply = try envelope.caused(
                    StockReleased(orderID: command.orderID), source: "catalog", at: now, key: command.orderID)
            case CommitStock.type:
                let command = try envelope.decode(CommitStock.self)
                touched = try await StockReservations.productIDs(orderID: command.orderID, in: db)
                _ = try await StockReservations.commit(orderID: command.orderID, now: now, in: db)
                reply = try envelope.caused(
                    StockCommitted(orderID: command.orderID), source: "catalog", at: now, key: command.orderID)
            default:
                throw InvalidMessage("the catalog does not handle \(envelope.type)")
            }
        } catch let conflict as StockReservations.Conflict {
            throw InvalidMessage(conflict.description)
        }
        try await Outbox.enqueue(reply, in: db)
        let (cache, wakeRelay) = (cache, wakeRelay)
        context.afterCommit {
            for id in Set(touched) { await cache.delete(CatalogRepository.cacheKey(id)) }
            wakeRelay()
        }
    }

    static func validate(_ command: ReserveStock) throws {
        guard !command.orderID.isEmpty, command.orderID.count <= 64 else {
            throw InvalidMessage("order_id must be 1 to 64 characters")
        }
        guard (1...maxLines).contains(command.lines.count) else { throw InvalidMessage("an order has 1 to \(maxLines) lines") }
        for line in command.lines where !(1...maxQuantity).contains(line.quantity) || line.productID.isEmpty {
            throw InvalidMessage("line \(line.productID): quantity must be 1 to \(maxQuantity)")
        }
    }
}
