import Crypto

/// A stored column value of an audit record, exactly as the database holds it.
public enum AuditValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)

    /// `.text`, or `.null` for nil.
    public init(_ text: String?) { self = text.map(AuditValue.text) ?? .null }
}

/// One column of an audit record: its name and stored value.
public struct AuditField: Sendable, Hashable {
    public var name: String
    public var value: AuditValue

    public init(_ name: String, _ value: AuditValue) {
        self.name = name
        self.value = value
    }
}

/// A record of a chained audit trail as stored: its place in the chain, its link to the record
/// before it, its own hash, and the audited columns. Records written before their table was
/// chained have no sequence and no hashes (`isChained` false).
public struct AuditChainRecord: Sendable, Hashable {
    public var sequence: Int64?
    public var previousHash: String?
    public var hash: String?
    public var fields: [AuditField]

    public init(sequence: Int64?, previousHash: String?, hash: String?, fields: [AuditField]) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.hash = hash
        self.fields = fields
    }

    public var isChained: Bool { sequence != nil }
}

/// The last link of a chain: its sequence and hash (sequence 0 and the genesis hash when empty).
public struct AuditChainHead: Sendable, Hashable {
    public var sequence: Int64
    public var hash: String

    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    public static let genesis = AuditChainHead(sequence: 0, hash: AuditChain.genesisHash)
}

/// Where and how a chain stops holding together.
public struct AuditChainBreak: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A record's columns no longer give its hash, or the chain's head disagrees with it.
        case changed
        /// Records are missing: a sequence gap, or a record that links to one no longer before it.
        case deleted
        /// A record links to another record than the one before it.
        case reordered
    }

    /// The first sequence affected (for `deleted`, the first one missing).
    public var sequence: Int64
    public var kind: Kind
    public var reason: String

    public init(sequence: Int64, kind: Kind, reason: String) {
        self.sequence = sequence
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "sequence \(sequence): \(kind.rawValue) (\(reason))" }
}

/// What `AuditChain.verify` found.
public struct AuditChainReport: Sendable, Hashable {
    /// Chained records read.
    public var records: Int
    /// Records from before the table was chained: counted, not protected.
    public var unchained: Int
    /// The last chained record's sequence and hash.
    public var head: AuditChainHead
    /// Every break, in sequence order; empty when the chain is intact.
    public var breaks: [AuditChainBreak]

    public var isIntact: Bool { breaks.isEmpty }
}

/// A chained trail as read in one snapshot: its records and the head its appends recorded.
public struct AuditChainSnapshot: Sendable, Hashable {
    public var records: [AuditChainRecord]
    /// The head kept beside the table (nil when the table has none): it is how a deleted last
    /// record shows, which the records alone cannot tell from a shorter chain.
    public var head: AuditChainHead?

    public init(records: [AuditChainRecord], head: AuditChainHead?) {
        self.records = records
        self.head = head
    }

    public func verify() -> AuditChainReport { AuditChain.verify(records, head: head) }
}

/// A tamper-evident audit trail as a hash chain: each record's hash covers the hash before it and
/// the record's own columns, so a record edited, deleted or moved in the database no longer fits.
///
/// `hash = hex(SHA-256(previous_hash || encoding(fields)))`, where `previous_hash` is the previous
/// record's hash as 64 lowercase hex characters (`genesisHash` for the first), and the encoding is
/// the fields sorted by name (UTF-8 bytes), each written as
///
///     <byte count of name>:<name> then N | I<byte count>:<decimal> | T<byte count>:<UTF-8 text>
///
/// (null, integer, text). Every part is length-prefixed, so no two field lists encode alike.
///
/// The sequence is not hashed: the links fix the order, and a sequence outside the hash lets
/// `verify` tell a swap (records link to each other out of order) from an edit.
///
/// What it does not do: anyone who can write the table can recompute a whole chain from any point,
/// or append forged records. Keep a head (`malha audit verify` prints it) somewhere else to compare.
public enum AuditChain {
    /// The previous hash of the first record.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The hash of a record with `fields` that follows the record whose hash is `previous`.
    public static func hash(previous: String, fields: [AuditField]) -> String {
        var sha = SHA256()
        sha.update(data: Array(previous.utf8))
        sha.update(data: encoding(fields))
        return hex(sha.finalize())
    }

    /// The record after `head`: the next sequence, linked to `head`'s hash.
    public static func record(after head: AuditChainHead, fields: [AuditField]) -> AuditChainRecord {
        AuditChainRecord(
            sequence: head.sequence + 1, previousHash: head.hash, hash: hash(previous: head.hash, fields: fields),
            fields: fields)
    }

