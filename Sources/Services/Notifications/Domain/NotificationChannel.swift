/// The ways the store can tell a customer something.
public enum NotificationChannel: String, Sendable, Hashable, CaseIterable, Codable {
    case email
    case sms
    case push
}

/// Where one notification is in its delivery. `pending` covers both "not tried yet" and "waiting
/// for a retry" (`attempts` and `last_error` tell which); `sent` and `failed` are final.
public enum DeliveryStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending
    case sent
    case failed
}
