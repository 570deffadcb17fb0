public import MalhaOpenAPI

// The schemas of the notifications service's wire types, refined to say what `PreferenceRules`
// accepts.

extension ChannelPreferences: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .description("A user's choices per channel; in a PUT an omitted (or null) channel returns to its default"),
        .property("email", .description("Default: enabled, no address")),
        .property("sms", .description("Default: disabled, no phone")),
        .property("push", .description("Default: enabled, no device token")),
    ]
}

extension ChannelPreferences.Email: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "address", .maxLength(PreferenceRules.maxEmailLength),
            // `PreferenceRules.isEmailAddress`: one @, a dotted domain, no spaces or control characters.
            .pattern("^[^\\x00-\\x20\\x7F@]+@[^\\x00-\\x20\\x7F@.]+(\\.[^\\x00-\\x20\\x7F@.]+)+$"),
            .description("An e-mail address such as ana@example.com (at most \(PreferenceRules.maxEmailLength) bytes)"))
    ]
}

extension ChannelPreferences.SMS: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "phone", .pattern("^\\+[1-9][0-9]{7,14}$"), .description("E.164: '+' then 8 to 15 digits, e.g. +5511987654321"))
    ]
}

extension ChannelPreferences.Push: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property(
            "device_token", .length(1...PreferenceRules.maxDeviceTokenLength), .pattern("^[!-~]+$"),
            .description("Visible ASCII"))
    ]
}

extension NotificationRecord: OpenAPISchemaAnnotating {
    public static let openAPIAnnotations: [SchemaAnnotation] = [
        .property("id", .format(.uuid)),
        .property("template", .description("<event>.<channel>: the template it was rendered from")),
        .property("recipient", .description("The address, phone or device token when it was recorded; absent if none")),
        .property("attempts", .minimum(0), .description("Send attempts started")),
        .property("next_attempt_at", .description("While pending: when the next attempt is due")),
    ]
}
