import MalhaCore
import MalhaStore
import MalhaTesting
import Testing

@testable import Payments

/// `payment_events` as a hash chain, written through the service's own path (commands and the
/// processor), then tampered with in the database directly — as someone with the file would, the
/// append-only triggers dropped first. SQLite always; PostgreSQL when `MALHA_TEST_POSTGRES_URL` is set.
@Suite("Payments: audit chain")
struct PaymentsAuditChainTests {
    /// Three payments authorized and processed: a dozen or so events.
    static func payments(_ store: any SQLStore) async throws -> PaymentsHarness {
        let harness = try await PaymentsHarness.make(store: store)
        for order in ["o1", "o2", "o3"] { try await harness.authorize(order) }
        try await harness.processor.processDue()
        return harness
    }

    static func report(_ store: any SQLStore) async throws -> AuditChainReport {
        try await PaymentsAuditTrail.snapshot(in: store).verify()
    }

    @Test func theServiceWritesAnIntactChain() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await Self.payments(store)
            let report = try await Self.report(store)
            #expect(report.isIntact, "\(report.breaks)")
            var events = 0
            for order in ["o1", "o2", "o3"] { events += try await harness.events(order: order).count }
            #expect(report.records == events && events > 3)
            #expect(report.unchained == 0)
        }
    }

    @Test func concurrentCommandsMakeOneChain() async throws {
        try await TestDatabases.withEachBackend { store in
            let harness = try await PaymentsHarness.make(store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 { group.addTask { try await harness.authorize("order-\(index)") } }
                try await group.waitForAll()
            }
            let report = try await Self.report(store)
            #expect(report.isIntact, "\(report.breaks)")
            #expect(report.records == 16)
        }
    }

    @Test func anEventEditedInTheDatabaseIsReported() async throws {
        try await TestDatabases.withEachBackend { store in
            _ = try await Self.payments(store)
            try await AuditTampering.liftAppendOnly("payment_events", in: store)
            try await AuditTampering.run(["UPDATE payment_events SET actor = 'someone' WHERE sequence = 2"], in: store)
            let report = try await Self.report(store)
            #expect(report.breaks.first?.sequence == 2)
            #expect(report.breaks.first?.kind == .changed)
        }
    }

    @Test func aDeletedEventIsReported() async throws {
        try await TestDatabases.withEachBackend { store in
            _ = try await Self.payments(store)
            try await AuditTampering.liftAppendOnly("payment_events", in: store)
            try await AuditTampering.run(["DELETE FROM payment_events WHERE sequence = 3"], in: store)
            #expect(
                try await Self.report(store).breaks.first
                    == AuditChainBreak(sequence: 3, kind: .deleted, reason: "record 3 is missing"))
            // The last one too: the chain's head remembers it.
            let last = try await Self.report(store).head.sequence
            try await AuditTampering.run(["DELETE FROM payment_events WHERE sequence = \(last)"], in: store)
            #expect(try await Self.report(store).breaks.last?.kind == .deleted)
        }
    }

    @Test func swappedEventsAreReported() async throws {
        try await TestDatabases.withEachBackend { store in
            _ = try await Self.payments(store)
            try await AuditTampering.liftAppendOnly("payment_events", in: store)
            try await AuditTampering.swapSequences(2, 3, of: "payment_events", in: store)
            let report = try await Self.report(store)
            #expect(report.breaks.first?.sequence == 2)
            #expect(report.breaks.first?.kind == .reordered)
        }
    }
}
