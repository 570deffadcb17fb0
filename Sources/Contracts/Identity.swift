public import Foundation
public import MalhaMessaging

// What identity tells the other services. Role changes are critical: signed by identity, so a
// consumer never acts on a privilege change that identity did not make.

/// A user's roles were replaced by an administrator (published in the transaction that changes them).
public struct RolesChanged: SignedMessageContract, Hashable {
    public static let type = "identity.roles-changed.v1"
    public var userID: String
    /// The new roles, sorted.
    public var roles: [String]
    /// The administrator's subject (a user id).
    public var changedBy: String
    public var changedAt: Date

    public init(userID: String, roles: [String], changedBy: String, changedAt: Date) {
        self.userID = userID
        self.roles = roles
        self.changedBy = changedBy
        self.changedAt = changedAt
    }

    enum CodingKeys: String, CodingKey {
        case roles
        case userID = "user_id"
        case changedBy = "changed_by"
        case changedAt = "changed_at"
    }
}
