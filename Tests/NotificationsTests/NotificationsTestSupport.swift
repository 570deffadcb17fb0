import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaMessaging
import MalhaStore
import MalhaTesting
import SQLKit
import Testing

@testable import Notifications

let testLogger: Logger = {
    var logger = Logger(label: "notifications-tests")
    logger.logLevel = .critical
    return logger
}()

/// A clock tests move by hand, starting at a fixed instant.
func testClock() -> ManualClock { ManualClock(Date(timeIntervalSince1970: 1_790_000_000)) }

/// Creates the service's tables (its own and the inbox) in `store`.
func prepareNotifications(_ store: any SQLStore) async throws {
    try await Migrator.migrate(store, NotificationsService.migrations, logger: testLogger)
    try await Inbox.migrate(store, logger: testLogger)
}

/// The event envelopes the service consumes, as the orders and payments services publish them.
enum Events {
    static func placed(order: String, customer: String, totalCents: Int64 = 123_456, at date: Date = Date()) throws -> Envelope {
        try Envelope(
            OrderPlaced(
                orderID: order, customerID: customer,
                lines: [
                    OrderLine(productID: "p1", quantity: 2, unitPriceCents: 50_000),
                    OrderLine(productID: "p2", quantity: 1, unitPriceCents: 23_456),
                ],
                totalCents: totalCents, currency: "BRL"),
            source: "orders", at: date, key: order)
    }

    static func confirmed(
        order: String, customer: String, totalCents: Int64 = 123_456, at date: Date = Date()
    ) throws
        -> Envelope
    {
        try Envelope(
            OrderConfirmed(orderID: order, customerID: customer, totalCents: totalCents, currency: "BRL"), source: "orders",
            at: date, key: order)
    }

    static func cancelled(order: String, customer: String, reason: String, at date: Date = Date()) throws -> Envelope {
        try Envelope(
            OrderCancelled(orderID: order, customerID: customer, reason: reason), source: "orders", at: date, key: order)
    }

    static func refunded(
        order: String, customer: String, amountCents: Int64 = 9_990, at date: Date = Date()
    ) throws
        -> Envelope
    {
        verified(
            try Envelope(
                PaymentRefunded(
                    orderID: order, paymentID: "pay-\(order)", customerID: customer, refundID: "ref-\(order)",
                    amountCents: amountCents, currency: "BRL"),
                source: "payments", at: date, key: order))
    }

    static func rolesChanged(
        user: String, roles: [String], by admin: String = "admin-1", at date: Date = Date()
    ) throws
        -> Envelope
    {
        verified(
            try Envelope(
                RolesChanged(userID: user, roles: roles, changedBy: admin, changedAt: date), source: "identity", at: date,
                key: user))
    }

    /// A critical event as the consumer runner hands it to a handler once its signature verified
    /// (the tests of signing itself go through `TestEventKeys` and a runner).
    static func verified(_ envelope: Envelope) -> Envelope {
        var envelope = envelope
        envelope.isSignatureVerified = true
        return envelope
    }
}

/// Every notification row, oldest first (for assertions that look past the HTTP surface).
func allNotifications(_ store: any SQLStore) async throws -> [NotificationRecord] {
    try await store.read { db in
        try await db.raw("SELECT \(unsafeRaw: NotificationRecord.columns) FROM notifications ORDER BY id").all()
            .map(NotificationRecord.init(row:))
    }
}

extension TestClientProtocol {
    func send(
        _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], json: String? = nil
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { $0 }
    }
}

/// `GET /v1/notifications` as a client reads it.
struct NotificationPage: Decodable {
    var items: [NotificationRecord]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}
