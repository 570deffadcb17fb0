import Contracts
import Foundation
import MalhaMessaging
import Testing

@testable import Notifications

@Suite("Notification templates")
struct TemplateTests {
    @Test(arguments: [
        (Int64(123_456), "BRL", "R$ 1.234,56"),
        (0, "BRL", "R$ 0,00"),
        (5, "brl", "R$ 0,05"),
        (99, "BRL", "R$ 0,99"),
        (100_000_000, "BRL", "R$ 1.000.000,00"),
        (-990, "BRL", "-R$ 9,90"),
        (500, "USD", "USD 5,00"),
        (1_500, "JPY", "JPY 1.500"),
        (1_234_567, "KWD", "KWD 1.234,567"),
        (Int64.max, "BRL", "R$ 92.233.720.368.547.758,07"),
        (Int64.min, "BRL", "-R$ 92.233.720.368.547.758,08"),
    ])
    func formatsMoneyWithIntegersOnly(cents: Int64, currency: String, expected: String) {
        #expect(MoneyFormat.format(minorUnits: cents, currency: currency) == expected)
    }

    @Test func everyEventRendersOnEveryChannel() throws {
        let templates = NotificationTemplates.builtIn()
        let envelopes = [
            try Events.placed(order: "o-1", customer: "u"), try Events.confirmed(order: "o-1", customer: "u"),
            try Events.cancelled(order: "o-1", customer: "u", reason: "timeout"),
            try Events.refunded(order: "o-1", customer: "u"), try Events.rolesChanged(user: "u", roles: ["customer"]),
        ]
        #expect(Set(try envelopes.map { try NotificationEvent(envelope: $0).kind }) == Set(NotificationEvent.Kind.allCases))
        for envelope in envelopes {
            let event = try NotificationEvent(envelope: envelope)
            for channel in NotificationChannel.allCases {
                let rendered = try #require(try templates.render(event, for: channel), "\(event.kind) \(channel)")
                // Every order event names its order (a role change is about the account).
                #expect(
                    rendered.body.contains("o-1") || channel == .push || event.kind == .rolesChanged,
                    "\(event.kind) \(channel): \(rendered.body)")
                #expect(!rendered.body.contains("{{"), "\(rendered.body)")
                #expect((rendered.subject != nil) == (channel == .email))
                #expect((rendered.title != nil) == (channel == .push))
                if channel == .sms { #expect(rendered.body.count <= 160, "\(rendered.body)") }
            }
        }
    }

    @Test func rendersAmountsAndTheOrder() throws {
        let templates = NotificationTemplates.builtIn()
        let confirmed = try NotificationEvent(envelope: Events.confirmed(order: "o-42", customer: "u", totalCents: 123_456))
        let email = try #require(try templates.render(confirmed, for: .email))
        #expect(email.subject == "TechStore: pedido o-42 confirmado")
        #expect(email.body.contains("pagamento de R$ 1.234,56 foi aprovado"), "\(email.body)")
        let placed = try NotificationEvent(envelope: Events.placed(order: "o-42", customer: "u", totalCents: 123_456))
        let placedEmail = try #require(try templates.render(placed, for: .email))
        #expect(placedEmail.body.contains("(3 itens) no valor de R$ 1.234,56"), "\(placedEmail.body)")
        let refund = try NotificationEvent(envelope: Events.refunded(order: "o-42", customer: "u", amountCents: 9_990))
        let push = try #require(try templates.render(refund, for: .push))
        #expect(push.title == "Reembolso processado")
        #expect(push.body == "Devolvemos R$ 99,90 do pedido o-42.")
    }

