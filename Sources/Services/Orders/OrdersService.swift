public import MalhaStore

/// The orders service: carts, checkout and the order saga. So far its domain (the saga), its
/// persistence and its saga driver; the HTTP surface comes next.
public enum OrdersService {
    public static let name = "orders"
    public static var migrations: [Migration] { OrdersMigrations.all }
}
