import Foundation
public import Logging
public import MalhaCore
import Synchronization

/// Public keys from a JWKS, by `kid`, fetched when needed: the policy every verifier in Malha
/// follows (access tokens, signed events).
///
/// An unknown `kid` triggers at most one fetch per `refetchInterval` (a key rotated in is found
/// without a restart; a flood of made-up kids costs one fetch per interval); callers that meet an
/// unknown `kid` while a fetch runs wait for it. A set older than `maxAge` is fetched again before
/// it is trusted, so a withdrawn key stops verifying within that. A failed fetch keeps the keys
/// held so far.
public final class JWKSKeyCache<Key: Sendable>: Sendable {
    /// What a lookup found.
    public enum Lookup: Sendable {
        case found(Key)
        /// A fetch ran (or was joined) and succeeded, and the set does not hold the kid.
        case unknown
        /// The kid is not held and no fetch could tell: the last one failed, or one ran too
        /// recently to run another. Asking again later may find it.
        case unavailable
    }

    private struct State {
        var keys: [String: Key] = [:]
        var lastFetch: Date?
        var lastFetchFailed = false
        var inFlight: Task<Void, Never>?
    }

    let provider: any JWKSProvider
    let refetchInterval: TimeInterval
    let maxAge: TimeInterval
    let clock: any WallClock
    let logger: Logger
    let makeKey: @Sendable (PublicJWK) async -> Key?
    let onRefresh: @Sendable () -> Void
    private let state = Mutex(State())

    /// `makeKey` turns a published key into the verifier's own (nil skips it: a key the verifier
    /// cannot use); `onRefresh` runs after every successful fetch.
    public init(
        provider: any JWKSProvider, refetchInterval: Duration, maxAge: Duration, clock: any WallClock, logger: Logger,
        makeKey: @escaping @Sendable (PublicJWK) async -> Key?, onRefresh: @escaping @Sendable () -> Void = {}
    ) {
        self.provider = provider
        self.refetchInterval = refetchInterval.seconds
        self.maxAge = maxAge.seconds
        self.clock = clock
        self.logger = logger
        self.makeKey = makeKey
        self.onRefresh = onRefresh
    }

    public func key(for kid: String) async -> Lookup {
        let now = clock.now()
        let fresh = state.withLock { state -> Key? in
            // A stale key set is fetched again before it is trusted: withdrawn keys must stop verifying.
            if let last = state.lastFetch, now.timeIntervalSince(last) >= maxAge { return nil }
            return state.keys[kid]
        }
        if let fresh { return .found(fresh) }
        let fetch = state.withLock { state -> Task<Void, Never>? in
            if let running = state.inFlight { return running }
            if let last = state.lastFetch, now.timeIntervalSince(last) < refetchInterval { return nil }
            state.lastFetch = now
            // Assigned under the lock before the task can take it to clear the slot.
            let task = Task {
                await self.refresh()
                self.state.withLock { $0.inFlight = nil }
            }
            state.inFlight = task
            return task
        }
        guard let fetch else { return state.withLock { $0.keys[kid] }.map(Lookup.found) ?? .unavailable }
        await fetch.value
        return state.withLock { state in
            if let key = state.keys[kid] { return .found(key) }
            return state.lastFetchFailed ? .unavailable : .unknown
        }
    }

    /// Fetches the JWKS now and replaces the key set (keys absent from it are dropped). Only
    /// `EC` `P-256` keys published with `alg: ES256` are taken.
    public func refresh() async {
        do {
            let document = try await provider.fetchJWKS()
            var keys: [String: Key] = [:]
            for jwk in document.keys where jwk.kty == "EC" && jwk.crv == "P-256" && jwk.alg == "ES256" {
                if let key = await makeKey(jwk) { keys[jwk.kid] = key }
            }
            state.withLock {
                $0.keys = keys
                $0.lastFetchFailed = false
            }
            onRefresh()
        } catch {
            state.withLock { $0.lastFetchFailed = true }
            logger.warning("JWKS fetch failed", metadata: ["error": "\(error)"])
        }
    }
}
