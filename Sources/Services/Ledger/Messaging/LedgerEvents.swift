import Contracts
import Foundation
import MalhaMessaging

/// The events the ledger publishes, through its outbox, in the transaction of the change they
/// announce. Both carry the account id as the message key, so a subscriber receives one account's
/// events in the order the ledger recorded them: the opening first, then the entries by sequence.
enum LedgerEvents {
    static let source = "ledger"

    static func accountOpened(_ account: LedgerAccount) throws -> Envelope {
        try Envelope(
            LedgerAccountOpened(
                accountID: account.id, ownerID: account.ownerID, name: account.name, currency: account.currency,
                timezone: account.timezone, openedAt: account.createdAt),
            source: source, at: account.createdAt, key: account.id)
    }

    static func entryRecorded(_ entry: LedgerEntry) throws -> Envelope {
        try Envelope(
            LedgerEntryRecorded(
                entryID: entry.id, accountID: entry.accountID, sequence: entry.sequence, entryType: entry.type,
                amountCents: entry.amountCents, currency: entry.currency, occurredAt: entry.occurredAt,
                businessDate: entry.businessDate, category: entry.category, description: entry.description,
                reversesEntryID: entry.reversesEntryID, recordedAt: entry.createdAt),
            source: source, at: entry.createdAt, key: entry.accountID)
    }
}
