import Contracts
import Foundation
import MalhaStore
import MalhaTesting
import Testing

@testable import Consolidation

/// SplitMix64: a seeded generator, so a failing shuffle can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Projection properties", .serialized)
struct ProjectionPropertyTests {
    /// 200 entries on 3 accounts over 12 days, numbered per account in recording order (with
    /// business dates in any order: late entries), delivered shuffled with 40 extra deliveries
    /// of entries already sent (the same message again, or a new message carrying the entry).
    @Test(arguments: [UInt64(0x5EED), 0xC0FFEE])
    func anyDeliveryOrderGivesThePlainRecomputation(seed: UInt64) async throws {
        try await ConsolidationHarness.run { harness in
            var random = SeededGenerator(state: seed)
            let accounts = (0..<3).map { _ in newAccountID() }
            var nextSequence = Dictionary(uniqueKeysWithValues: accounts.map { ($0, Int64(1)) })
            var entries: [TestEntry] = []
            for _ in 0..<200 {
                let account = accounts.randomElement(using: &random)!
                let sequence = nextSequence[account]!
                nextSequence[account] = sequence + 1
                entries.append(
                    TestEntry(
                        accountID: account, sequence: sequence, type: Bool.random(using: &random) ? .credit : .debit,
                        amountCents: Int64.random(in: 1...100_000, using: &random),
                        businessDate: BusinessDate.adding(Int.random(in: 0..<12, using: &random), to: "2026-02-24")))
            }
            var deliveries = try entries.map { try $0.envelope() }
            for _ in 0..<40 {
                let index = Int.random(in: 0..<entries.count, using: &random)
                deliveries.append(Bool.random(using: &random) ? deliveries[index] : try entries[index].envelope())
            }
            deliveries.shuffle(using: &random)
            try await harness.deliver(deliveries)

            for account in accounts {
                let own = entries.filter { $0.accountID == account }
                let days = try await harness.storedDays(account)
                #expect(days == recomputedDays(own), "seed \(seed), account \(account)")
                var previousClosing: Int64 = 0
                for day in days {
                    #expect(day.closingCents == day.openingCents + day.creditsCents - day.debitsCents)
                    #expect(day.openingCents == previousClosing, "seed \(seed), \(day.date)")
                    previousClosing = day.closingCents
                }
                let last = own.max { $0.sequence < $1.sequence }!
                #expect(
                    try await harness.freshness(account)
                        == Freshness(
                            completeThroughSequence: Int64(own.count), completeThroughRecordedAt: last.recordedAt,
                            latestSequenceSeen: Int64(own.count), pendingOutOfOrder: 0))
                // The verification against the same entries as the ledger's agrees.
                let report = try await Rebuild.run(
                    accountID: account, from: nil, to: nil, repair: false,
                    ledgerAccount: .init(id: account, currency: "BRL", ownerID: "ana", timezone: "UTC"),
                    ledgerEntries: own.map(\.projected), now: harness.clock.now(), store: harness.store)
                #expect(report.consistent, "seed \(seed): \(report.differences)")
            }
        }
    }
}
