import Foundation
import MalhaHTTP
import MalhaOpenAPI
import MalhaTesting
import Testing

@testable import Notifications

/// The notifications document: buildable, valid, and true to what the handlers encode and accept.
@Suite("Notifications OpenAPI document")
struct NotificationsDocumentTests {
    let document = NotificationsService.openAPI

    @Test("the document has no dangling reference and openapi-spec-validator accepts it")
    func documentIsValid() throws {
        #expect(document.danglingReferences() == [])
        try OpenAPISpecValidation.check(document)
    }

    @Test("notifications and preferences as the service encodes them conform")
    func responsesConform() throws {
        let stored = """
            {"id":"0193a3f4-5d6e-7f00-8a1b-2c3d4e5f6a7b","user_id":"ana","event_id":"e1",
            "event_type":"orders.order-confirmed.v1","template":"order-confirmed.email","order_id":"o1","channel":"email",
            "recipient":"ana@example.com","subject":"Pedido confirmado","body":"Olá","status":"pending","attempts":1,
            "last_error":"timeout","next_attempt_at":"2026-09-21T10:00:00.000Z","created_at":"2026-09-21T09:59:00.000Z",
            "updated_at":"2026-09-21T09:59:30.000Z"}
            """
        let record = try JSONCoding.decoder.decode(NotificationRecord.self, from: Data(stored.utf8))
        #expect(try document.violations(of: record, against: "NotificationRecord") == [])
        #expect(
            try document.violations(of: Page(items: [record], nextCursor: record.id), against: "NotificationRecordPage") == [])
        #expect(try document.violations(of: ChannelPreferences.defaults, against: "ChannelPreferences") == [])
        let chosen = ChannelPreferences(
            email: .init(enabled: true, address: "ana@example.com"), sms: .init(enabled: true, phone: "+5511987654321"),
            push: .init(enabled: false, deviceToken: "abc:DEF-123"))
        #expect(PreferenceRules.validate(chosen).isEmpty)
        #expect(try document.violations(of: chosen, against: "ChannelPreferences") == [])
    }

    @Test("the preferences schema refuses what PreferenceRules refuses, and accepts what it accepts")
    func requestSchemaMatchesRules() throws {
        let validator = document.validator
        let schema = JSONSchema.reference("ChannelPreferences")
        func accepted(_ value: JSONValue) throws -> Bool {
            let preferences = try JSONCoding.decoder.decode(ChannelPreferences.self, from: Data(value.serialized().utf8))
            return PreferenceRules.validate(preferences).isEmpty
        }
        let cases: [JSONValue] = [
            [:], ["email": nil], ["email": ["enabled": false]], ["email": ["enabled": true, "address": "a@b.c"]],
            ["email": ["enabled": true, "address": "a@b"]], ["email": ["enabled": true, "address": "a b@c.d"]],
            ["email": ["enabled": true, "address": "a@b..c"]], ["email": ["enabled": true, "address": "@b.c"]],
            ["sms": ["enabled": true, "phone": "+5511987654321"]], ["sms": ["enabled": true, "phone": "+0511987654321"]],
            ["sms": ["enabled": true, "phone": "5511987654321"]], ["sms": ["enabled": true, "phone": "+1234567"]],
            ["push": ["enabled": true, "device_token": "tok"]], ["push": ["enabled": true, "device_token": ""]],
            ["push": ["enabled": true, "device_token": "to k"]], ["push": ["enabled": true, "device_token": "tók"]],
        ]
        for value in cases {
            #expect(validator.violations(of: value, against: schema).isEmpty == (try accepted(value)), "\(value)")
        }
    }
}
