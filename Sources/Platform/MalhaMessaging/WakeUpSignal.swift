import Synchronization

/// Wake-ups for pollers (receivers, the outbox relay): `wait` returns on a `signal` or after the
/// timeout. A wake-up is a hint — waiters always re-query — and one that comes while nobody waits
/// is kept for the next waiter, so a signal racing a poller's empty query costs no latency.
public final class WakeUpSignal: Sendable {
    private struct State {
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits ended (timeout, signal) before their continuation was registered.
        var ended: Set<UInt64> = []
        var pending = false
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiters = state.withLock { state in
            if state.waiters.isEmpty { state.pending = true }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public func wait(timeout: Duration) async {
        let id: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            defer { state.next += 1 }
            return state.next
        }
        guard let id else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let endedAlready = self.state.withLock { state in
                        if state.ended.remove(id) != nil { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if endedAlready { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.end(id)
            }
            await group.next()
            group.cancelAll()
            self.end(id)
        }
        state.withLock { _ = $0.ended.remove(id) }
    }

    private func end(_ id: UInt64) {
        let waiter = state.withLock { state in
            if let waiter = state.waiters.removeValue(forKey: id) { return Optional(waiter) }
            state.ended.insert(id)
            return nil
        }
        waiter?.resume()
    }
}
