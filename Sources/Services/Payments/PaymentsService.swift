/// The TechStore payments service: payment intents, the provider that processes them, antifraud,
/// refunds and voids, and the audit trail.
public enum PaymentsService {
    public static let name = "payments"
}
