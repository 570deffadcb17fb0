import Contracts
import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaService
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
        user.post("/v1/accounts/{id}/entries") { request, context in try await self.recordEntry(request, context: context) }
        user.post("/v1/entries/{id}/reversal") { request, context in try await self.reverse(request, context: context) }
        // Reads of one account also serve a `ledger.read` client (the consolidation).
        let reader = router.group().add(
            middleware: AccessPolicyMiddleware<ServiceRequestContext>(LedgerService.readPolicy))
        reader.get("/v1/accounts/{id}") { _, context in try await self.visibleAccount(context, reading: true) }
        reader.get("/v1/accounts/{id}/entries") { request, context in try await self.listEntries(request, context: context) }
        reader.get("/v1/entries/{id}") { _, context in try await self.visibleEntry(context, reading: true) }
    }

    // MARK: Accounts

    /// Opens an account owned by the caller; `LedgerAccountOpened` is published with it.
    func openAccount(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<LedgerAccount> {
        let principal = try context.requirePrincipal()
        let body = try await request.decode(as: OpenAccountRequest.self, context: context)
        let opening = try AccountRules.validate(name: body.name, currency: body.currency, timezone: body.timezone)
            .get()
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

    /// The `{id}` account if the caller may use it (or, `reading`, read it); 404 otherwise
    /// (whether or not it exists).
    func visibleAccount(_ context: ServiceRequestContext, reading: Bool = false) async throws -> LedgerAccount {
        let principal = try context.requirePrincipal()
        guard let id = Self.uuidParameter(context),
            let account = try await store.read({ try await LedgerAccounts.account(id: id, in: $0) }),
            reading ? LedgerAccess.mayRead(account, principal) : LedgerAccess.mayUse(account, principal)
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
        let key = try IdempotentCommand.key(of: request, operation: "recording an entry")
        let body = try await request.decode(as: RecordEntryRequest.self, context: context)
        let now = clock.now()
        let draft = try EntryRules.validate(
            type: body.type, amount: body.amountCents, description: body.description, category: body.category,
            occurredAt: body.occurredAt, now: now
        ).get()
        return try await idempotently(
            key, principal: principal, fingerprint: RequestFingerprint.entry(draft, accountID: account.id), now: now
        ) { db in
            try await LedgerEntries.append(draft, to: account.id, now: now, in: db)
        }
    }

    /// Reverses an entry: a new entry on its account, the other type, the same amount. Requires
    /// `Idempotency-Key` as recording does. An entry is reversed at most once (409
    /// `already_reversed`); a reversal is never reversed (409 `cannot_reverse_a_reversal`).
    func reverse(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let original = try await visibleEntry(context)
        let key = try IdempotentCommand.key(of: request, operation: "reversing an entry")
        let body = try await request.decodeIfPresent(as: ReversalRequest.self, context: context)
        let now = clock.now()
        let draft = try EntryRules.validateReversal(description: body?.description, occurredAt: body?.occurredAt, now: now)
            .get()
        // Known without the lock (entries never change): refused before a key is claimed.
        if original.isReversal { throw LedgerRefusal.cannotReverseAReversal }
        return try await idempotently(
            key, principal: principal, fingerprint: RequestFingerprint.reversal(draft, entryID: original.id), now: now
        ) { db in
            try await LedgerEntries.reverse(original.id, with: draft, now: now, in: db)
        }
    }

    /// The account's entries by sequence, filtered by business date (inclusive), type and category.
    func listEntries(_ request: Request, context: ServiceRequestContext) async throws -> Page<LedgerEntry> {
        let account = try await visibleAccount(context, reading: true)
        let query = try EntryListQuery.parse(Self.parameters(request))
        if query.isEmptyRange { return Page(items: [], nextCursor: nil) }
        let entries = try await store.read { db in
            try await LedgerEntries.entries(
                accountID: account.id, filter: query.filter, after: query.cursor, limit: query.limit + 1, in: db)
        }
        let page = Array(entries.prefix(query.limit))
        return Page(items: page, nextCursor: entries.count > query.limit ? page.last.map { String($0.sequence) } : nil)
    }

    /// The `{id}` entry if the caller may use its account (or, `reading`, read it); 404 otherwise.
    func visibleEntry(_ context: ServiceRequestContext, reading: Bool = false) async throws -> LedgerEntry {
        let principal = try context.requirePrincipal()
        guard let id = Self.uuidParameter(context),
            let found = try await store.read({ db -> (entry: LedgerEntry, account: LedgerAccount)? in
                guard let entry = try await LedgerEntries.entry(id: id, in: db),
                    let account = try await LedgerAccounts.account(id: entry.accountID, in: db)
                else { return nil }
                return (entry, account)
            }),
            reading ? LedgerAccess.mayRead(found.account, principal) : LedgerAccess.mayUse(found.account, principal)
        else { throw Problem.notFound("Entry") }
        return found.entry
    }

    // MARK: Idempotency

    /// Runs `append` as the caller's idempotent command: claim, entry, event and stored answer in
    /// one transaction (see `IdempotentCommand`), then wakes the relay. Keys are the caller's own.
    func idempotently(
        _ key: String, principal: Principal, fingerprint: String, now: Date,
        _ append: (any SQLDatabase) async throws -> LedgerEntry
    ) async throws -> Response {
        let command = IdempotentCommand(scope: "ledger:\(principal.subject)", key: key, fingerprint: fingerprint)
        return try await command.run(
            in: store, now: now, headers: { [.location: "/v1/entries/\($0.id)"] }, onCommit: wakeRelay, append)
    }

    // MARK: Request parts

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
