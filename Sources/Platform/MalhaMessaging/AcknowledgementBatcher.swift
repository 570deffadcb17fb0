import Synchronization

/// Coalesces acknowledgements: the handlers of one subscription that finish while an
/// acknowledgement is being written have theirs written together in the next one — one DELETE
/// and one transaction for many messages.
///
/// No task of its own: whoever finds no write running writes its own acknowledgement and every
/// one that queued meanwhile, then hands the next batch to the first of those that queued during
/// its write (so a caller writes at most one batch besides its own and returns). Each caller
/// returns once its acknowledgement was written, or failed — a failure only means the message
/// returns when its lease lapses, and the inbox makes that harmless.
final class AcknowledgementBatcher: Sendable {
    typealias Write = @Sendable ([Delivery]) async -> Void

    private struct Waiting {
        var delivery: Delivery
        /// Resumed with true when its caller is to write the next batch.
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var writing = false
        var waiting: [Waiting] = []
    }

    private let state = Mutex(State())
    private let write: Write

    init(write: @escaping Write) {
        self.write = write
    }

    func acknowledge(_ delivery: Delivery) async {
        let mustWrite = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let writeNow = state.withLock { state -> Bool in
                if state.writing {
                    state.waiting.append(Waiting(delivery: delivery, continuation: continuation))
                    return false
                }
                state.writing = true
                return true
            }
            if writeNow { continuation.resume(returning: true) }
        }
        guard mustWrite else { return }
        // This caller writes: its own acknowledgement and everyone's who queued before now.
        let queued = state.withLock { state -> [Waiting] in
            defer { state.waiting = [] }
            return state.waiting
        }
        await write([delivery] + queued.map(\.delivery))
        for waiting in queued { waiting.continuation.resume(returning: false) }
        // Whoever queued during the write: the first of them writes the next batch.
        let next = state.withLock { state -> Waiting? in
            if state.waiting.isEmpty {
                state.writing = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: true)
    }
}
