import Contracts
import Foundation
import MalhaMessaging
import Orders
import Testing

@Suite("Order saga")
struct OrderSagaTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let timeout: Duration = .seconds(30)

    static func started() -> OrderSaga {
        OrderSaga.start(
            orderID: "o1", customerID: "c1", lines: [OrderLine(productID: "p1", quantity: 2, unitPriceCents: 1_500)],
            totalCents: 3_000, currency: "BRL", now: now, stepTimeout: timeout
        ).0
    }

    /// Applies inputs in order, expecting each to be applied; returns the saga and every command.
    static func run(_ inputs: [SagaInput], from saga: OrderSaga = started()) throws -> (OrderSaga, [[SagaCommand]]) {
        var saga = saga
        var commands: [[SagaCommand]] = []
        for input in inputs {
            guard case .applied(let next, let issued) = saga.apply(input, now: now, stepTimeout: timeout) else {
                throw SagaTestFailure("\(input) was not applied in \(saga.step)")
            }
            saga = next
            commands.append(issued)
        }
        return (saga, commands)
    }

    struct SagaTestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func startsByReservingStockWithADeadline() {
        let (saga, commands) = OrderSaga.start(
            orderID: "o1", customerID: "c1", lines: [], totalCents: 0, currency: "BRL", now: Self.now, stepTimeout: Self.timeout)
        #expect(saga.step == .reservingStock && saga.step.orderStatus == .pending)
        #expect(commands == [.reserveStock])
        #expect(saga.deadline == Self.now.addingTimeInterval(30))
    }

    @Test func happyPathConfirmsAfterCaptureAndCommitInEitherOrder() throws {
        for replies in [[SagaInput.paymentCaptured, .stockCommitted], [.stockCommitted, .paymentCaptured]] {
            let (saga, commands) = try Self.run([.stockReserved, .paymentAuthorized(paymentID: "pay1")] + replies)
            #expect(saga.step == .confirmed && saga.step.orderStatus == .confirmed)
            #expect(saga.paymentID == "pay1")
            #expect(commands == [[.authorizePayment], [.capturePayment, .commitStock], [], [.publishConfirmed]])
        }
    }

    @Test func outOfStockCancelsWithNothingToCompensate() throws {
        let (saga, commands) = try Self.run([.stockReservationFailed(unavailable: ["p1"])])
        #expect(saga.step == .cancelled && saga.cancelReason == .outOfStock)
        #expect(commands == [[.publishCancelled(reason: .outOfStock)]])
    }

    @Test func declinedPaymentReleasesTheStockThenCancels() throws {
        let (saga, commands) = try Self.run([.stockReserved, .paymentDeclined(reason: "insufficient_funds"), .stockReleased])
        #expect(saga.step == .cancelled && saga.cancelReason == .paymentDeclined)
        #expect(commands == [[.authorizePayment], [.releaseStock], [.publishCancelled(reason: .paymentDeclined)]])
    }

    @Test func paymentTimeoutVoidsAndReleasesAndWaitsForBoth() throws {
        let (compensating, commands) = try Self.run([.stockReserved, .timedOut(step: .authorizingPayment)])
        #expect(compensating.step == .compensating && compensating.step.orderStatus == .cancelling)
        #expect(commands.last == [.releaseStock, .voidPayment])
        let (halfway, _) = try Self.run([.paymentVoided], from: compensating)
        #expect(halfway.step == .compensating, "still waiting for the stock")
        let (cancelled, last) = try Self.run([.stockReleased], from: halfway)
        #expect(cancelled.step == .cancelled && last == [[.publishCancelled(reason: .timeout)]])
    }

    @Test func customerCancelBeforeConfirmationOnlyThen() throws {
        let (early, commands) = try Self.run([.cancelRequested])
        #expect(early.step == .compensating && early.cancelReason == .customerRequest && commands == [[.releaseStock]])
        let (paying, _) = try Self.run([.stockReserved])
        if case .applied(let next, let issued) = paying.apply(.cancelRequested, now: Self.now, stepTimeout: Self.timeout) {
            #expect(next.step == .compensating && issued == [.releaseStock, .voidPayment])
        } else {
            Issue.record("cancel while authorizing must compensate")
        }
        let (confirming, _) = try Self.run([.stockReserved, .paymentAuthorized(paymentID: "p")])
        #expect(isRejected(confirming.apply(.cancelRequested, now: Self.now, stepTimeout: Self.timeout)))
        let (confirmed, _) = try Self.run([.paymentCaptured, .stockCommitted], from: confirming)
        #expect(isRejected(confirmed.apply(.cancelRequested, now: Self.now, stepTimeout: Self.timeout)))
    }

    @Test func redeliveredRepliesAndStaleTimeoutsAreDuplicates() throws {
        let (paying, _) = try Self.run([.stockReserved])
        #expect(paying.apply(.stockReserved, now: Self.now, stepTimeout: Self.timeout) == .duplicate)
        #expect(paying.apply(.timedOut(step: .reservingStock), now: Self.now, stepTimeout: Self.timeout) == .duplicate)
        let (confirming, _) = try Self.run([.paymentAuthorized(paymentID: "p"), .paymentCaptured], from: paying)
        #expect(confirming.apply(.paymentCaptured, now: Self.now, stepTimeout: Self.timeout) == .duplicate)
        let (confirmed, _) = try Self.run([.stockCommitted], from: confirming)
        for input in [SagaInput.stockCommitted, .paymentCaptured, .stockReserved, .timedOut(step: .confirming)] {
            #expect(confirmed.apply(input, now: Self.now, stepTimeout: Self.timeout) == .duplicate, "\(input)")
        }
        let (cancelled, _) = try Self.run([.stockReservationFailed(unavailable: [])])
        for input in [SagaInput.stockReleased, .paymentVoided, .cancelRequested, .timedOut(step: .reservingStock)] {
            #expect(cancelled.apply(input, now: Self.now, stepTimeout: Self.timeout) == .duplicate, "\(input)")
        }
    }

    @Test func lateRepliesAfterGivingUpAreCompensated() throws {
        // Timed out while reserving; the reservation lands afterwards: release it (again).
        let (compensating, _) = try Self.run([.timedOut(step: .reservingStock)])
        let (stillCompensating, issued) = try Self.run([.stockReserved], from: compensating)
        #expect(issued == [[.releaseStock]] && stillCompensating.awaitingStockRelease)
        // Cancelled, then an authorization lands: void it, stay cancelled.
        let (cancelled, _) = try Self.run([.stockReleased], from: stillCompensating)
        #expect(cancelled.step == .cancelled)
        let (afterLate, voids) = try Self.run([.paymentAuthorized(paymentID: "late")], from: cancelled)
        #expect(afterLate.step == .cancelled && voids == [[.voidPayment]] && afterLate.paymentID == "late")
    }

    @Test func confirmingTimeoutAsksAgainOnlyForWhatIsMissing() throws {
        let (confirming, _) = try Self.run([.stockReserved, .paymentAuthorized(paymentID: "p"), .paymentCaptured])
        let later = Self.now.addingTimeInterval(60)
        guard
            case .applied(let next, let issued) = confirming.apply(
                .timedOut(step: .confirming), now: later, stepTimeout: Self.timeout)
        else {
            Issue.record("a confirming timeout retries forward")
            return
        }
        #expect(issued == [.commitStock] && next.step == .confirming && next.deadline == later.addingTimeInterval(30))
    }

    @Test func impossibleRepliesAreRejected() throws {
        let saga = Self.started()
        for input in [SagaInput.paymentCaptured, .stockCommitted, .paymentAuthorized(paymentID: "p"), .paymentVoided] {
            #expect(isRejected(saga.apply(input, now: Self.now, stepTimeout: Self.timeout)), "\(input) while reserving")
        }
        let (cancelled, _) = try Self.run([.stockReservationFailed(unavailable: [])])
        #expect(isRejected(cancelled.apply(.paymentCaptured, now: Self.now, stepTimeout: Self.timeout)))
    }

    @Test func roundTripsThroughJSON() throws {
        let (saga, _) = try Self.run([.stockReserved, .paymentAuthorized(paymentID: "p")])
        let decoded = try MessageCoding.decoder.decode(OrderSaga.self, from: MessageCoding.encoder.encode(saga))
        #expect(decoded == saga)
    }

    @Test func contractsHaveVersionedWireNames() throws {
        let types = [
            OrderPlaced.type, OrderConfirmed.type, OrderCancelled.type, ReserveStock.type, ReleaseStock.type, CommitStock.type,
            StockReserved.type, StockReservationFailed.type, StockReleased.type, StockCommitted.type, AuthorizePayment.type,
            CapturePayment.type, VoidPayment.type, PaymentAuthorized.type, PaymentDeclined.type, PaymentCaptured.type,
            PaymentVoided.type,
        ]
        #expect(Set(types).count == types.count)
        for type in types {
            #expect(type.range(of: #"^[a-z]+\.[a-z-]+\.v[0-9]+$"#, options: .regularExpression) != nil, "\(type)")
        }
        let json = String(
            decoding: try MessageCoding.encoder.encode(
                OrderPlaced(
                    orderID: "o", customerID: "c", lines: [OrderLine(productID: "p", quantity: 1, unitPriceCents: 5)],
                    totalCents: 5,
                    currency: "BRL")), as: UTF8.self)
        #expect(
            json
                == #"{"currency":"BRL","customer_id":"c","lines":[{"product_id":"p","quantity":1,"unit_price_cents":5}],"order_id":"o","total_cents":5}"#
        )
    }

    func isRejected(_ transition: SagaTransition) -> Bool {
        if case .rejected = transition { return true }
        return false
    }
}
