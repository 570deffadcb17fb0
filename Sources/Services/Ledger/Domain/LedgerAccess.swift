import Contracts
public import MalhaCore

/// Who may see and move an account: its owner, and the people who keep the books — users with
/// the `finance` role, and administrators. For anyone else the account does not exist (404, not
/// 403, so account and entry ids cannot be probed).
public enum LedgerAccess {
    /// Finance and administrators see every account.
    public static func seesEveryAccount(_ principal: Principal) -> Bool {
        principal.has(role: Role.finance) || principal.isAdmin
    }

    public static func mayUse(_ account: LedgerAccount, _ principal: Principal) -> Bool {
        account.ownerID == principal.subject || seesEveryAccount(principal)
    }

    /// Reading is also open to a service client holding `ledger.read` (the consolidation's
    /// verifications and rebuilds); moving money never is.
    public static func mayRead(_ account: LedgerAccount, _ principal: Principal) -> Bool {
        mayUse(account, principal) || (principal.isServiceClient && principal.scopes.contains(ServiceScope.ledgerRead))
    }
}
