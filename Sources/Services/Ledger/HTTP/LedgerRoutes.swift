import Contracts
import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaStore
import SQLKit

/// The ledger's HTTP surface: cash accounts and their append-only entries. Every route needs a
/// token; an account (and its entries) is visible to its owner, finance and administrators only.
struct LedgerRoutes: Sendable {
    let store: any SQLStore
    let clock: any WallClock
    /// Wakes the outbox relay once an account or an entry is committed.
    let wakeRelay: @Sendable () -> Void

    func register(on router: Router<ServiceRequestContext>) {
        let user = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.authenticated))
        user.post("/v1/accounts") { request, context in try await self.openAccount(request, context: context) }
        user.get("/v1/accounts") { request, context in try await self.listAccounts(request, context: context) }
        user.get("/v1/accounts/{id}") { _, context in try await self.visibleAccount(context) }
        user.post("/v1/accounts/{id}/entries") { request, context in try await self.recordEntry(request, context: context) }
        user.get("/v1/accounts/{id}/entries") { request, context in try await self.listEntries(request, context: context) }
        user.get("/v1/entries/{id}") { _, context in try await self.visibleEntry(context) }
        user.post("/v1/entries/{id}/reversal") { request, context in try await self.reverse(request, context: context) }
    }

    // MARK: Accounts

    /// Opens an account owned by the caller; `LedgerAccountOpened` is published with it.
    func openAccount(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<LedgerAccount> {
        let principal = try context.requirePrincipal()
        let body = try await request.decode(as: OpenAccountRequest.self, context: context)
        let opening = try AccountRules.validate(name: body.name, currency: body.currency, timezone: body.timezone)
            .mapError(\.problem).get()
        let now = clock.now()
        let account = try await store.transaction { db in
            try await LedgerAccounts.open(opening, ownerID: principal.subject, now: now, in: db)
        }
        wakeRelay()
        return EditedResponse(status: .created, headers: [.location: "/v1/accounts/\(account.id)"], response: account)
    }

    /// The caller's accounts, newest first; finance and administrators see everyone's (or one
    /// owner's with `owner_id`). Anyone else naming another owner is refused (403).
    func listAccounts(_ request: Request, context: ServiceRequestContext) async throws -> Page<LedgerAccount> {
        let principal = try context.requirePrincipal()
        let query = try AccountListQuery.parse(Self.parameters(request))
        var owner: String? = principal.subject
        if LedgerAccess.seesEveryAccount(principal) {
            owner = query.ownerID
        } else if let requested = query.ownerID, requested != principal.subject {
            throw Problem.forbidden("only finance and administrators may list another owner's accounts")
        }
        let accounts = try await store.read { db in
            try await LedgerAccounts.accounts(ownerID: owner, before: query.cursor, limit: query.limit + 1, in: db)
        }
        let page = Array(accounts.prefix(query.limit))
        return Page(items: page, nextCursor: accounts.count > query.limit ? page.last?.id : nil)
    }

    /// The `{id}` account if the caller may use it; 404 otherwise (whether or not it exists).
    func visibleAccount(_ context: ServiceRequestContext) async throws -> LedgerAccount {
        let principal = try context.requirePrincipal()
        guard let id = Self.uuidParameter(context),
            let account = try await store.read({ try await LedgerAccounts.account(id: id, in: $0) }),
            LedgerAccess.mayUse(account, principal)
        else { throw Problem.notFound("Account") }
        return account
    }

    // MARK: Entries

    /// Records an entry. Requires `Idempotency-Key`: the same key with the same body answers the
    /// first response again (`Idempotent-Replayed: true`), with another body 422
    /// `idempotency_key_reused`, while the first is still running 409 `idempotency_key_in_use`.
    /// The key is completed in the transaction that appends the entry and its event.
    func recordEntry(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let account = try await visibleAccount(context)
        let key = try Self.idempotencyKey(request, for: "recording an entry")
        let body = try await request.decode(as: RecordEntryRequest.self, context: context)
        let now = clock.now()
        let draft = try EntryRules.validate(
            type: body.type, amount: body.amountCents, description: body.description, category: body.category,
            occurredAt: body.occurredAt, now: now
        ).mapError(\.problem).get()
        return try await idempotently(
            principal: principal, key: key, fingerprint: RequestFingerprint.entry(draft, accountID: account.id), now: now
        ) { db in
            try await LedgerEntries.append(draft, to: account.id, now: now, in: db)
        }
    }

    /// Reverses an entry: a new entry on its account, the other type, the same amount. Requires
    /// `Idempotency-Key` as recording does. An entry is reversed at most once (409
    /// `already_reversed`); a reversal is never reversed (422 `cannot_reverse_a_reversal`).
    func reverse(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let original = try await visibleEntry(context)
        let key = try Self.idempotencyKey(request, for: "reversing an entry")
        let body = try await Self.decodeOptionalBody(ReversalRequest.self, request, context: context)
        let now = clock.now()
        let draft = try EntryRules.validateReversal(description: body?.description, occurredAt: body?.occurredAt, now: now)
            .mapError(\.problem).get()
        // Known without the lock (entries never change): refused before a key is claimed.
        if original.isReversal { throw LedgerRefusal.cannotReverseAReversal.problem }
        return try await idempotently(
            principal: principal, key: key, fingerprint: RequestFingerprint.reversal(draft, entryID: original.id), now: now
        ) { db in
            try await LedgerEntries.reverse(original.id, with: draft, now: now, in: db)
        }
    }

    /// The account's entries by sequence, filtered by business date (inclusive), type and category.
    func listEntries(_ request: Request, context: ServiceRequestContext) async throws -> Page<LedgerEntry> {
        let account = try await visibleAccount(context)
        let query = try EntryListQuery.parse(Self.parameters(request))
        let entries = try await store.read { db in
            try await LedgerEntries.entries(
                accountID: account.id, filter: query.filter, after: query.cursor, limit: query.limit + 1, in: db)
        }
        let page = Array(entries.prefix(query.limit))
        return Page(items: page, nextCursor: entries.count > query.limit ? page.last.map { String($0.sequence) } : nil)
    }

    /// The `{id}` entry if the caller may use its account; 404 otherwise.
    func visibleEntry(_ context: ServiceRequestContext) async throws -> LedgerEntry {
        let principal = try context.requirePrincipal()
        guard let id = Self.uuidParameter(context),
            let found = try await store.read({ db -> (entry: LedgerEntry, account: LedgerAccount)? in
                guard let entry = try await LedgerEntries.entry(id: id, in: db),
                    let account = try await LedgerAccounts.account(id: entry.accountID, in: db)
                else { return nil }
                return (entry, account)
            }),
            LedgerAccess.mayUse(found.account, principal)
        else { throw Problem.notFound("Entry") }
        return found.entry
    }

    // MARK: Idempotency

    /// Runs `append` under the caller's `Idempotency-Key`: claims the key, appends and completes
    /// it in one transaction, then wakes the relay. A refusal (or any failure) rolls the claim
    /// back with the rest, so the client may fix the request and retry with it; nothing was written.
    /// A second request with the key while the first runs waits for it, then gets its replay.
    func idempotently(
        principal: Principal, key: String, fingerprint: String, now: Date,
        _ append: (any SQLDatabase) async throws -> LedgerEntry
    ) async throws -> Response {
        // Keys are the caller's own: two users' "k1" never meet.
        let scope = "ledger:\(principal.subject)"
        enum Outcome {
            case created(LedgerEntry, String)
            case answered(IdempotencyKeys.Claim)
        }
        let outcome: Outcome
        do {
            // One transaction: the claim, the entry, its event and the stored answer commit together,
            // and a refusal rolls the claim back with the rest (the client may fix and retry the key).
            outcome = try await store.write { db -> Outcome in
                let claim = try await IdempotencyKeys.claim(
                    scope: scope, key: key, requestHash: fingerprint, now: now, in: db)
                guard claim == .claimed else { return .answered(claim) }
                let entry = try await append(db)
                let json = String(decoding: try JSONCoding.encoder.encode(entry), as: UTF8.self)
                try await IdempotencyKeys.complete(scope: scope, key: key, status: 201, response: json, in: db)
                return .created(entry, json)
            }
        } catch let refusal as LedgerRefusal {
            throw refusal.problem
        } catch is StoreError {
            // Only a second reversal of one entry can get here (the account lock makes the
            // sequence unique first): the UNIQUE reverses_entry_id held.
            throw Problem.conflict("already_reversed", "the entry was already reversed; an entry is reversed once")
        }
        switch outcome {
        case .created(let entry, let json):
            wakeRelay()
            var response = Response.storedJSON(status: .created, json, replayed: false)
            response.headers[.location] = "/v1/entries/\(entry.id)"
            return response
        case .answered(.replay(let status, let response)):
            return Response.storedJSON(status: .init(code: status), response, replayed: true)
        case .answered(.mismatch):
            throw Problem.idempotencyKeyReused
        case .answered:
            throw Problem.idempotencyKeyInUse()
        }
    }

    static func idempotencyKey(_ request: Request, for operation: String) throws -> String {
        guard let key = request.headers[.idempotencyKey] else {
            throw Problem.badRequest(
                "idempotency_key_required",
                "\(operation) needs an Idempotency-Key header (a UUID generated per movement, sent again on its retries)")
        }
        guard IdempotencyKeys.isValid(key) else {
            throw Problem.badRequest("invalid_idempotency_key", "the Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    // MARK: Request parts

    /// A body that may be absent (or empty): nil then; otherwise JSON, decoded as every body is.
    static func decodeOptionalBody<Body: Decodable>(
        _ type: Body.Type, _ request: Request, context: ServiceRequestContext
    ) async throws -> Body? {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw Problem(
                .contentTooLarge, code: "payload_too_large", detail: "the request body exceeds \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else { return nil }
        if let contentType = request.headers[.contentType] {
            let mediaType = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            guard mediaType == "application/json" || mediaType.hasSuffix("+json") else {
                throw Problem(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    detail: "expected a JSON body (Content-Type: application/json)")
            }
        }
        return try MalhaRequestDecoder.decode(type, from: buffer)
    }

    /// The `{id}` path parameter in canonical form, when it is a UUID (ids are; anything else is
    /// a 404 like an unknown id).
    static func uuidParameter(_ context: ServiceRequestContext) -> String? {
        context.parameters.get("id").flatMap { UUID(uuidString: $0) }?.uuidString.lowercased()
    }

    /// The first value of each query parameter.
    static func parameters(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where parameters[String(key)] == nil {
            parameters[String(key)] = String(value)
        }
        return parameters
    }
}
