public import SQLKit

/// How a read that comes before a write in the same transaction locks the rows it reads, as one
/// clause per engine: PostgreSQL needs `FOR UPDATE` (or, for a queue claim, `FOR UPDATE SKIP
/// LOCKED`, so replicas take different rows); SQLite has none, and needs none — a write
/// transaction there is `BEGIN IMMEDIATE`, which already holds the database's one writer.
public enum RowLock: Sendable {
    /// Lock the rows read until the transaction ends.
    case forUpdate
    /// Lock the rows read, skipping those another transaction holds (queue claims).
    case forUpdateSkipLocked

    /// The clause for `backend`, with a leading space (`""` on SQLite), to append to a `SELECT`.
    public func clause(for backend: SQLBackendKind) -> String {
        guard backend == .postgres else { return "" }
        switch self {
        case .forUpdate: return " FOR UPDATE"
        case .forUpdateSkipLocked: return " FOR UPDATE SKIP LOCKED"
        }
    }

    /// The clause for the database a transaction runs on.
    public func clause(in db: any SQLDatabase) -> String {
        clause(for: SQLBackendKind(dialect: db.dialect))
    }
}

extension SQLBackendKind {
    /// The engine behind a SQLKit dialect (PostgreSQL's dialect names itself `postgresql`).
    public init(dialect: any SQLDialect) {
        self = dialect.name == "postgresql" ? .postgres : .sqlite
    }
}
