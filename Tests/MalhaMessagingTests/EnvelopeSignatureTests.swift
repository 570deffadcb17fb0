import Crypto
import Foundation
import MalhaCore
import MalhaIdentity
import MalhaMessaging
import MalhaMessagingSQL
import MalhaService
import MalhaStore
import MalhaTesting
import SQLKit
import Synchronization
import Testing

/// A critical contract of "payments" (signed by its owner, refused otherwise).
struct Captured: SignedMessageContract, Equatable {
    static let type = "payments.test-captured.v1"
    var orderID: String
}

struct Declined: MessageContract {
    static let type = "payments.test-declined.v1"
    var orderID: String
}

@Suite("Signed envelopes")
struct EnvelopeSignatureTests {
    let keys = TestEventKeys()

    func captured(source: String = "payments", key: String = "o-1") throws -> Envelope {
        try Envelope(
            Captured(orderID: "o-1"), source: source, at: Date(epochMilliseconds: 1_760_000_000_123), key: key,
            correlationID: "corr", causationID: "cause", traceparent: "00-aa-bb-01")
    }

    @Test func aSignedCriticalEventVerifiesAndDecodes() async throws {
        let signed = try keys.sign(try captured())
        let kid = keys.keys["payments"]!.kid
        #expect(signed.signature?.hasPrefix(kid + ".") == true)
        #expect(throws: EnvelopeSignatureRejected.self) { try signed.decode(Captured.self) }  // signed, not yet verified
        let verified = try await keys.verifier().verify(signed)
        #expect(verified.isSignatureVerified)
        #expect(try verified.decode(Captured.self) == Captured(orderID: "o-1"))
    }

