/// The TechStore notifications service: reacts to order and payment events and tells customers.
public enum NotificationsService {
    public static let name = "notifications"
}
