import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity

/// MFA with TOTP (RFC 6238): enrolment, its confirmation by a first code (which hands out the
/// recovery codes), and the login's second step. Tokens issued after it carry `amr: ["pwd","otp"]`,
/// which role changes, key rotation and refunds require (`SecondFactorMiddleware`).
extension IdentityRoutes {
    /// The issuer an authenticator app shows next to the account.
    static let totpIssuer = "Malha"
    /// How long the first step's `mfa_token` is good for.
    static let challengeLifetimeSeconds = 300
    /// Wrong codes one challenge survives; the last one burns it (a new login is needed).
    static let challengeAttempts = 5

    static let invalidMFACode = Problem(
        .unauthorized, code: "invalid_mfa_code", title: "Unauthorized",
        detail: "the code is wrong, outside its time window, or already used")
    static let invalidMFAToken = Problem(
        .unauthorized, code: "invalid_mfa_token", title: "Unauthorized",
        detail: "the mfa_token is unknown, expired, used or burnt by wrong codes; log in again")
    static let mfaAlreadyEnabled = Problem.conflict("mfa_already_enabled", "MFA is already active for this account")
    static let mfaNotPending = Problem.conflict(
        "mfa_enrolment_not_started", "there is no enrolment to confirm: POST /v1/auth/mfa/enrolment first")
    static let wrongEnrolmentCode = Problem(
        .unprocessableContent, code: "invalid_mfa_code", title: "Unprocessable content",
        detail: "the code does not match the secret now (check the device's clock)")

    /// What a TOTP secret is sealed for: the user, so a sealed secret cannot be moved to another.
    static func sealingContext(userID: String) -> String { "mfa:" + userID }

    // MARK: Enrolment

