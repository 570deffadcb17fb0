import Foundation
import MalhaCore
import MalhaIdentity
import Synchronization

/// The signing keys, persisted in `signing_keys`: the newest is current (signs), the one before it
/// is previous (still verifies, so tokens issued before a rotation live out their 15 minutes).
///
/// The current signer is cached and re-read at most every `reloadInterval`, so a rotation made by
/// another replica is picked up without a restart; meanwhile that replica's tokens stay valid
/// because the JWKS always lists two generations.
public final class KeyRing: Sendable {
    /// How many generations the JWKS publishes: current and previous.
    public static let publishedGenerations = 2

    private struct Cached {
        var signer: TokenSigner
        var loadedAt: Date
    }

    private let repository: IdentityRepository
    private let clock: any WallClock
    private let reloadInterval: TimeInterval
    private let cached = Mutex<Cached?>(nil)

    public init(repository: IdentityRepository, clock: any WallClock, reloadInterval: Duration = .seconds(60)) {
        self.repository = repository
        self.clock = clock
        self.reloadInterval = reloadInterval.seconds
    }

    /// Creates the first key when the table is empty (first start). Returns whether it did.
    @discardableResult
    public func ensureKey() async throws -> Bool {
        try await repository.add(signingKey: .generate(at: clock.now()), onlyIfNone: true, audit: nil)
    }

    /// The signer for new tokens.
    public func currentSigner() async throws -> TokenSigner {
        let now = clock.now()
        if let cached = cached.withLock({ $0 }), now.timeIntervalSince(cached.loadedAt) < reloadInterval {
            return cached.signer
        }
        var key = try await repository.signingKeys(limit: 1).first
        if key == nil {
            try await ensureKey()
            key = try await repository.signingKeys(limit: 1).first
        }
        guard let key else { throw KeyRingError.noSigningKey }
        let signer = await TokenSigner(key: key)
        cached.withLock { $0 = Cached(signer: signer, loadedAt: now) }
        return signer
    }

    /// Makes a new key current; the old current becomes previous. Returns the new key id.
    public func rotate(actor: String?) async throws -> String {
        let now = clock.now()
        let key = SigningKey.generate(at: now)
        _ = try await repository.add(
            signingKey: key, onlyIfNone: false,
            audit: .init(event: .keyRotation, at: now, subject: actor, detail: key.kid))
        let signer = await TokenSigner(key: key)
        cached.withLock { $0 = Cached(signer: signer, loadedAt: now) }
        return key.kid
    }

    /// The published key set, read from the table each time (so every replica serves the same).
    public func jwks() async throws -> JWKSDocument {
        JWKSDocument(keys: try await repository.publicKeys(limit: Self.publishedGenerations))
    }
}

enum KeyRingError: Error {
    case noSigningKey
}
