/// A user's choices per channel: whether to be told there, and where.
///
/// A user who never chose gets `ChannelPreferences.defaults`: e-mail and push on, SMS off, no
/// addresses. An enabled channel without an address still gets its notification recorded (the
/// local provider needs no address and shows it at `GET /v1/notifications`); the webhook provider
/// fails such a notification permanently with `no_address`. The recipient is copied onto each
/// notification when it is recorded, so changing preferences affects future notifications only.
public struct ChannelPreferences: Sendable, Hashable, Codable {
    public struct Email: Sendable, Hashable, Codable {
        public var enabled: Bool
        public var address: String?
        public init(enabled: Bool, address: String? = nil) {
            self.enabled = enabled
            self.address = address
        }
    }

    public struct SMS: Sendable, Hashable, Codable {
        public var enabled: Bool
        /// E.164: `+` and 8 to 15 digits.
        public var phone: String?
        public init(enabled: Bool, phone: String? = nil) {
            self.enabled = enabled
            self.phone = phone
        }
    }

    public struct Push: Sendable, Hashable, Codable {
        public var enabled: Bool
        public var deviceToken: String?
        public init(enabled: Bool, deviceToken: String? = nil) {
            self.enabled = enabled
            self.deviceToken = deviceToken
        }

        enum CodingKeys: String, CodingKey {
            case enabled
            case deviceToken = "device_token"
        }
    }

    public var email: Email
    public var sms: SMS
    public var push: Push

    public init(email: Email = Email(enabled: true), sms: SMS = SMS(enabled: false), push: Push = Push(enabled: true)) {
        self.email = email
        self.sms = sms
        self.push = push
    }

    /// What a user who never set preferences gets.
    public static let defaults = ChannelPreferences()

    /// `PUT` replaces the whole document: an omitted channel goes back to its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        email = try container.decodeIfPresent(Email.self, forKey: .email) ?? Self.defaults.email
        sms = try container.decodeIfPresent(SMS.self, forKey: .sms) ?? Self.defaults.sms
        push = try container.decodeIfPresent(Push.self, forKey: .push) ?? Self.defaults.push
    }

    /// The channels the user wants, in a fixed order.
    public var enabledChannels: [NotificationChannel] {
        NotificationChannel.allCases.filter(isEnabled)
    }

    public func isEnabled(_ channel: NotificationChannel) -> Bool {
        switch channel {
        case .email: email.enabled
        case .sms: sms.enabled
        case .push: push.enabled
        }
    }

    /// Where `channel` delivers to, when the user said.
    public func address(for channel: NotificationChannel) -> String? {
        switch channel {
        case .email: email.address
        case .sms: sms.phone
        case .push: push.deviceToken
        }
    }
}

/// What valid preferences look like. Pure, so the rules are tested without HTTP.
public enum PreferenceRules {
    public static let maxEmailLength = 254
    public static let maxDeviceTokenLength = 4096

    /// Field violations as `(field, message)`, e.g. `("sms.phone", "must be E.164 …")`; empty when valid.
    public static func validate(_ preferences: ChannelPreferences) -> [(field: String, message: String)] {
        var violations: [(field: String, message: String)] = []
        if let address = preferences.email.address, !isEmailAddress(address) {
            violations.append(
                ("email.address", "must be an e-mail address such as ana@example.com (at most \(maxEmailLength) characters)"))
        }
        if let phone = preferences.sms.phone, !isE164(phone) {
            violations.append(("sms.phone", "must be an E.164 number: '+' then 8 to 15 digits, e.g. +5511987654321"))
        }
        if let token = preferences.push.deviceToken,
            token.isEmpty || token.utf8.count > maxDeviceTokenLength || !token.unicodeScalars.allSatisfy(isVisibleASCII)
        {
            violations.append(("push.device_token", "must be 1 to \(maxDeviceTokenLength) visible ASCII characters"))
        }
        return violations
    }

    /// Deliberately plain (one `@`, a dotted domain, no spaces or control characters): the
    /// address is proven by delivering to it, not by a regular expression.
    static func isEmailAddress(_ text: String) -> Bool {
        guard text.utf8.count <= maxEmailLength, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    static func isE164(_ text: String) -> Bool {
        guard text.first == "+" else { return false }
        let digits = text.dropFirst()
        return (8...15).contains(digits.count) && digits.first != "0" && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func isVisibleASCII(_ scalar: Unicode.Scalar) -> Bool {
        (0x21...0x7E).contains(scalar.value)
    }
}