    /// Every covered field, changed after signing, breaks the signature; attempt and traceparent do not.
    @Test(arguments: ["id", "type", "occurredAt", "correlationID", "causationID", "key", "payload", "no causation", "no key"])
    func aTamperedFieldIsRefused(field: String) async throws {
        var tampered = try keys.sign(try captured())
        switch field {
        case "id": tampered.id = UUID.v7().lowercased
        case "type": tampered.type = "payments.test-refunded.v1"
        case "occurredAt": tampered.occurredAt = tampered.occurredAt.addingTimeInterval(0.001)
        case "correlationID": tampered.correlationID = "other"
        case "causationID": tampered.causationID = "other"
        case "no causation": tampered.causationID = nil
        case "key": tampered.key = "o-2"
        case "no key": tampered.key = nil
        default: tampered.payload = Data(#"{"order_id":"o-2"}"#.utf8)
        }
        let error = await #expect(throws: EnvelopeSignatureRejected.self) { try await keys.verifier().verify(tampered) }
        #expect(error?.reason.contains("bad signature") == true, "\(String(describing: error))")
    }

    @Test func attemptAndTraceparentAreNotCovered() async throws {
        var moved = try keys.sign(try captured())
        moved.attempt = 5
        moved.traceparent = "00-cc-dd-01"
        #expect(try await keys.verifier().verify(moved).isSignatureVerified)
    }

    @Test func aSourceThatIsNotTheTypesOwnerIsRefused() async throws {
        // Signed with identity's genuine key, but a payments type: only payments may sign it.
        let signed = try keys.sign(try captured(source: "identity"))
        let error = await #expect(throws: EnvelopeSignatureRejected.self) { try await keys.verifier().verify(signed) }
        #expect(error?.reason.contains("claims source identity") == true)
        // Relabelled as payments, identity's kid is not one payments publishes.
        var relabelled = signed
        relabelled.source = "payments"
        let unknown = await #expect(throws: EnvelopeSignatureRejected.self) { try await keys.verifier().verify(relabelled) }
        #expect(unknown?.reason.contains("publishes no key") == true, "\(String(describing: unknown))")
    }

    @Test func anotherKeyUnderTheRealKidIsRefused() async throws {
        let forger = P256.Signing.PrivateKey()
        let forged = try captured().signed(with: forger, kid: keys.keys["payments"]!.kid)
        let error = await #expect(throws: EnvelopeSignatureRejected.self) { try await keys.verifier().verify(forged) }
        #expect(error?.reason.contains("bad signature") == true)
    }

    @Test(arguments: ["", "nodot", ".c2ln", "kid.!!!", "kid.c2lnbmF0dXJl"])
    func aMalformedSignatureIsRefused(text: String) async throws {
        var envelope = try captured()
        envelope.signature = text
        await #expect(throws: EnvelopeSignatureRejected.self) { try await keys.verifier().verify(envelope) }
    }

    @Test func anUnsignedCriticalEventDoesNotDecodeAndANonCriticalOneDoes() throws {
        let error = #expect(throws: EnvelopeSignatureRejected.self) { try captured().decode(Captured.self) }
        #expect(error?.reason.contains("must be signed by payments") == true)
        let declined = try Envelope(Declined(orderID: "o-1"), source: "payments", at: Date())
        #expect(try declined.decode(Declined.self).orderID == "o-1")
    }

    @Test func keysThatCannotBeFetchedAreTransient() async throws {
        struct Down: Error {}
        let verifier = EventSignatureVerifier(
            publishers: ["payments": ClosureJWKSProvider { throw Down() }], logger: testLogger)
        let error = await #expect(throws: EventKeysUnavailable.self) { try await verifier.verify(try keys.sign(try captured())) }
        let thrown: (any Error)? = error
        #expect(thrown.map { !($0 is any PermanentMessageError) } == true, "retried, never dead-lettered for this")
    }

    @Test func anUnknownKidIsRefetchedAtMostOncePerInterval() async throws {
        let fetches = Atomic<Int>(0)
        let clock = ManualClock()
        let payments = keys.keys["payments"]!
        let verifier = EventSignatureVerifier(
            publishers: [
                "payments": ClosureJWKSProvider {
                    fetches.wrappingAdd(1, ordering: .relaxed)
                    return JWKSDocument(keys: [payments.jwk])
                }
            ], clock: clock, logger: testLogger)
        let stranger = try captured().signed(with: P256.Signing.PrivateKey(), kid: "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000")
        await #expect(throws: EnvelopeSignatureRejected.self) { try await verifier.verify(stranger) }
        // Within the interval: no new fetch, and so no verdict yet (retried, not dead-lettered).
        await #expect(throws: EventKeysUnavailable.self) { try await verifier.verify(stranger) }
        #expect(fetches.load(ordering: .relaxed) == 1)
        clock.advance(by: .seconds(11))
        await #expect(throws: EnvelopeSignatureRejected.self) { try await verifier.verify(stranger) }
        #expect(fetches.load(ordering: .relaxed) == 2)
        #expect(try await verifier.verify(try keys.sign(try captured())).isSignatureVerified)
    }

    /// Through a consumer: verified ones are applied, forged and unsigned critical ones dead-lettered
    /// at once with the reason, and unsigned ordinary ones still flow.
    @Test func theConsumerDeadLettersWhatDoesNotVerify() async throws {
        try await withServiceAndBus { store, busStore in
            try await Inbox.migrate(store, logger: testLogger)
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            let applied = Mutex<[String]>([])
            let runner = ConsumerRunner(
                subscription: Subscription(name: "orders.payments", types: [Captured.type, Declined.type]),
                transport: transport, store: store, verifier: keys.verifier(), logger: testLogger
            ) { envelope, _ in
                let order =
                    envelope.type == Captured.type
                    ? try envelope.decode(Captured.self).orderID : try envelope.decode(Declined.self).orderID
                applied.withLock { $0.append(order) }
            }
            try await transport.bind(subscription: "orders.payments", to: [Captured.type, Declined.type])
            let genuine = try keys.sign(try captured())
            let unsigned = try captured(key: "o-2")
            let forged = try captured(key: "o-3").signed(with: P256.Signing.PrivateKey(), kid: keys.keys["payments"]!.kid)
            let ordinary = try Envelope(Declined(orderID: "o-9"), source: "payments", at: Date())
            try await transport.publish([genuine, unsigned, forged, ordinary])
            var outcomes: [String: ConsumeOutcome] = [:]
            for delivery in try await transport.receive(from: "orders.payments", limit: 10, lease: .seconds(30)) {
                outcomes[delivery.envelope.id] = await runner.consume(delivery)
            }
            #expect(outcomes[genuine.id] == .applied)
            #expect(outcomes[ordinary.id] == .applied)
            #expect(outcomes[unsigned.id] == .deadLettered)
            #expect(outcomes[forged.id] == .deadLettered)
            #expect(applied.withLock { $0 }.sorted() == ["o-1", "o-9"])
            let unsignedLetter = try await transport.deadLetter(id: unsigned.id, subscription: "orders.payments")
            #expect(unsignedLetter?.attempts.count == 1)
            #expect(unsignedLetter?.lastError.contains("must be signed by payments") == true)
            let forgedLetter = try await transport.deadLetter(id: forged.id, subscription: "orders.payments")
            #expect(forgedLetter?.lastError.contains("bad signature") == true)
            #expect(forgedLetter?.envelope.signature == forged.signature, "the dead letter keeps the signature")
        }
    }

    /// The publishing side: the relay signs a service's own events, leaves its commands to other
    /// services unsigned, and the key is stored sealed.
    @Test func theRelaySignsWithTheStoredSealedKey() async throws {
        try await withServiceAndBus { store, busStore in
            try await Outbox.migrate(store, logger: testLogger)
            let transport = try await SQLTransport.open(store: busStore, logger: testLogger)
            let ring = EventKeyRing(
                service: "payments", store: store, keyEncryption: KeyEncryptionKey.generate().key, clock: SystemWallClock())
            try await ring.prepare(logger: testLogger)
            let relay = OutboxRelay(store: store, transport: transport, signer: ring, service: "payments", logger: testLogger)
            try await transport.bind(subscription: "s", to: [Captured.type, Note.type])
            let event = try captured()
            let command = try Envelope(Note(n: 1), source: "payments", at: Date())
            try await store.transaction { db in try await Outbox.enqueue([event, command], in: db) }
            #expect(try await relay.relayOnce() == 2)
            let delivered = try await transport.receive(from: "s", limit: 2, lease: .seconds(30)).map(\.envelope)
            #expect(delivered.last?.signature == nil, "test.note.v1 is not payments' to sign")
            let jwks = try await ring.jwks()
            let verifier = EventSignatureVerifier(publishers: ["payments": ClosureJWKSProvider { jwks }], logger: testLogger)
            #expect(try await verifier.verify(delivered[0]).decode(Captured.self).orderID == "o-1")
            let stored = try await store.read { db in
                try await db.raw("SELECT private_key FROM event_signing_keys").all()
            }.map { try $0.decode(column: "private_key", as: String.self) }
            #expect(
                stored.count == 1 && stored.allSatisfy { $0.hasPrefix(KeyEncryptionKey.prefix) && !$0.contains("PRIVATE KEY") })
            try await ring.prepare(logger: testLogger)
            #expect(try await ring.jwks().keys.count == 1, "a restart keeps the key")
        }
    }
}
