import PostgresNIO
import SQLiteNIO

/// What a database error means, whichever engine raised it.
public enum SQLErrors {
    /// A unique or primary-key constraint refused the write.
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        if let error = error as? SQLiteError {
            return error.reason == .constraintUniqueFailed || error.reason == .constraintPrimaryKeyFailed
                || (error.reason == .constraint && error.message.contains("UNIQUE"))
        }
        if let error = error as? PSQLError {
            return error.serverInfo?[.sqlState] == "23505"
        }
        return false
    }

    /// The database cannot serve the request now, but may shortly: SQLite busy or locked past the
    /// busy timeout, out of disk, an I/O error; PostgreSQL unreachable, its connection lost, its
    /// pool closed, or a server-side condition of the kind a retry outlives (connection
    /// exceptions, insufficient resources, an administrator's shutdown, a serialization failure or
    /// a deadlock). Callers answer 503 with `Retry-After`; anything else a store throws is a defect.
    /// Whether the database refused a text value it cannot store: PostgreSQL keeps no U+0000 in
    /// `text` (SQLSTATE 22021, or 22P05 for a character its encoding lacks); SQLite stores it.
    public static func isUnstorableText(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] else {
            return false
        }
        return state == "22021" || state == "22P05"
    }

    public static func isUnavailable(_ error: any Error) -> Bool {
        if let error = error as? SQLiteError {
            switch error.reason {
            case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache, .full, .ioError,
                .ioErrorFailedRead, .ioErrorFailedWrite, .ioErrorFailedSync, .cantOpen:
                return true
            default:
                return false
            }
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .clientClosedConnection, .serverClosedConnection, .connectionError, .uncleanShutdown, .poolClosed,
                .queryCancelled:
                return true
            case .server:
                guard let state = error.serverInfo?[.sqlState] else { return false }
                return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state == "40001"
                    || state == "40P01" || state == "55P03"
            default:
                return false
            }
        }
        return false
    }
}
