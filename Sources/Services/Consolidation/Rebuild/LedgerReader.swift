public import AsyncHTTPClient
import Contracts
import Foundation
import MalhaCore
import MalhaHTTP
public import MalhaIdentity
import NIOCore
import NIOHTTP1

/// Reads the ledger's own record through its HTTP API, for rebuilds and verification, as the
/// consolidation itself: its client token holds `ledger.read` and nothing else, so it can read
/// every account and write none. Who may ask for a rebuild (finance, admin) is the
/// consolidation's route policy; the caller's token is never passed on.
public struct LedgerReader: Sendable {
    let baseURL: String
    let httpClient: HTTPClient
    let credential: any ServiceCredential
    let timeout: Duration

    public init(
        baseURL: String, httpClient: HTTPClient, credential: any ServiceCredential, timeout: Duration = .seconds(10)
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.credential = credential
        self.timeout = timeout
    }

    struct Account: Decodable, Sendable {
        var id: String
        var currency: String
        var ownerID: String
        var timezone: String
        /// The account's latest sequence when it was read (nil from a ledger that does not say).
        var lastSequence: Int64? = nil

        enum CodingKeys: String, CodingKey {
            case id, currency, timezone
            case ownerID = "owner_id"
            case lastSequence = "last_sequence"
        }
    }

    struct Entry: Decodable, Sendable {
        var id: String
        var accountID: String
        var sequence: Int64
        var type: LedgerEntryType
        var amountCents: Int64
        var currency: String
        var businessDate: String
        var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, sequence, type, currency
            case accountID = "account_id"
            case amountCents = "amount_cents"
            case businessDate = "business_date"
            case createdAt = "created_at"
        }

        var projected: ProjectedEntry {
            ProjectedEntry(
                entryID: id, accountID: accountID, sequence: sequence, businessDate: businessDate, entryType: type,
                amountCents: amountCents, currency: currency, recordedAt: createdAt)
        }
    }

    struct Page: Decodable {
        var items: [Entry]
        var nextCursor: String?
        enum CodingKeys: String, CodingKey {
            case items
            case nextCursor = "next_cursor"
        }
    }

    /// The ledger answered something other than what a rebuild can use.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// The account (nil when the ledger says 404: no such account, or not the caller's) and its
    /// entries with a business date in `from…to`. Any failure to read them — the ledger down,
    /// slow, answering an error or something unreadable — is `Unavailable`.
    func read(_ id: String, from: String?, to: String?) async throws -> (account: Account?, entries: [Entry]) {
        do {
            guard let account = try await account(id) else { return (nil, []) }
            return (account, try await entries(id, from: from, to: to))
        } catch let error as Unavailable {
            throw error
        } catch {
            throw Unavailable(description: "the ledger could not be read: \(String(reflecting: error))")
        }
    }

    /// The account alone (nil when the ledger says 404); a failure to read it is `Unavailable`.
    func readAccount(_ id: String) async throws -> Account? {
        do {
            return try await account(id)
        } catch let error as Unavailable {
            throw error
        } catch {
            throw Unavailable(description: "the ledger could not be read: \(String(reflecting: error))")
        }
    }

    /// The account, or nil when the ledger says 404 (no such account).
    func account(_ id: String) async throws -> Account? {
        let (status, body) = try await get("/v1/accounts/\(id)")
        if status == 404 { return nil }
        guard status == 200 else { throw Unavailable(description: "the ledger answered \(status) for the account") }
        return try JSONCoding.decoder.decode(Account.self, from: body)
    }

    /// Every entry of the account with a business date in `from…to` (each end optional), by sequence.
    func entries(_ id: String, from: String?, to: String?) async throws -> [Entry] {
        var entries: [Entry] = []
        var cursor: String?
        repeat {
            var query = "limit=500"
            if let from { query += "&from=\(from)" }
            if let to { query += "&to=\(to)" }
            if let cursor { query += "&cursor=\(cursor)" }
            let (status, body) = try await get("/v1/accounts/\(id)/entries?\(query)")
            guard status == 200 else { throw Unavailable(description: "the ledger answered \(status) for the entries") }
            let page = try JSONCoding.decoder.decode(Page.self, from: body)
            entries += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return entries
    }

    /// One GET as the consolidation; a 401 (its token expired early, or identity rotated keys)
    /// drops the token and is tried once more with a new one.
    func get(_ path: String) async throws -> (status: UInt, body: Data) {
        var answer = try await get(path, authorization: try await credential.authorization())
        if answer.status == 401 {
            await credential.invalidate()
            answer = try await get(path, authorization: try await credential.authorization())
        }
        return answer
    }

    private func get(_ path: String, authorization: String) async throws -> (status: UInt, body: Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await httpClient.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (response.status.code, Data(buffer: body))
    }
}
