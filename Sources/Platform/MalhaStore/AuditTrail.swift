public import MalhaCore
public import SQLKit

/// A service's audit table kept as a hash chain (`AuditChain`): the table's rows carry
/// `sequence`, `previous_hash` and `hash`, and `audit_chain_heads` keeps each chain's last link.
///
/// Appends serialise on that head row: the append reads it locked (`SELECT … FOR UPDATE` on
/// PostgreSQL; on SQLite the write transaction is `BEGIN IMMEDIATE`, the database's one writer),
/// writes the record after it and moves the head, all in the caller's transaction. Two concurrent
/// writers therefore never both extend the same head; the second waits for the first to commit
/// (so append the audit record late in a transaction: the head stays locked until it commits).
public struct AuditTrail: Sendable {
    public enum ColumnType: Sendable {
        case text, integer
    }

    /// An audited column: all of them are hashed, so `append` must be given each one.
    public struct Column: Sendable {
        public var name: String
        public var type: ColumnType

        public init(_ name: String, _ type: ColumnType) {
            self.name = name
            self.type = type
        }
    }

    public static let headTable = "audit_chain_heads"

    public let table: String
    public let columns: [Column]

    public init(table: String, columns: [Column]) {
        precondition(Self.isIdentifier(table) && columns.allSatisfy { Self.isIdentifier($0.name) }, "SQL identifiers")
        precondition(Set(columns.map(\.name)).count == columns.count, "audited columns are unique")
        self.table = table
        self.columns = columns
    }

    // MARK: Schema

    /// Triggers that refuse every UPDATE and DELETE on `table`: append-only in the database itself,
    /// not only by convention.
    public static func appendOnly(table: String, _ backend: SQLBackendKind) -> [String] {
        precondition(isIdentifier(table), "SQL identifier")
        switch backend {
        case .sqlite:
            return ["UPDATE", "DELETE"].map { operation in
                """
                CREATE TRIGGER \(table)_no_\(operation.lowercased()) BEFORE \(operation) ON \(table)
                BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
                """
            }
        case .postgres:
            return [
                """
                CREATE FUNCTION \(table)_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '\(table) is append-only'; END $$
                """,
                """
                CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table)
                FOR EACH ROW EXECUTE FUNCTION \(table)_append_only()
                """,
            ]
        }
    }

    /// The statements that chain an existing table, for a new migration of its service.
    ///
    /// The rows already there are not chained: SQLite cannot compute SHA-256 in SQL, and a backfill
    /// in Swift would have to lift the append-only triggers. They keep NULL chain columns and
    /// `verify` counts them as unchained (not protected, not broken); the chain starts at sequence 1
    /// with the first record appended after the migration. From then on an insert without its
    /// chain columns is refused, so "unchained" only ever means "from before the migration".
    public func chainMigration(_ backend: SQLBackendKind) -> [String] {
        [
            "ALTER TABLE \(table) ADD COLUMN sequence BIGINT",
            "ALTER TABLE \(table) ADD COLUMN previous_hash TEXT",
            "ALTER TABLE \(table) ADD COLUMN hash TEXT",
            // Unique, with the NULLs of unchained rows allowed (both engines treat NULLs as distinct).
            "CREATE UNIQUE INDEX \(table)_sequence ON \(table) (sequence)",
            """
            CREATE TABLE IF NOT EXISTS \(Self.headTable) (
                chain TEXT PRIMARY KEY, sequence BIGINT NOT NULL, hash TEXT NOT NULL)
            """,
            "INSERT INTO \(Self.headTable) (chain, sequence, hash) VALUES ('\(table)', 0, '\(AuditChain.genesisHash)')",
        ] + requireChained(backend)
    }

    private func requireChained(_ backend: SQLBackendKind) -> [String] {
        let unchained = "NEW.sequence IS NULL OR NEW.previous_hash IS NULL OR NEW.hash IS NULL"
        let message = "\(table) rows are appended with their chain columns (AuditTrail.append)"
        switch backend {
        case .sqlite:
            return [
                """
                CREATE TRIGGER \(table)_chained BEFORE INSERT ON \(table) WHEN \(unchained)
                BEGIN SELECT RAISE(ABORT, '\(message)'); END
                """
            ]
        case .postgres:
            return [
                """
                CREATE FUNCTION \(table)_chained() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF \(unchained) THEN RAISE EXCEPTION '\(message)'; END IF; RETURN NEW; END $$
                """,
                """
                CREATE TRIGGER \(table)_chained BEFORE INSERT ON \(table)
                FOR EACH ROW EXECUTE FUNCTION \(table)_chained()
                """,
            ]
        }
    }

