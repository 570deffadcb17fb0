/// Why a schema could not be derived from a `Decodable` type, naming the type and the field.
///
/// Derivation never guesses: a type it cannot describe faithfully is reported, so a test that
/// builds the service's document fails and the author adds ``OpenAPISchemaProviding`` or an
/// annotation.
public struct SchemaDerivationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// The `init(from:)` tried several types on one value (typically `try?` one after the
        /// other, accepting anything): no single schema says what it accepts.
        case ambiguousValue(tried: [String])
        /// The same key was read as different types.
        case ambiguousProperty(key: String, tried: [String])
        /// The `init(from:)` asked for both a keyed and an unkeyed or single-value container.
        case ambiguousContainer(tried: [String])
        /// The `init(from:)` threw on the placeholder values derivation hands it (it validates
        /// while decoding, or is a raw-value enum that is not `CaseIterable`).
        case initializerThrew(String)
        /// A required value of the type is needed while the type itself is being derived.
        case recursiveValue
        /// A dictionary whose keys are neither `String` nor `Int` (JSON encodes it as an array).
        case unsupportedDictionaryKey(String)
        /// A `CaseIterable` enum without cases.
        case noCases
        /// The `init(from:)` made more decoding calls than any real type does (a loop).
        case tooManyDecodingCalls(Int)
        /// Types nested deeper than the limit.
        case tooDeep(Int)
        /// An annotation names a property the derived schema does not have.
        case unknownAnnotatedProperty(String)
        /// An annotation changes properties of a schema that is not an object.
        case annotatedPropertiesOfNonObject
        /// A component name is already taken by a different schema.
        case nameTaken(String)
    }

    /// The Swift type (or component) at fault.
    public var type: String
    /// Where in the value being derived it was met (`RecordEntryRequest.amount_cents`), or "".
    public var path: String
    public var reason: Reason

    public init(type: String, path: String, reason: Reason) {
        self.type = type
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let location = path.isEmpty ? "" : " (at \(path))"
        let fix =
            "declare its schema with OpenAPISchemaProviding, or replace the field's schema with "
            + "an annotation (.property(key, .schema(…)))"
        switch reason {
        case .ambiguousValue(let tried):
            return "cannot derive a schema for \(type)\(location): its init(from:) tried several types on one value "
                + "(\(tried.joined(separator: ", "))), so it accepts more than one shape; \(fix)"
        case .ambiguousProperty(let key, let tried):
            return "cannot derive a schema for \(type)\(location): key '\(key)' was read as "
                + "\(tried.joined(separator: " and ")); \(fix)"
        case .ambiguousContainer(let tried):
            return "cannot derive a schema for \(type)\(location): its init(from:) asked for "
                + "\(tried.joined(separator: " and ")) containers; \(fix)"
        case .initializerThrew(let error):
            return "cannot derive a schema for \(type)\(location): its init(from:) threw on placeholder values "
                + "(\(error)); if it is a raw-value enum make it CaseIterable, otherwise \(fix)"
        case .recursiveValue:
            return "cannot derive a schema for \(type)\(location): a required value of the type is needed while "
                + "deriving it (make the recursive field optional or an array, or \(fix))"
        case .unsupportedDictionaryKey(let key):
            return "cannot derive a schema for \(type)\(location): dictionary keys of type \(key) are encoded as an "
                + "array, not an object; \(fix)"
        case .noCases:
            return "cannot derive a schema for \(type)\(location): the enum has no cases"
        case .tooManyDecodingCalls(let limit):
            return "cannot derive a schema for \(type)\(location): more than \(limit) decoding calls (a loop?); \(fix)"
        case .tooDeep(let limit):
            return "cannot derive a schema for \(type)\(location): types nest more than \(limit) deep"
        case .unknownAnnotatedProperty(let key):
            return "annotation of \(type) names property '\(key)', which its derived schema does not have"
        case .annotatedPropertiesOfNonObject:
            return "annotation of \(type) changes properties, but its derived schema is not an object"
        case .nameTaken(let name):
            return "component name '\(name)' is already taken by a different schema"
        }
    }
}
