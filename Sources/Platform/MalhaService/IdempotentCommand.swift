import Crypto
public import Foundation
public import Hummingbird
import MalhaCore
public import MalhaHTTP
public import MalhaStore
public import SQLKit

/// A request that must take effect once, named by the client's `Idempotency-Key` — the one
/// idempotency flow of every Malha service (checkout, ledger entries and reversals, refunds).
///
/// The key is claimed in the transaction of its effect, together with the stored answer: a crash
/// leaves both or neither, and a refusal thrown by the effect rolls the claim back with everything
/// else (the client may fix the request and retry with the same key). On the wire:
/// - the same key with the same request answers the first response again, with
///   `Idempotent-Replayed: true`;
/// - the same key with another request is 422 `idempotency_key_reused`;
/// - a key whose first request is still running is 409 `idempotency_key_in_use`. With the claim in
///   the effect's transaction a concurrent same-key request does not see that: on both engines it
///   waits for the first request's transaction (the unique key's row lock on PostgreSQL, the one
///   writer on SQLite) and then answers its replay. The 409 remains for a claim committed on its
///   own (one left by a crashed process, until it is abandoned after 60 s).
public struct IdempotentCommand: Sendable {
    /// Whose keys these are (`ledger:<subject>`): two callers' `k1` never meet.
    public let scope: String
    public let key: String
    /// The request's canonical form, hashed: what "the same request" means for this key.
    public let fingerprint: String

    public init(scope: String, key: String, fingerprint: String) {
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
    }

    /// The request's `Idempotency-Key`: 400 `idempotency_key_required` without one, 400
    /// `invalid_idempotency_key` unless it is 1 to 255 visible ASCII characters. `operation` says
    /// what needs it ("checkout").
    public static func key(of request: Request, operation: String) throws -> String {
        guard let key = request.headers[.idempotencyKey] else {
            throw Problem.badRequest(
                "idempotency_key_required",
                "\(operation) needs an Idempotency-Key header (a UUID generated per attempt, sent again on its retries)")
        }
        guard IdempotencyKeys.isValid(key) else {
            throw Problem.badRequest("invalid_idempotency_key", "the Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    /// SHA-256 of `value` encoded as JSON with sorted keys. Its own encoder, not `JSONCoding`'s:
    /// a fingerprint must never change with the wire format, or a retry after an upgrade would
    /// be refused as another request.
    public static func fingerprint(of value: some Encodable) throws -> String {
        hex(SHA256.hash(data: try fingerprintEncoder.encode(value)))
    }

    static let fingerprintEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// SHA-256 of `parts`, one per line.
    public static func fingerprint(_ parts: [String]) -> String {
        hex(SHA256.hash(data: Data(parts.joined(separator: "\n").utf8)))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The key's earlier answer, when it has one: the replay (returned), or a refusal (thrown,
    /// reused or in use). Nil when the key is free. For requests that do slow work before their
    /// transaction, so that a repeat is answered without doing it again.
    /// `headers` gives a replay the headers the first answer had (`Location`), from its stored body.
    public func earlierAnswer<Output: Decodable>(
        in store: any SQLStore, now: Date, headers: (Output) -> HTTPFields
    ) async throws -> Response? {
        let existing = try await store.read { db in
            try await IdempotencyKeys.existing(scope: scope, key: key, requestHash: fingerprint, now: now, in: db)
        }
        return try existing.map { try Self.answer($0, headers: headers) }
    }

    /// Claims the key, runs `effect`, stores its answer (`status`, the output as JSON) and commits
    /// them in one transaction; answers the stored response, or the earlier one for a repeat.
    /// `headers` adds headers to the answer (`Location`), the first and its replays alike;
    /// `onCommit` runs once the effect committed, never for a replay or a refusal.
    public func run<Output: Codable>(
        in store: any SQLStore, now: Date, status: HTTPResponse.Status = .created,
        headers: (Output) -> HTTPFields = { _ in [:] }, onCommit: () -> Void = {},
        _ effect: (any SQLDatabase) async throws -> Output
    ) async throws -> Response {
        let outcome = try await store.transaction { db -> IdempotentOutcome<Output> in
            let claim = try await IdempotencyKeys.claim(scope: scope, key: key, requestHash: fingerprint, now: now, in: db)
            guard claim == .claimed else { return .answered(claim) }
            let output = try await effect(db)
            let json = String(decoding: try JSONCoding.encoder.encode(output), as: UTF8.self)
            try await IdempotencyKeys.complete(scope: scope, key: key, status: Int(status.code), response: json, in: db)
            return .done(output, json)
        }
        switch outcome {
        case .done(let output, let json):
            onCommit()
            var response = Response.storedJSON(status: status, json, replayed: false)
            for field in headers(output) { response.headers.append(field) }
            return response
        case .answered(let claim):
            return try Self.answer(claim, headers: headers)
        }
    }

    /// `answer`, with the headers the first answer had, rebuilt from the stored body.
    static func answer<Output: Decodable>(_ claim: IdempotencyKeys.Claim, headers: (Output) -> HTTPFields) throws -> Response {
        guard case .replay(let status, let json) = claim else { return try answer(claim) }
        var response = Response.storedJSON(status: .init(code: status), json, replayed: true)
        if let output = try? JSONCoding.decoder.decode(Output.self, from: Data(json.utf8)) {
            for field in headers(output) { response.headers.append(field) }
        }
        return response
    }

    /// The response, or the refusal, a claim that is not this request's gives.
    static func answer(_ claim: IdempotencyKeys.Claim) throws -> Response {
        switch claim {
        case .replay(let status, let response):
            return Response.storedJSON(status: .init(code: status), response, replayed: true)
        case .mismatch:
            throw Problem.idempotencyKeyReused
        case .inProgress, .claimed:
            throw Problem.idempotencyKeyInUse()
        }
    }
}

/// What an idempotent command's transaction came to: its own effect, or an earlier claim's answer.
enum IdempotentOutcome<Output> {
    case done(Output, String)
    case answered(IdempotencyKeys.Claim)
}
