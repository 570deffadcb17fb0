import MalhaCore
import Synchronization

/// Group commit for a single-writer database: transactions that queue for the writer while another
/// one runs join one database transaction and share its COMMIT — one `fsync` for the group instead
/// of one each.
///
/// With `synchronous=FULL` every SQLite commit waits for the disk (about a millisecond here), so a
/// writer that commits each caller's transaction alone tops out near a thousand transactions a
/// second whatever the CPU. Here each caller still runs its own body, in its own task, in order:
///
/// 1. it waits for the writer (`acquire`); the first of a group opens the database transaction;
/// 2. it runs its body inside a SAVEPOINT, released on success and rolled back on failure, so a
///    failing body undoes only its own writes (the first member needs none: when its body fails,
///    nobody else is in the group yet and the whole transaction rolls back);
/// 3. if someone is queued and the group is not full, it hands the writer to the next caller
///    (`handOffOrCommit`) and waits for the group's outcome; otherwise it commits the group and
///    tells every member.
///
/// Nobody's result leaves before the COMMIT that makes it durable: a member whose body succeeded
/// returns only when the group committed, and throws if the COMMIT failed. A body sees the writes
/// of earlier members of its group (as it would have after their commits) — that is serial order,
/// and all of them commit or none does.
final class GroupCommitWriter: Sendable {
    /// The outcome of one group's COMMIT, awaited by every member that handed the writer on.
    final class Group: Sendable {
        private struct State {
            var outcome: Result<Void, any Error>?
            var waiters: [CheckedContinuation<Void, any Error>] = []
            /// A member's savepoint could not be rolled back or released: the database
            /// transaction is in an unknown state, so the group rolls back as a whole.
            var poisoned: (any Error)?
            var members = 0
        }

        private let state = Mutex(State())

        var members: Int { state.withLock { $0.members } }
        var poisoned: (any Error)? { state.withLock { $0.poisoned } }

        func join() { state.withLock { $0.members += 1 } }

        func poison(_ error: any Error) {
            state.withLock { state in
                if state.poisoned == nil { state.poisoned = error }
            }
        }

        /// Waits for the group's COMMIT. Not cancellable: the member's writes are in the group,
        /// and its caller must learn whether they became durable.
        func outcome() async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let known = state.withLock { state -> Result<Void, any Error>? in
                    if let outcome = state.outcome { return outcome }
                    state.waiters.append(continuation)
                    return nil
                }
                if let known { continuation.resume(with: known) }
            }
        }

        func finish(_ outcome: Result<Void, any Error>) {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
                state.outcome = outcome
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(with: outcome) }
        }
    }

    private let writer = AsyncSemaphore(permits: 1)
    /// The group whose database transaction is open, if any (only the writer's holder changes it).
    private let open = Mutex<Group?>(nil)
    /// Most members one COMMIT carries; a bound on how long the first of a busy group waits.
    let maxMembers: Int

    init(maxMembers: Int = 128) {
        self.maxMembers = max(1, maxMembers)
    }

    /// Waits for the writer, first come first served. Cancellable only while queued: once handed
    /// the writer, the caller owns it and must finish with `handOffOrCommit` or `release`.
    func acquire() async throws {
        try await writer.acquire()
    }

    /// The holder's view of the open group (nil: the holder must begin one).
    var openGroup: Group? { open.withLock { $0 } }

    /// The holder began a database transaction for `group`.
    func opened(_ group: Group) { open.withLock { $0 = group } }

    /// Called by the holder after its body: hands the writer to the next queued caller, who joins
    /// the open group (returns true — the caller then awaits `group.outcome()`), or, when nobody
    /// waits, the group is full or poisoned, closes the group and keeps the writer (returns false
    /// — the caller must commit or roll back, `finish` the group and `release`).
    func handOffOrCommit(_ group: Group) -> Bool {
        if group.members < maxMembers, group.poisoned == nil, writer.handOverIfWaited() { return true }
        closeGroup()
        return false
    }

    /// The holder ends the open group (it commits or rolls back its transaction next).
    func closeGroup() { open.withLock { $0 = nil } }

    /// Gives the writer to the next queued caller, or frees it.
    func release() {
        precondition(openGroup == nil, "released the writer with a group still open")
        writer.release()
    }
}