    // MARK: Append

    /// Appends a record with `fields` (one per audited column) in the caller's transaction `db`,
    /// after the chain's head, which it locks and moves.
    @discardableResult
    public func append(_ fields: [AuditField], in db: any SQLDatabase) async throws -> AuditChainRecord {
        precondition(
            fields.count == columns.count && Set(fields.map(\.name)) == Set(columns.map(\.name)),
            "\(table): one field per audited column")
        let lock = RowLock.forUpdate.clause(in: db)
        guard
            let row = try await db.raw(
                "SELECT sequence, hash FROM \(unsafeRaw: Self.headTable) WHERE chain = \(bind: table)\(unsafeRaw: lock)"
            ).first()
        else { throw AuditTrailUnmigrated(table: table) }
        let head = AuditChainHead(
            sequence: try row.decode(column: "sequence", as: Int64.self), hash: try row.decode(column: "hash", as: String.self))
        let next = AuditChainHead(sequence: head.sequence + 1, hash: AuditChain.hash(previous: head.hash, fields: fields))
        try await db.insert(into: table)
            .columns(fields.map(\.name) + ["sequence", "previous_hash", "hash"])
            .values(fields.map { Self.expression($0.value) } + [SQLBind(next.sequence), SQLBind(head.hash), SQLBind(next.hash)])
            .run()
        try await db.raw(
            """
            UPDATE \(unsafeRaw: Self.headTable) SET sequence = \(bind: next.sequence), hash = \(bind: next.hash)
            WHERE chain = \(bind: table)
            """
        ).run()
        return AuditChainRecord(sequence: next.sequence, previousHash: head.hash, hash: next.hash, fields: fields)
    }

    // MARK: Read

    /// Every record and the head, in one statement (one snapshot on both engines: a concurrent
    /// append is either wholly in it or not at all).
    public func snapshot(in db: any SQLDatabase) async throws -> AuditChainSnapshot {
        let names = columns.map(\.name).joined(separator: ", ")
        let nulls = columns.map { _ in "NULL" }.joined(separator: ", ")
        let rows = try await db.raw(
            """
            SELECT 0 AS head, sequence, previous_hash, hash, \(unsafeRaw: names) FROM \(unsafeRaw: table)
            UNION ALL
            SELECT 1 AS head, sequence, NULL, hash, \(unsafeRaw: nulls) FROM \(unsafeRaw: Self.headTable)
            WHERE chain = \(bind: table)
            """
        ).all()
        var records: [AuditChainRecord] = []
        var head: AuditChainHead?
        for row in rows {
            if try row.decode(column: "head", as: Int.self) == 1 {
                head = AuditChainHead(
                    sequence: try row.decode(column: "sequence", as: Int64.self),
                    hash: try row.decode(column: "hash", as: String.self))
                continue
            }
            records.append(
                AuditChainRecord(
                    sequence: try row.decode(column: "sequence", as: Int64?.self),
                    previousHash: try row.decode(column: "previous_hash", as: String?.self),
                    hash: try row.decode(column: "hash", as: String?.self),
                    fields: try columns.map { column in AuditField(column.name, try Self.value(of: column, in: row)) }))
        }
        return AuditChainSnapshot(records: records, head: head)
    }

    private static func value(of column: Column, in row: any SQLRow) throws -> AuditValue {
        switch column.type {
        case .text: return AuditValue(try row.decode(column: column.name, as: String?.self))
        case .integer: return try row.decode(column: column.name, as: Int64?.self).map(AuditValue.integer) ?? .null
        }
    }

    private static func expression(_ value: AuditValue) -> any SQLExpression {
        switch value {
        case .null: return SQLLiteral.null
        case .integer(let integer): return SQLBind(integer)
        case .text(let text): return SQLBind(text)
        }
    }

    private static func isIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
    }
}

/// The audit table has no head in `audit_chain_heads`: its chaining migration has not run.
public struct AuditTrailUnmigrated: Error, CustomStringConvertible {
    public var table: String
    public var description: String { "\(table) is not chained yet: run the service's migrations" }
}
