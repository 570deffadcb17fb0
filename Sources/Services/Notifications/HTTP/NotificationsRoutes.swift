import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity

/// The notifications' HTTP surface: a user's own notifications and channel preferences. Every
/// route needs a token; administrators may also read other users' notifications.
struct NotificationsRoutes: Sendable {
    let repository: NotificationRepository
    let clock: any WallClock

    func register(on router: Router<ServiceRequestContext>) {
        let authenticated = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.authenticated))
        authenticated.get("/v1/notifications") { request, context in try await self.list(request, context: context) }
        authenticated.get("/v1/notifications/preferences") { _, context in try await self.preferences(context: context) }
        authenticated.put("/v1/notifications/preferences") { request, context in
            try await self.replacePreferences(request, context: context)
        }
        authenticated.get("/v1/notifications/{id}") { _, context in try await self.notification(context: context) }
    }

    /// The caller's notifications (or, for an administrator, `user_id`'s), newest first.
    func list(_ request: Request, context: ServiceRequestContext) async throws -> Page<NotificationRecord> {
        let principal = try context.requirePrincipal()
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where parameters[String(key)] == nil {
            parameters[String(key)] = String(value)
        }
        let query = try NotificationListQuery.parse(parameters)
        let userID = query.userID ?? principal.subject
        guard userID == principal.subject || principal.isAdmin else {
            throw Problem.forbidden("only administrators may read another user's notifications")
        }
        let page = try await repository.notifications(
            userID: userID, channel: query.channel, limit: query.limit, after: query.cursor)
        return Page(items: page.items, nextCursor: page.nextCursor)
    }

    /// One notification: the caller's own, or any for an administrator. Someone else's is a 404,
    /// so ids cannot be probed.
    func notification(context: ServiceRequestContext) async throws -> NotificationRecord {
        let principal = try context.requirePrincipal()
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw)?.uuidString.lowercased(),
            let notification = try await repository.notification(id: id),
            notification.userID == principal.subject || principal.isAdmin
        else { throw Problem.notFound("Notification") }
        return notification
    }

    func preferences(context: ServiceRequestContext) async throws -> ChannelPreferences {
        try await repository.preferences(userID: try context.requirePrincipal().subject)
    }

    /// Replaces the caller's preferences (an omitted channel returns to its default) and answers
    /// with what is now stored. Notifications already recorded keep their recipient.
    func replacePreferences(_ request: Request, context: ServiceRequestContext) async throws -> ChannelPreferences {
        let principal = try context.requirePrincipal()
        let preferences = try await request.decode(as: ChannelPreferences.self, context: context)
        let violations = PreferenceRules.validate(preferences)
        guard violations.isEmpty else {
            throw Problem.validation(violations.map { Problem.FieldError(field: $0.field, message: $0.message) })
        }
        try await repository.setPreferences(preferences, userID: principal.subject, at: clock.now())
        return preferences
    }
}
