import Contracts
import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import MalhaStore
import NIOCore
import SQLKit

extension RebuildReport: ResponseEncodable {}

/// The consolidation's HTTP surface: daily balances (their owner, finance and administrators),
/// and verification and rebuild from the ledger (finance and administrators).
struct ConsolidationRoutes: Sendable {
    let store: any SQLStore
    let cache: BalanceCache
    let ledger: LedgerReader?
    let clock: any WallClock
    /// The most days one answer holds: a longer range is answered a page at a time (`next_from`).
    static let maxRangeDays = 366

    func register(on router: Router<ServiceRequestContext>) {
        let user = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.authenticated))
        user.get("/v1/accounts/{id}/balances/{date}") { request, context in try await self.balance(request, context: context) }
        user.get("/v1/accounts/{id}/balances") { request, context in try await self.balances(request, context: context) }
        let books = router.group().add(
            middleware: AccessPolicyMiddleware<ServiceRequestContext>(.anyRole([Role.finance, Role.admin])))
        books.post("/v1/admin/consolidation/rebuild") { request, context in try await self.rebuild(request, context: context) }
    }

    // MARK: Balances

    /// One day's figures.
    func balance(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        guard let date = context.parameters.get("date").flatMap(BusinessDate.parse) else {
            throw Problem(.unprocessableContent, code: "invalid_date", detail: "the date must be a real day written YYYY-MM-DD")
        }
        return try await cached(request, context: context, view: date) { db, account in
            BalanceOfDay(
                accountID: account.id, currency: account.currency,
                day: try await BalanceQueries.day(date, accountID: account.id, in: db), freshness: account.freshness)
        }
    }

    /// Every day of `from…to`.
    func balances(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let (from, to) = try Self.range(request, required: true)
        guard let from, let to else { preconditionFailure("a required range has both ends") }
        let page = BalanceRange.page(from: from, to: to, maxDays: Self.maxRangeDays)
        return try await cached(request, context: context, view: "\(from)..\(to)") { db, account in
            var days: [DayBalance] = []
            if let page { days = try await BalanceQueries.days(from: from, to: page.last, accountID: account.id, in: db) }
            return BalanceRange(
                accountID: account.id, currency: account.currency, from: from, to: to, days: days, nextFrom: page?.nextFrom,
                freshness: account.freshness)
        }
    }

    /// `from` and `to` query parameters: real days (any order: `from` after `to` is an empty range).
    static func range(_ request: Request, required: Bool) throws -> (from: String?, to: String?) {
        var errors: [Problem.FieldError] = []
        var ends: [String: String] = [:]
        for name in ["from", "to"] {
            guard let raw = request.uri.queryParameters[Substring(name)].map(String.init) else {
                if required { errors.append(.init(field: name, message: "is required (YYYY-MM-DD)")) }
                continue
            }
            if let date = BusinessDate.parse(raw) {
                ends[name] = date
            } else {
                errors.append(.init(field: name, message: "must be a real day written YYYY-MM-DD"))
            }
        }
        if !errors.isEmpty {
            throw Problem(.unprocessableContent, code: "invalid_date", detail: "invalid date range", errors: errors)
        }
        return (ends["from"], ends["to"])
    }

    /// Answers from the cache when it can, else renders `body` from the database and caches it.
    /// `If-None-Match` with the current `ETag` gets 304 without a body.
    func cached(
        _ request: Request, context: ServiceRequestContext, view: String,
        _ body: @Sendable (any SQLDatabase, ConsolidatedAccount) async throws -> some Encodable & Sendable
    ) async throws -> Response {
        let principal = try context.requirePrincipal()
        guard let accountID = context.parameters.get("id").flatMap({ UUID(uuidString: $0) })?.uuidString.lowercased() else {
            throw Problem.notFound("Account")
        }
        let seesEveryAccount = principal.has(role: Role.finance) || principal.isAdmin
        var header = await cache.header(accountID: accountID)
        // A header without an owner is not trusted to refuse: the owner may have been written since
        // (the account-opened event committing while this header was being cached, or a rebuild
        // that brought the owner from the ledger and had no figures to repair).
        if header == nil || (header?.ownerID.isEmpty == true && !seesEveryAccount) {
            // The header is written before the balances are read: a commit after this point
            // removes it, so what is read next can never be cached under it stale.
            guard let account = try await store.read({ try await Projection.account(accountID, in: $0) }) else {
                throw Problem.notFound("Account")
            }
            header = await cache.newHeader(accountID: accountID, ownerID: account.ownerID)
        }
        guard let header, header.ownerID == principal.subject || seesEveryAccount
        else { throw Problem.notFound("Account") }
        let rendered: BalanceCache.Rendered
        if let hit = await cache.rendered(accountID, header, view: view) {
            rendered = hit
        } else {
            let value = try await store.read { db in
                guard let account = try await Projection.account(accountID, in: db) else { throw Problem.notFound("Account") }
                return try await body(db, account)
            }
            rendered = await cache.store(Array(try JSONCoding.encoder.encode(value)), accountID, header, view: view)
        }
        var headers: HTTPFields = [.eTag: rendered.etag, .cacheControl: "private, no-cache"]
        // RFC 9110 §13.1.2: `*`, or any listed tag equal by weak comparison (a `W/` prefix ignored).
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { candidate in
                let tag = candidate.trimmingCharacters(in: .whitespaces)
                return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag) == rendered.etag
            })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: rendered.body)))
    }

    // MARK: Rebuild

    struct RebuildRequest: Decodable {
        var accountID: String
        var date: String?
        var from: String?
        var to: String?
        var verify: Bool?

        enum CodingKeys: String, CodingKey {
            case date, from, to, verify
            case accountID = "account_id"
        }
    }

    /// Verifies (`verify: true`: nothing written) or rebuilds an account's balances — the whole
    /// account, one `date`, or `from…to` — from the ledger's entries, read with the caller's token.
    func rebuild(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<RebuildReport> {
        let body = try await request.decode(as: RebuildRequest.self, context: context)
        var errors: [Problem.FieldError] = []
        let accountID = UUID(uuidString: body.accountID)?.uuidString.lowercased()
        if accountID == nil { errors.append(.init(field: "account_id", message: "must be an account id (a UUID)")) }
        var ends: [String: String] = [:]
        for (name, value) in [("date", body.date), ("from", body.from), ("to", body.to)] {
            guard let value else { continue }
            if let date = BusinessDate.parse(value) {
                ends[name] = date
            } else {
                errors.append(.init(field: name, message: "must be a real day written YYYY-MM-DD"))
            }
        }
        if body.date != nil, body.from != nil || body.to != nil {
            errors.append(.init(field: "date", message: "give either date or from/to, not both"))
        }
        guard errors.isEmpty, let accountID else { throw Problem.validation(errors) }
        let from = ends["date"] ?? ends["from"]
        let to = ends["date"] ?? ends["to"]
        guard let ledger else {
            throw Problem(
                .serviceUnavailable, code: "ledger_not_configured",
                detail: "this instance has no ledger URL or no client credentials to read it with")
        }
        if let from, let to, from > to {
            // No day is in the range: nothing to compare or write, for an account the ledger has.
            guard try await ledger.readAccount(accountID) != nil else {
                throw Problem.notFound("Account")
            }
            return EditedResponse(
                status: .ok, response: .empty(accountID: accountID, from: from, to: to, repair: body.verify != true))
        }
        let (account, entries) = try await ledger.read(accountID, from: from, to: to)
        guard let account else { throw Problem.notFound("Account") }
        let report = try await Rebuild.run(
            accountID: accountID, from: from, to: to, repair: body.verify != true, ledgerAccount: account,
            ledgerEntries: entries.map(\.projected), now: clock.now(), store: store)
        if report.repaired { await cache.invalidate(accountID: accountID) }
        context.logger.notice(
            "consolidation \(report.mode)",
            metadata: [
                "account_id": "\(accountID)", "consistent": "\(report.consistent)", "repaired": "\(report.repaired)",
                "differences": "\(report.differences.count)", "missing": "\(report.missingEntryCount)",
                "unexpected": "\(report.unexpectedEntryCount)",
            ])
        return EditedResponse(status: .ok, response: report)
    }
}

/// 502 `ledger_unavailable` (logged with its cause by `ProblemMiddleware`; the body keeps it out).
extension LedgerReader.Unavailable: ProblemConvertible {
    var problem: Problem { Problem(.badGateway, code: "ledger_unavailable", detail: "the ledger could not be read: try again") }
}
