import MalhaIdentity

// Account passwords always go through these two, never through `hash`/`verify` directly: they
// pre-hash passwords longer than bcrypt's 72 bytes (`BcryptInput`) and record it in the stored
// hash (`StoredPasswordHash`). The bcrypt work stays on the hasher's thread pool.
extension PasswordHasher {
    /// The value to store for `password`.
    func hashAccountPassword(_ password: String) async throws -> String {
        let input = BcryptInput(password: password)
        return StoredPasswordHash(bcrypt: try await hash(input.text), isPrehashed: input.isPrehashed).stored
    }

    /// Whether `candidate` is the password `storedHash` was made from.
    func verifyAccountPassword(_ candidate: String, storedHash: String) async throws -> Bool {
        let input = BcryptInput(password: candidate)
        let stored = StoredPasswordHash(stored: storedHash)
        // A pre-hashed candidate cannot match a plain hash, nor the reverse (one password was
        // longer than 72 bytes, the other was not); bcrypt still runs, so the time does not tell.
        let matches = try await verify(input.text, hash: stored.bcrypt)
        return matches && input.isPrehashed == stored.isPrehashed
    }
}
