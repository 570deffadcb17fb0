import MalhaCore
import Testing

/// The hash chain on its own: records built in memory, then tampered with as someone editing the
/// table would (a column, a deleted row, two rows' sequences swapped).
@Suite("Audit chain")
struct AuditChainTests {
    /// `count` chained records, sequence 1…count, each with an id and an amount.
    static func chain(_ count: Int) -> [AuditChainRecord] {
        var head = AuditChainHead.genesis
        return (1...count).map { index in
            let record = AuditChain.record(
                after: head,
                fields: [AuditField("id", .text("event-\(index)")), AuditField("amount", .integer(Int64(index) * 100))])
            head = AuditChainHead(sequence: record.sequence!, hash: record.hash!)
            return record
        }
    }

    static func head(of records: [AuditChainRecord]) -> AuditChainHead {
        AuditChainHead(sequence: records.last!.sequence!, hash: records.last!.hash!)
    }

    @Test func theHashIsSHA256OfThePreviousHashAndTheSortedLengthPrefixedFields() {
        // Independently: python3 -c "import hashlib; print(hashlib.sha256(('0'*64+'1:aI1:51:bT1:x1:cN').encode()).hexdigest())"
        let fields = [AuditField("b", .text("x")), AuditField("a", .integer(5)), AuditField("c", .null)]
        #expect(String(decoding: AuditChain.encoding(fields), as: UTF8.self) == "1:aI1:51:bT1:x1:cN")
        #expect(
            AuditChain.hash(previous: AuditChain.genesisHash, fields: fields)
                == "e44add1b7f9c47f8bf555b61b04b92ce42336388ab3150f8cb62f9113ea2a4b7")
    }

    @Test func theEncodingIsUnambiguous() {
        let pairs: [([AuditField], [AuditField])] = [
            ([AuditField("a", .text("bc"))], [AuditField("ab", .text("c"))]),
            ([AuditField("a", .null)], [AuditField("a", .text(""))]),
            ([AuditField("a", .integer(5))], [AuditField("a", .text("5"))]),
            ([AuditField("a", .text("1:bT1:x"))], [AuditField("a", .text("1")), AuditField("b", .text("x"))]),
        ]
        for (one, other) in pairs {
            #expect(AuditChain.encoding(one) != AuditChain.encoding(other), "\(one) vs \(other)")
        }
        // Column order is not part of the record: the fields are sorted by name.
        let fields = [AuditField("a", .integer(1)), AuditField("b", .text("x"))]
        #expect(AuditChain.encoding(fields) == AuditChain.encoding(fields.reversed()))
    }

    @Test func anIntactChainVerifies() {
        let records = Self.chain(5)
        #expect(records.first?.previousHash == AuditChain.genesisHash)
        let report = AuditChain.verify(records.shuffled(), head: Self.head(of: records))
        #expect(report.isIntact)
        #expect(report.records == 5)
        #expect(report.head == Self.head(of: records))
        let empty = AuditChain.verify([], head: .genesis)
        #expect(empty.isIntact && empty.records == 0 && empty.head == .genesis)
    }

    @Test func aChangedFieldIsFound() {
        var records = Self.chain(5)
        records[2].fields[1].value = .integer(1)
        let report = AuditChain.verify(records, head: Self.head(of: records))
        #expect(report.breaks == [AuditChainBreak(sequence: 3, kind: .changed, reason: "its columns do not give its hash")])
    }

    @Test func aRewrittenRecordWithARecomputedHashIsFound() {
        var records = Self.chain(5)
        records[2].fields[1].value = .integer(1)
        records[2].hash = AuditChain.hash(previous: records[2].previousHash!, fields: records[2].fields)
        let first = AuditChain.verify(records, head: Self.head(of: records)).breaks.first
        #expect(first?.sequence == 4)
        #expect(first?.kind == .deleted)  // 4 no longer links to 3: indistinguishable from a renumbered deletion
    }

    @Test func aDeletedRowIsFound() {
        var records = Self.chain(5)
        records.remove(at: 2)
        let report = AuditChain.verify(records, head: Self.head(of: records))
        #expect(report.breaks == [AuditChainBreak(sequence: 3, kind: .deleted, reason: "record 3 is missing")])
    }

    @Test func aDeletedRowWithTheRestRenumberedIsFound() {
        var records = Self.chain(5)
        records.remove(at: 2)
        for index in 2..<records.count { records[index].sequence! -= 1 }
        let report = AuditChain.verify(records, head: Self.head(of: records))
        #expect(report.breaks.first?.sequence == 3)
        #expect(report.breaks.first?.kind == .deleted)
    }

    @Test func aDeletedLastRowIsFoundAgainstTheHead() {
        let records = Self.chain(5)
        let report = AuditChain.verify(Array(records.dropLast()), head: Self.head(of: records))
        #expect(report.breaks.map(\.kind) == [.deleted])
        #expect(report.breaks.first?.sequence == 5)
        // Without the head a shorter chain is all there is to see.
        #expect(AuditChain.verify(Array(records.dropLast())).isIntact)
    }

    @Test func twoSwappedRowsAreFound() {
        var records = Self.chain(5)
        (records[1].sequence, records[2].sequence) = (records[2].sequence, records[1].sequence)
        let report = AuditChain.verify(records, head: Self.head(of: records))
        #expect(report.breaks.first?.sequence == 2)
        #expect(report.breaks.first?.kind == .reordered)
        #expect(report.breaks.allSatisfy { $0.kind == .reordered })
    }

    @Test func unchainedRecordsAreCountedNotBroken() {
        let legacy = AuditChainRecord(
            sequence: nil, previousHash: nil, hash: nil, fields: [AuditField("id", .text("old"))])
        let records = [legacy, legacy] + Self.chain(3)
        let report = AuditChain.verify(records, head: Self.head(of: records))
        #expect(report.isIntact)
        #expect(report.records == 3 && report.unchained == 2)
    }

    @Test func aRecordBeyondTheHeadOrAMovedHeadIsFound() {
        let records = Self.chain(3)
        let behind = AuditChain.verify(records, head: AuditChainHead(sequence: 2, hash: records[1].hash!))
        #expect(behind.breaks.map(\.kind) == [.changed])
        #expect(behind.breaks.first?.sequence == 3)
        let other = AuditChain.verify(records, head: AuditChainHead(sequence: 3, hash: AuditChain.genesisHash))
        #expect(other.breaks.map(\.kind) == [.changed])
    }
}