    @Test(arguments: [
        ("out_of_stock", "Um ou mais produtos do pedido ficaram sem estoque."),
        ("payment_declined", "O pagamento não foi aprovado."),
        ("timeout", "Não conseguimos concluir o pedido a tempo."),
        ("customer_request", "O cancelamento foi solicitado por você."),
        ("something_new", "Não foi possível concluir o pedido."),
    ])
    func saysWhyAnOrderWasCancelled(reason: String, sentence: String) throws {
        let event = try NotificationEvent(envelope: Events.cancelled(order: "o-7", customer: "u", reason: reason))
        let templates = NotificationTemplates.builtIn()
        let sms = try #require(try templates.render(event, for: .sms))
        #expect(sms.body == "TechStore: pedido o-7 cancelado. \(sentence)")
        let email = try #require(try templates.render(event, for: .email))
        #expect(email.subject == "TechStore: pedido o-7 cancelado")
        #expect(email.body.contains("Seu pedido o-7 foi cancelado. \(sentence)"))
        #expect(!email.body.contains("_"), "the reason reads as a sentence, never as its code")
    }

    @Test func rendersPlainTextWithoutHTMLEscaping() throws {
        let templates = try NotificationTemplates(sources: ["order-cancelled.sms": "{{order_id}} & {{reason_text}}"])
        let event = try NotificationEvent(envelope: Events.cancelled(order: "<o&1>", customer: "u", reason: "timeout"))
        #expect(try templates.render(event, for: .sms)?.body == "<o&1> & Não conseguimos concluir o pedido a tempo.")
    }

    @Test func aDirectoryOverridesOneTemplateAndKeepsTheOthers() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "Seu pedido {{order_id}} chegou: {{total}}\n\n\nCorpo para {{brand}}.\n".write(
            to: directory.appendingPathComponent("order-confirmed.email.mustache"), atomically: true, encoding: .utf8)
        try "ignored".write(to: directory.appendingPathComponent("welcome.email.mustache"), atomically: true, encoding: .utf8)
        let (templates, ignored) = try NotificationTemplates.loading(overridesIn: directory.path)
        #expect(ignored == ["welcome.email.mustache"])
        let event = try NotificationEvent(envelope: Events.confirmed(order: "o-9", customer: "u", totalCents: 1_000))
        let email = try #require(try templates.render(event, for: .email))
        #expect(email.subject == "Seu pedido o-9 chegou: R$ 10,00")
        #expect(email.body == "Corpo para TechStore.")
        #expect(
            try templates.render(event, for: .sms)?.body == "TechStore: pedido o-9 confirmado. Pagamento de R$ 10,00 aprovado.")
    }

    @Test func aTemplateThatDoesNotParseIsRefusedUpFront() throws {
        #expect(throws: InvalidTemplate.self) {
            try NotificationTemplates(sources: ["order-placed.sms": "{{#open}} never closed"])
        }
        #expect(throws: UnknownTemplateName.self) { try NotificationTemplates(sources: ["order-placed.fax": "x"]) }
    }

    @Test func anEmptyRenderingIsAPermanentError() throws {
        let templates = try NotificationTemplates(sources: ["order-confirmed.push": "{{missing}}\n\n{{also_missing}}"])
        let event = try NotificationEvent(envelope: Events.confirmed(order: "o-1", customer: "u"))
        #expect(throws: TemplateRenderingError.self) { try templates.render(event, for: .push) }
        #expect(try templates.render(event, for: .email) == nil, "no template: no rendering")
        #expect((TemplateRenderingError(template: "t", reason: "r") as any Error) is any PermanentMessageError)
    }

    @Test func eventsWithoutACustomerOrOfAnotherTypeAreInvalid() throws {
        #expect(throws: InvalidMessage.self) { try NotificationEvent(envelope: Events.confirmed(order: "o", customer: "")) }
        let other = try Envelope(StockReserved(orderID: "o"), source: "catalog", at: Date())
        #expect(throws: InvalidMessage.self) { try NotificationEvent(envelope: other) }
        var garbled = try Events.confirmed(order: "o", customer: "u")
        garbled.payload = Data("{\"order_id\": 1}".utf8)
        #expect(throws: MessageDecodingError.self) { try NotificationEvent(envelope: garbled) }
    }
}
