import ArgumentParser
import Foundation
import Identity
import MalhaCore

/// `malha totp <base32-secret>`: the current TOTP code of a secret, for the walkthrough and
/// scripts (an authenticator app does the same). The secret is an argument, so it may land in
/// the shell's history: a convenience for demo accounts, not for real ones.
struct TOTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "totp", abstract: "Print the current TOTP code (RFC 6238, 6 digits, 30 s) of a base32 secret.",
        discussion: """
            The secret is what POST /v1/auth/mfa/enrolment answered (or the secret= of its otpauth URI). \
            A code is accepted once: to log in again within the same 30 s, use --next.
            """)

    @Argument(help: "The base32 secret.")
    var secret: String

    @Flag(name: .long, help: "The next step's code instead (accepted up to 30 s early).")
    var next = false

    func run() throws {
        guard let bytes = Base32.decode(secret), !bytes.isEmpty else {
            throw ValidationError("the secret is not base32 (A-Z, 2-7)")
        }
        let totp = TOTP(secret: bytes)
        let step = totp.step(at: SystemWallClock().now()) + (next ? 1 : 0)
        printNow(totp.code(step: step))
    }
}