    /// The canonical bytes of `fields` (see the type's documentation).
    public static func encoding(_ fields: [AuditField]) -> [UInt8] {
        let sorted = fields.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        precondition(
            zip(sorted, sorted.dropFirst()).allSatisfy { $0.name != $1.name }, "audit field names are unique")
        var bytes: [UInt8] = []
        for field in sorted {
            appendLengthPrefixed(field.name, to: &bytes)
            switch field.value {
            case .null:
                bytes.append(UInt8(ascii: "N"))
            case .integer(let value):
                bytes.append(UInt8(ascii: "I"))
                appendLengthPrefixed(String(value), to: &bytes)
            case .text(let value):
                bytes.append(UInt8(ascii: "T"))
                appendLengthPrefixed(value, to: &bytes)
            }
        }
        return bytes
    }

    /// Checks `records` (in any order: they are taken in sequence order) against each other and,
    /// when given, against the `head` the appends recorded. Unchained records are counted only.
    public static func verify(_ records: [AuditChainRecord], head: AuditChainHead? = nil) -> AuditChainReport {
        let chained = records.filter(\.isChained).sorted { $0.sequence! < $1.sequence! }
        let knownHashes = Set(chained.compactMap(\.hash))
        var breaks: [AuditChainBreak] = []
        var last = AuditChainHead.genesis
        for record in chained {
            if let found = check(record, after: last, knownHashes: knownHashes) { breaks.append(found) }
            last = AuditChainHead(sequence: record.sequence!, hash: record.hash ?? "")
        }
        if let head, let found = compare(last: last, with: head) { breaks.append(found) }
        return AuditChainReport(
            records: chained.count, unchained: records.count - chained.count, head: last, breaks: breaks)
    }

    /// The break `record` makes after `last`, if any.
    static func check(
        _ record: AuditChainRecord, after last: AuditChainHead, knownHashes: Set<String>
    )
        -> AuditChainBreak?
    {
        let sequence = record.sequence!
        guard let stored = record.hash, let previous = record.previousHash else {
            return AuditChainBreak(sequence: sequence, kind: .changed, reason: "its hash or previous hash is missing")
        }
        if hash(previous: previous, fields: record.fields) != stored {
            return AuditChainBreak(sequence: sequence, kind: .changed, reason: "its columns do not give its hash")
        }
        if sequence == last.sequence {
            return AuditChainBreak(sequence: sequence, kind: .changed, reason: "a second record has this sequence")
        }
        if sequence > last.sequence + 1 {
            let missing =
                sequence == last.sequence + 2
                ? "record \(last.sequence + 1) is missing" : "records \(last.sequence + 1)–\(sequence - 1) are missing"
            return AuditChainBreak(sequence: last.sequence + 1, kind: .deleted, reason: missing)
        }
        guard previous != last.hash else { return nil }
        if knownHashes.contains(previous) {
            return AuditChainBreak(
                sequence: sequence, kind: .reordered,
                reason: "it links to another record than \(last.sequence == 0 ? "the chain's start" : "\(last.sequence)")")
        }
        return AuditChainBreak(
            sequence: sequence, kind: .deleted,
            reason: last.sequence == 0
                ? "it does not link to the chain's start: earlier records were removed"
                : "it does not link to \(last.sequence): a record between them was removed and the rest renumbered, "
                    + "or \(last.sequence) was rewritten with a new hash")
    }

    /// The break between the last record read and the head the appends recorded, if any.
    static func compare(last: AuditChainHead, with head: AuditChainHead) -> AuditChainBreak? {
        if head.sequence > last.sequence {
            return AuditChainBreak(
                sequence: last.sequence + 1, kind: .deleted,
                reason: "the chain's head is at \(head.sequence), the last record at \(last.sequence)")
        }
        if head.sequence < last.sequence {
            return AuditChainBreak(
                sequence: head.sequence + 1, kind: .changed,
                reason: "records after the chain's head (\(head.sequence)) were not appended through it")
        }
        if head.hash != last.hash {
            return AuditChainBreak(
                sequence: last.sequence, kind: .changed, reason: "the chain's head holds another hash for it")
        }
        return nil
    }

    private static func appendLengthPrefixed(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8)
        bytes += Array(String(utf8.count).utf8)
        bytes.append(UInt8(ascii: ":"))
        bytes += utf8
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
