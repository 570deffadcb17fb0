import Foundation
public import MalhaMessaging
import Mustache

/// A notification's text as it would be sent.
public struct RenderedNotification: Sendable, Hashable {
    /// E-mail only.
    public var subject: String?
    /// Push only.
    public var title: String?
    public var body: String

    public init(subject: String? = nil, title: String? = nil, body: String) {
        self.subject = subject
        self.title = title
        self.body = body
    }
}

/// A template rendered to nothing usable (an empty body, subject or title). Permanent: the same
/// template and event render the same again, so the message goes to the dead letters, where it can
/// be replayed once the template is fixed.
public struct TemplateRenderingError: PermanentMessageError, CustomStringConvertible {
    public var template: String
    public var reason: String
    public var description: String { "template \(template): \(reason)" }
}

/// One template per (event, channel), rendered with swift-mustache as plain text (no HTML escaping).
///
/// A template is text in one format, built in or read from a file:
/// - e-mail: the first line is the subject, then the body (blank lines after the subject are dropped);
/// - push: the first line is the title, then the body;
/// - SMS: the whole text is the body.
///
/// Overrides: a directory with files named `<event>.<channel>.mustache`, where `<event>` is one of
/// `order-placed`, `order-confirmed`, `order-cancelled`, `payment-refunded`, `roles-changed` and `<channel>` one of
/// `email`, `sms`, `push` — e.g. `order-confirmed.email.mustache`. A file replaces that one built-in
/// template; the others stay. Other `.mustache` files are ignored with a warning. A template that
/// does not parse stops the service at start (a configuration error, not a runtime surprise). The
/// values each event offers are listed at `NotificationEvent.init(envelope:)`.
public struct NotificationTemplates: Sendable {
    struct Parsed: Sendable {
        var heading: MustacheTemplate?
        var body: MustacheTemplate
    }

    private var templates: [String: Parsed] = [:]

    /// `<event>.<channel>`, the name a template is registered and stored under.
    public static func name(_ kind: NotificationEvent.Kind, _ channel: NotificationChannel) -> String {
        "\(kind.rawValue).\(channel.rawValue)"
    }

    /// Templates from sources keyed by `name(_:_:)`; unknown names are refused.
    public init(sources: [String: String]) throws {
        for (name, source) in sources {
            guard let channel = Self.channel(ofName: name) else { throw UnknownTemplateName(name: name) }
            templates[name] = try Self.parse(source, channel: channel, name: name)
        }
    }

    /// The built-in templates.
    public static func builtIn() -> NotificationTemplates {
        // The built-in sources are tested to parse; a failure here is a programming error.
        try! NotificationTemplates(sources: DefaultTemplates.sources)
    }

    /// The built-in templates with every recognised file of `directory` in place of its built-in
    /// one. Returns the names of files it ignored (for the caller to log).
    public static func loading(overridesIn directory: String) throws -> (templates: NotificationTemplates, ignored: [String]) {
        var sources = DefaultTemplates.sources
        var ignored: [String] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        for file in files where file.hasSuffix(".mustache") {
            let name = String(file.dropLast(".mustache".count))
            guard channel(ofName: name) != nil else {
                ignored.append(file)
                continue
            }
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else { throw UnreadableTemplate(path: path) }
            sources[name] = String(decoding: data, as: UTF8.self)
        }
        return (try NotificationTemplates(sources: sources), ignored)
    }

    /// Whether a template exists for the pair.
    public func has(_ kind: NotificationEvent.Kind, _ channel: NotificationChannel) -> Bool {
        templates[Self.name(kind, channel)] != nil
    }

    /// The event rendered for `channel`; nil when there is no template for the pair.
    public func render(_ event: NotificationEvent, for channel: NotificationChannel) throws -> RenderedNotification? {
        let name = Self.name(event.kind, channel)
        guard let parsed = templates[name] else { return nil }
        let body = Self.trimmed(parsed.body.render(event.values))
        guard !body.isEmpty else { throw TemplateRenderingError(template: name, reason: "the body rendered empty") }
        var rendered = RenderedNotification(body: body)
        if let heading = parsed.heading {
            let text = Self.trimmed(heading.render(event.values))
            guard !text.isEmpty else {
                throw TemplateRenderingError(
                    template: name, reason: "the \(channel == .email ? "subject" : "title") rendered empty")
            }
            if channel == .email { rendered.subject = text } else { rendered.title = text }
        }
        return rendered
    }

    // MARK: Parsing

    static func channel(ofName name: String) -> NotificationChannel? {
        let parts = name.split(separator: ".")
        guard parts.count == 2, NotificationEvent.Kind(rawValue: String(parts[0])) != nil else { return nil }
        return NotificationChannel(rawValue: String(parts[1]))
    }

    static func parse(_ source: String, channel: NotificationChannel, name: String) throws -> Parsed {
        var heading: Substring?
        var body = Substring(source)
        if channel != .sms {
            let newline = source.firstIndex(of: "\n") ?? source.endIndex
            heading = source[..<newline]
            body = newline == source.endIndex ? "" : source[source.index(after: newline)...]
            body = body.drop { $0 == "\n" || $0 == "\r" }
        }
        do {
            return Parsed(heading: try heading.map { try text($0) }, body: try text(body))
        } catch {
            throw InvalidTemplate(name: name, error: error)
        }
    }

    /// Plain text: the pragma switches off swift-mustache's default HTML escaping.
    static func text(_ source: Substring) throws -> MustacheTemplate {
        try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + source)
    }

    static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public struct UnknownTemplateName: Error, CustomStringConvertible {
    public var name: String
    public var description: String { "no event and channel is called \(name); expected <event>.<channel>" }
}

public struct InvalidTemplate: Error, CustomStringConvertible {
    public var name: String
    public var error: any Error
    public var description: String { "template \(name) does not parse: \(error)" }
}

public struct UnreadableTemplate: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot read the template file \(path)" }
}
