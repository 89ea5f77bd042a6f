//! The one waiter primitive under every waiting form (async, blocking, timed).
//!
//! A [`Waiter`] is queued in a lock's table entry, first come first served. Whoever releases the
//! lock hands it over directly: under the shard lock it records the new holder in the table and
//! moves the waiter to [`Outcome::Granted`], then wakes it (a `Waker` for async waits, the
//! condition variable for blocking ones). A waiter that gives up (timeout, dropped future, closed
//! session) is taken out of the queue under the same shard lock, so a grant and a cancellation
//! can never both win: the loser sees the winner's outcome and acts on it (a grant that arrived
//! for a waiter nobody waits for any more is released again). No polling, no sleep loops.

use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::lock::mode::Mode;
use crate::lock::sync::{Condvar, Mutex};

/// What became of a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Still queued.
    Pending,
    /// The lock was handed over; the table already records the holder.
    Granted { token: u64, count: usize },
    /// Taken out of the queue without a grant.
    Cancelled,
}

struct WaitState {
    outcome: Outcome,
    waker: Option<Waker>,
}

/// One queued request for a lock.
pub(crate) struct Waiter {
    pub(crate) mode: Mode,
    /// The waiting owner: a session id, or 0 for a session-less request.
    pub(crate) owner: u64,
    /// For a shared request: the most holders it accepts to join (`usize::MAX`: no limit).
    pub(crate) limit: usize,
    state: Mutex<WaitState>,
    ready: Condvar,
}

impl Waiter {
    pub(crate) fn new(mode: Mode, owner: u64, limit: usize) -> Self {
        Waiter {
            mode,
            owner,
            limit,
            state: Mutex::new(WaitState {
                outcome: Outcome::Pending,
                waker: None,
            }),
            ready: Condvar::new(),
        }
    }

    /// The current outcome.
    pub(crate) fn outcome(&self) -> Outcome {
        self.state.lock().outcome
    }

    /// Resolves a pending waiter (called with the shard locked, by whoever grants or cancels it).
    /// Returns the async waker to wake once the shard lock is released.
    pub(crate) fn resolve(&self, outcome: Outcome) -> Option<Waker> {
        let mut state = self.state.lock();
        debug_assert_eq!(state.outcome, Outcome::Pending, "a waiter is resolved once");
        state.outcome = outcome;
        self.ready.notify_one();
        state.waker.take()
    }

    /// Async: ready once the waiter is no longer pending; registers the task's waker otherwise.
    pub(crate) fn poll_resolved(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.outcome != Outcome::Pending {
            return Poll::Ready(());
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocking: parks the thread until the waiter is resolved or `deadline` passes. Returns
    /// whether it was resolved.
    pub(crate) fn block_until(&self, deadline: Option<Instant>) -> bool {
        let mut state = self.state.lock();
        while state.outcome == Outcome::Pending {
            match deadline {
                None => self.ready.wait(&mut state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.ready.wait_for(&mut state, deadline - now);
                }
            }
        }
        true
    }
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("mode", &self.mode)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}
