import Foundation

/// A field that failed validation (the HTTP layer renders these as 422 `validation_failed`).
public struct FieldViolation: Sendable, Hashable {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// What a valid product and category look like. Pure: no I/O, so the rules are unit-tested directly.
/// Lengths count Unicode code points (`unicodeScalars`), as the documented schema's maxLength does.
public enum ProductRules {
    public static let defaultCurrency = "BRL"
    public static let maxSKULength = 64
    public static let maxNameLength = 200
    public static let maxDescriptionLength = 5000
    public static let maxAttributes = 50
    public static let maxAttributeKeyLength = 64
    public static let maxAttributeValueLength = 500
    public static let maxImages = 20
    public static let maxImageURLLength = 2048
    /// R$ 100 million: far above any TechStore price, far below where cents overflow anything.
    public static let maxPriceCents = 10_000_000_000
    public static let maxStockDelta = 1_000_000
    public static let maxReasonLength = 200
    public static let maxSlugLength = 64
    public static let maxCategoryNameLength = 100

    public static func validate(_ draft: ProductDraft) -> [FieldViolation] {
        var violations: [FieldViolation] = []
        let sku = draft.sku
        if sku.isEmpty || sku.unicodeScalars.count > maxSKULength {
            violations.append(.init("sku", "must be 1 to \(maxSKULength) characters"))
        } else if !sku.unicodeScalars.allSatisfy({
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0))
        }) {
            violations.append(.init("sku", "may contain only ASCII letters, digits, '-', '_' and '.'"))
        }
        let name = draft.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty || draft.name.unicodeScalars.count > maxNameLength {
            violations.append(.init("name", "must be 1 to \(maxNameLength) characters"))
        }
        if draft.description.unicodeScalars.count > maxDescriptionLength {
            violations.append(.init("description", "must be at most \(maxDescriptionLength) characters"))
        }
        if let category = draft.categoryID, UUID(uuidString: category) == nil {
            violations.append(.init("category_id", "must be a category id (UUID)"))
        }
        if draft.priceCents < 0 || draft.priceCents > maxPriceCents {
            violations.append(.init("price_cents", "must be an integer from 0 to \(maxPriceCents)"))
        }
        if !isCurrencyCode(draft.currency) {
            violations.append(.init("currency", "must be three uppercase letters (ISO 4217)"))
        }
        if draft.attributes.count > maxAttributes {
            violations.append(.init("attributes", "must have at most \(maxAttributes) entries"))
        }
        for (key, value) in draft.attributes.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty || key.unicodeScalars.count > maxAttributeKeyLength {
                violations.append(.init("attributes", "keys must be 1 to \(maxAttributeKeyLength) characters"))
                break
            }
            if value.unicodeScalars.count > maxAttributeValueLength {
                violations.append(.init("attributes.\(key)", "must be at most \(maxAttributeValueLength) characters"))
            }
        }
        if draft.images.count > maxImages {
            violations.append(.init("images", "must have at most \(maxImages) entries"))
        }
        for (index, image) in draft.images.enumerated() where !isImageURL(image) {
            violations.append(
                .init("images[\(index)]", "must be an absolute http(s) URL of at most \(maxImageURLLength) characters"))
        }
        return violations
    }

    public static func validateCategory(slug: String, name: String) -> [FieldViolation] {
        var violations: [FieldViolation] = []
        let slugPattern = /^[a-z0-9]+(-[a-z0-9]+)*$/
        if slug.unicodeScalars.count > maxSlugLength || (try? slugPattern.wholeMatch(in: slug)) == nil {
            violations.append(.init("slug", "must be 1 to \(maxSlugLength) lowercase letters, digits and single hyphens"))
        }
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || name.unicodeScalars.count > maxCategoryNameLength {
            violations.append(.init("name", "must be 1 to \(maxCategoryNameLength) characters"))
        }
        return violations
    }

    public static func validateAdjustment(delta: Int, reason: String) -> [FieldViolation] {
        var violations: [FieldViolation] = []
        if delta == 0 {
            violations.append(.init("delta", "must not be zero"))
        } else if abs(delta) > maxStockDelta {
            violations.append(.init("delta", "must be between -\(maxStockDelta) and \(maxStockDelta)"))
        }
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || reason.unicodeScalars.count > maxReasonLength {
            violations.append(.init("reason", "must be 1 to \(maxReasonLength) characters"))
        }
        return violations
    }

    static func isCurrencyCode(_ code: String) -> Bool {
        code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    static func isImageURL(_ string: String) -> Bool {
        guard string.unicodeScalars.count <= maxImageURLLength, let url = URL(string: string),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { return false }
        return true
    }
}
