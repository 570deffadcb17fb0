/// The OAuth scopes one service grants another's client-credentials token: named here, where
/// both sides (the service that asks for it and the one that checks it) see the same value.
public enum ServiceScope {
    /// Read any cash account and its entries (never write). The consolidation's verifications and
    /// rebuilds read the ledger with it.
    public static let ledgerRead = "ledger.read"
    /// Read the catalog. Orders prices a cart with it: product reads are public, so it opens
    /// nothing more than anyone has; it makes the caller known (`client:orders` in the catalog's
    /// logs) and keeps orders working should product reads stop being public.
    public static let catalogRead = "catalog.read"
}
