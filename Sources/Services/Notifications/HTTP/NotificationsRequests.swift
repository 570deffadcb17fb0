import Foundation
import Hummingbird
import MalhaHTTP

extension NotificationRecord: ResponseEncodable {}
extension ChannelPreferences: ResponseEncodable {}

/// A parsed `GET /v1/notifications` query.
struct NotificationListQuery: Sendable, Hashable {
    static let defaultLimit = 20
    static let maxLimit = 100

    var channel: NotificationChannel?
    /// Another user's notifications (administrators only); nil for the caller's own.
    var userID: String?
    var limit = defaultLimit
    /// The id of the previous page's last notification.
    var cursor: String?

    /// Parses the first value of each parameter; unknown parameters are ignored.
    static func parse(_ parameters: [String: String]) throws -> NotificationListQuery {
        var query = NotificationListQuery()
        var errors: [Problem.FieldError] = []
        if let raw = parameters["channel"] {
            query.channel = NotificationChannel(rawValue: raw)
            if query.channel == nil {
                let channels = NotificationChannel.allCases.map(\.rawValue).joined(separator: ", ")
                errors.append(.init(field: "channel", message: "must be one of \(channels)"))
            }
        }
        if let raw = parameters["limit"] {
            if let limit = Int(raw), (1...maxLimit).contains(limit) {
                query.limit = limit
            } else {
                errors.append(.init(field: "limit", message: "must be an integer from 1 to \(maxLimit)"))
            }
        }
        if let raw = parameters["user_id"] {
            if raw.isEmpty || raw.count > NotificationEvent.maxIDLength {
                errors.append(.init(field: "user_id", message: "must be 1 to \(NotificationEvent.maxIDLength) characters"))
            } else {
                query.userID = raw
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        if let raw = parameters["cursor"] {
            // Cursors are notification ids (UUIDv7); anything else was not issued here.
            guard let uuid = UUID(uuidString: raw) else {
                throw Problem.badRequest("invalid_cursor", "the cursor is not one this endpoint issued")
            }
            query.cursor = uuid.uuidString.lowercased()
        }
        return query
    }
}