    @Sendable func startEnrolment(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<MFAEnrolment> {
        let user = try await caller(context)
        let now = clock.now()
        let totp = TOTP(secret: TOTP.generateSecret())
        let secret = Base32.encode(totp.secret)
        let sealed = try keyRing.keyEncryption.seal(secret, context: Self.sealingContext(userID: user.id))
        guard
            try await repository.startEnrolment(
                userID: user.id, sealedSecret: sealed, now: now,
                audit: .init(
                    event: .mfaEnrolmentStarted, at: now, subject: user.id, email: user.email,
                    clientAddress: Self.clientAddress(context)))
        else { throw Self.mfaAlreadyEnabled }
        return EditedResponse(
            status: .created,
            response: MFAEnrolment(
                secret: secret, otpauthURI: totp.provisioningURI(issuer: Self.totpIssuer, account: user.email)))
    }

    @Sendable func confirmEnrolment(request: Request, context: ServiceRequestContext) async throws -> RecoveryCodes {
        let user = try await caller(context)
        let body = try await request.decode(as: ConfirmMFARequest.self, context: context)
        guard body.code.unicodeScalars.count <= ConfirmMFARequest.maxCodeLength else {
            throw Problem.validation(field: "code", "is too long")
        }
        guard let factor = try await repository.mfaFactor(userID: user.id) else { throw Self.mfaNotPending }
        guard !factor.isActive else { throw Self.mfaAlreadyEnabled }
        let now = clock.now()
        guard let step = try totp(of: factor).acceptedStep(for: body.code, at: now, lastAcceptedStep: nil) else {
            throw Self.wrongEnrolmentCode
        }
        let codes = RecoveryCode.generate()
        guard
            try await repository.confirmEnrolment(
                userID: user.id, step: step, recoveryCodeHashes: codes.map { Secrets.hash(RecoveryCode.normalize($0)) },
                now: now,
                audit: .init(
                    event: .mfaEnabled, at: now, subject: user.id, email: user.email, clientAddress: Self.clientAddress(context)))
        else { throw Self.mfaNotPending }
        return RecoveryCodes(recoveryCodes: codes)
    }

    // MARK: Login, second step

    /// The first step's answer when the password was right and MFA is active.
    func startChallenge(user: User, now: Date, address: String) async throws -> MFAChallenge {
        let token = Secrets.generate()
        try await repository.insertChallenge(
            hash: Secrets.hash(token), userID: user.id, now: now,
            expiresAt: now.addingTimeInterval(TimeInterval(Self.challengeLifetimeSeconds)),
            audit: .init(event: .mfaChallenge, at: now, subject: user.id, email: user.email, clientAddress: address))
        return MFAChallenge(mfaToken: token, expiresIn: Self.challengeLifetimeSeconds)
    }

    @Sendable func loginSecondStep(request: Request, context: ServiceRequestContext) async throws -> TokenPair {
        let body = try await request.decode(as: LoginMFARequest.self, context: context)
        try Self.validate(body)
        let address = Self.clientAddress(context)
        let now = clock.now()
        let hash = Secrets.hash(body.mfaToken)
        guard let challenge = try await repository.liveChallenge(hash: hash, now: now),
            let user = try await repository.user(id: challenge.userID),
            let factor = try await repository.mfaFactor(userID: user.id), factor.isActive
        else { throw Self.invalidMFAToken }
        if let retryAfter = throttle.retryAfter(account: user.email, address: address) {
            throw Problem.tooManyRequests(retryAfterSeconds: retryAfter, detail: "too many failed logins; try again later")
        }

        let proof: SecondFactorProof?
        if let code = body.code {
            // The replay rule first, from the stored step; the UPDATE that spends the step checks
            // it again, for a concurrent use of the same code.
            proof = try totp(of: factor).acceptedStep(for: code, at: now, lastAcceptedStep: factor.lastStep)
                .map(SecondFactorProof.step)
        } else {
            proof = body.recoveryCode.map { SecondFactorProof.recoveryCode(hash: Secrets.hash(RecoveryCode.normalize($0))) }
        }
        if let proof {
            let refreshToken = newRefreshToken(userID: user.id, amr: AuthenticationMethod.passwordAndOneTimePassword, now: now)
            var audit: [IdentityRepository.AuditEntry] = [
                .init(event: .loginSuccess, at: now, subject: user.id, email: user.email, clientAddress: address, detail: "mfa")
            ]
            if case .recoveryCode = proof {
                audit.append(
                    .init(event: .recoveryCodeUsed, at: now, subject: user.id, email: user.email, clientAddress: address))
            }
            switch try await repository.completeChallenge(
                hash: hash, userID: user.id, proof: proof, refreshToken: refreshToken.stored, audit: audit)
            {
            case .completed:
                throttle.recordSuccess(account: user.email, address: address)
                return try await tokenPair(user: user, refreshToken: refreshToken)
            case .challengeGone:
                throw Self.invalidMFAToken
            case .proofRefused:
                break
            }
        }
        // A wrong, stale or replayed code counts as a failed login, and against this challenge.
        throttle.recordFailure(account: user.email, address: address)
        try await repository.recordChallengeFailure(
            hash: hash, maxFailures: Self.challengeAttempts, now: now,
            audit: .init(
                event: .mfaFailure, at: now, subject: user.id, email: user.email, clientAddress: address,
                detail: body.code != nil ? "totp" : "recovery code"))
        throw Self.invalidMFACode
    }

    // MARK: Helpers

    /// The calling person (a service client has no account to enrol).
    private func caller(_ context: ServiceRequestContext) async throws -> User {
        let principal = try context.requirePrincipal()
        guard let user = try await repository.user(id: principal.subject) else {
            throw Problem.notFound("User \(principal.subject)")
        }
        return user
    }

    private func totp(of factor: StoredMFAFactor) throws -> TOTP {
        let text = try keyRing.keyEncryption.open(factor.sealedSecret, context: Self.sealingContext(userID: factor.userID))
        guard let secret = Base32.decode(text) else { throw KeyEncryptionKey.SealingError.notSealed }
        return TOTP(secret: secret)
    }

    private static func validate(_ body: LoginMFARequest) throws {
        var errors: [Problem.FieldError] = []
        if body.mfaToken.unicodeScalars.count > RefreshRequest.maxTokenLength {
            errors.append(.init(field: "mfa_token", message: "is too long"))
        }
        if (body.code == nil) == (body.recoveryCode == nil) {
            errors.append(.init(field: "code", message: "give either code or recovery_code"))
        }
        for (field, value) in [("code", body.code), ("recovery_code", body.recoveryCode)]
        where (value?.unicodeScalars.count ?? 0) > ConfirmMFARequest.maxCodeLength {
            errors.append(.init(field: field, message: "is too long"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
    }
}
