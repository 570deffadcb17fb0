import Foundation
import JWTKit
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
    /// Also seals the other secrets identity keeps (TOTP secrets).
    let keyEncryption: KeyEncryptionKey
    private let clock: any WallClock
    private let reloadInterval: TimeInterval
    private let cached = Mutex<Cached?>(nil)

    /// Private keys are stored sealed with `keyEncryption` (AES-256-GCM, the key id as
    /// authenticated data); the database never holds one in the clear.
    public init(
        repository: IdentityRepository, keyEncryption: KeyEncryptionKey, clock: any WallClock,
        reloadInterval: Duration = .seconds(60)
    ) {
        self.repository = repository
        self.keyEncryption = keyEncryption
        self.clock = clock
        self.reloadInterval = reloadInterval.seconds
    }

    /// Creates the first key when the table is empty (first start). Returns whether it did.
    @discardableResult
    public func ensureKey() async throws -> Bool {
        try await add(.generate(at: clock.now()), onlyIfNone: true, audit: nil)
    }

    /// Seals the private keys a database from before sealing holds in plaintext; returns how many.
    @discardableResult
    public func sealPlaintextKeys() async throws -> Int {
        try await repository.sealPlaintextKeys { kid, pem in try keyEncryption.seal(pem, context: kid) }
    }

    private func add(_ key: SigningKey, onlyIfNone: Bool, audit: IdentityRepository.AuditEntry?) async throws -> Bool {
        try await repository.add(
            signingKey: key, sealedPrivateKey: try keyEncryption.seal(key.privateKey.pemRepresentation, context: key.kid),
            onlyIfNone: onlyIfNone, audit: audit)
    }

    /// The stored key, opened (a plaintext one from before sealing is read as it is, until
    /// `sealPlaintextKeys` runs at start).
    private func open(_ stored: IdentityRepository.StoredSigningKey) throws -> SigningKey {
        let pem =
            KeyEncryptionKey.isSealed(stored.privateKey)
            ? try keyEncryption.open(stored.privateKey, context: stored.kid) : stored.privateKey
        return SigningKey(kid: stored.kid, privateKey: try ES256PrivateKey(pem: pem), createdAt: stored.createdAt)
    }

    /// The signer for new tokens.
    public func currentSigner() async throws -> TokenSigner {
        let now = clock.now()
        if let cached = cached.withLock({ $0 }), now.timeIntervalSince(cached.loadedAt) < reloadInterval {
            return cached.signer
        }
        var stored = try await repository.signingKeys(limit: 1).first
        if stored == nil {
            try await ensureKey()
            stored = try await repository.signingKeys(limit: 1).first
        }
        guard let stored else { throw KeyRingError.noSigningKey }
        let key = try open(stored)
        let signer = await TokenSigner(key: key)
        cached.withLock { $0 = Cached(signer: signer, loadedAt: now) }
        return signer
    }

    /// Makes a new key current; the old current becomes previous. Returns the new key id.
    public func rotate(actor: String?) async throws -> String {
        let now = clock.now()
        let key = SigningKey.generate(at: now)
        _ = try await add(key, onlyIfNone: false, audit: .init(event: .keyRotation, at: now, subject: actor, detail: key.kid))
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
