//! One name's state and the rules that change it: who holds it (one exclusive holder or counted
//! shared holders), who waits (one FIFO queue), who is granted next. Pure: no lock, no allocation
//! of its own beyond its vectors, no clock; the shard calls it with its mutex held and supplies
//! new holders' tokens and timestamps (`issue`), so every rule is unit-tested here alone.
//!
//! The rules (invariants I3 and I10–I12 in `table`'s docs):
//! - reader–writer: any number of shared holders, or one exclusive holder; a shared request joins
//!   only while fewer than its limit hold the name;
//! - an owner (session) that holds the name in the mode it asks for rejoins: one more reference,
//!   the same token, even past queued waiters;
//! - first come, first served: a newcomer never overtakes a queued request that blocks it (any
//!   queued request blocks an exclusive newcomer; a queued exclusive request blocks shared ones);
//!   the release that frees the name hands it to the oldest eligible waiters at once;
//! - an entry with no holder and no waiter is idle, and the shard removes it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::SystemTime;

use smallvec::{SmallVec, smallvec};

use crate::lock::contention::Contention;
use crate::lock::mode::Mode;
use crate::lock::name::Name;
use crate::lock::snapshot::{HolderInfo, LockInfo, WaiterInfo};
use crate::lock::wait::{Outcome, Waiter};

/// How a holding is being released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Drop one reference (a guard); the holding ends when none is left.
    One,
    /// End the holding whatever its references (release by name).
    All,
    /// End the holding because its session ended (counted as an orphan release).
    Orphan,
    /// Give back a grant nobody received (a wait cancelled after its grant arrived).
    Unclaimed,
}

/// One owner's holding of a name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holder {
    /// Session id, or 0 for a session-less (anonymous) owner, which never rejoins.
    pub(crate) owner: u64,
    pub(crate) token: u64,
    pub(crate) since_us: u64,
    pub(crate) refs: u64,
}

/// What [`EntryState::try_grant`] granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) token: u64,
    /// Distinct holders right after the grant (1 for exclusive).
    pub(crate) count: usize,
}

/// One name's state. `mode` is meaningful while `holders` is not empty; shared holders are kept
/// in acquisition order, and the first one is stored inline.
pub(crate) struct EntryState {
    mode: Mode,
    holders: SmallVec<[Holder; 1]>,
    /// Boxed: 8 bytes in every entry instead of 32, and almost every entry has no waiter.
    #[allow(clippy::box_collection)]
    queue: Option<Box<VecDeque<Arc<Waiter>>>>,
}

impl EntryState {
    /// A new entry, held by `holder` in `mode`.
    #[inline]
    pub(crate) fn held_by(mode: Mode, holder: Holder) -> Self {
        EntryState {
            mode,
            holders: smallvec![holder],
            queue: None,
        }
    }

    /// An idle entry taken into use again, now held by `holder` in `mode`.
    #[inline]
    pub(crate) fn hold_again(&mut self, mode: Mode, holder: Holder) {
        debug_assert!(self.is_idle(), "only an idle entry is reused");
        self.mode = mode;
        self.holders.push(holder);
    }

    /// No holder and no waiter: the shard removes such an entry.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.holders.is_empty() && self.queue.is_none()
    }

    /// Whether it is held exclusively, and by how many owners shared.
    pub(crate) fn inspect(&self) -> (bool, usize) {
        match (self.holders.len(), self.mode) {
            (0, _) => (false, 0),
            (_, Mode::Exclusive) => (true, 0),
            (n, Mode::Shared) => (false, n),
        }
    }

    /// The holders' session ids (0 for session-less ones), oldest first.
    pub(crate) fn owners(&self) -> impl Iterator<Item = u64> + '_ {
        self.holders.iter().map(|h| h.owner)
    }

    pub(crate) fn holder_count(&self) -> usize {
        self.holders.len()
    }

    pub(crate) fn waiter_count(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.len())
    }

    pub(crate) fn has_waiters(&self) -> bool {
        self.queue.is_some()
    }

    /// Grants `mode` to `owner` if compatible and, for shared, if fewer than `limit` hold it. An
    /// owner that already holds the name in `mode` rejoins (one more reference, same token). With
    /// `fifo`, queued requests block newcomers: any of them blocks an exclusive request, and a
    /// queued exclusive one blocks shared requests (so writers are not starved; shared waiters
    /// queued only for their own limit do not hold back others). `issue` makes a new holding's
    /// [`Holder`] (token and timestamp) for an owner.
    #[inline]
    pub(crate) fn try_grant(
        &mut self,
        mode: Mode,
        owner: u64,
        fifo: bool,
        limit: usize,
        issue: &mut impl FnMut(u64) -> Holder,
    ) -> Result<Grant, Contention> {
        let held = !self.holders.is_empty();
        if owner != 0 && held && self.mode == mode {
            let n = self.holders.len();
            if let Some(h) = self.holders.iter_mut().find(|h| h.owner == owner) {
                h.refs += 1;
                return Ok(Grant {
                    token: h.token,
                    count: n,
                });
            }
        }
        if fifo {
            if let Some(q) = &self.queue {
                if mode == Mode::Exclusive || q.iter().any(|w| w.mode == Mode::Exclusive) {
                    return Err(Contention::Queued(q.len()));
                }
            }
        }
        match (held, self.mode, mode) {
            (true, Mode::Shared, Mode::Shared) if self.holders.len() >= limit.max(1) => {
                Err(Contention::AtLimit(self.holders.len()))
            }
            (false, _, _) | (true, Mode::Shared, Mode::Shared) => {
                let h = issue(owner);
                self.mode = mode;
                self.holders.push(h);
                Ok(Grant {
                    token: h.token,
                    count: self.holders.len(),
                })
            }
            (true, Mode::Shared, Mode::Exclusive) => {
                Err(Contention::HeldShared(self.holders.len()))
            }
            (true, Mode::Exclusive, _) => Err(Contention::HeldExclusive),
        }
    }

    /// Appends `waiter` to the queue (after a `try_grant` with `fifo` failed).
    pub(crate) fn enqueue(&mut self, waiter: Arc<Waiter>) {
        self.queue
            .get_or_insert_with(Default::default)
            .push_back(waiter);
    }

    /// Takes a pending `waiter` out of the queue; false if it is not queued here.
    pub(crate) fn dequeue(&mut self, waiter: &Arc<Waiter>) -> bool {
        let Some(queue) = self.queue.as_mut() else {
            return false;
        };
        let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) else {
            return false;
        };
        queue.remove(at);
        if queue.is_empty() {
            self.queue = None;
        }
        true
    }

    /// Drops references of the holding with `token`; returns those left, `None` if not held.
    #[inline]
    pub(crate) fn drop_ref(&mut self, token: u64, how: Release) -> Option<u64> {
        let at = self.holders.iter().position(|h| h.token == token)?;
        let h = &mut self.holders[at];
        match how {
            Release::One | Release::Unclaimed => h.refs -= 1,
            Release::All | Release::Orphan => h.refs = 0,
        }
        let left = h.refs;
        if left == 0 {
            // `remove`, not `swap_remove`: shared holders stay in acquisition order.
            self.holders.remove(at);
        }
        Some(left)
    }

    /// Hands the lock to queued waiters, oldest first, resolving each one granted and collecting
    /// its waker in `wake` (to be woken once the shard lock is released). An exclusive waiter that
    /// cannot be granted stops the pass (nobody overtakes it), so consecutive shared waiters are
    /// granted together and writers are not starved. A shared waiter held back only by its own
    /// holder limit is passed over, so the oldest *eligible* waiter is served.
    pub(crate) fn grant_waiters(
        &mut self,
        issue: &mut impl FnMut(u64) -> Holder,
        wake: &mut Vec<Waker>,
    ) {
        let mut at = 0;
        while let Some(w) = self.queue.as_ref().and_then(|q| q.get(at)) {
            let (mode, owner, limit) = (w.mode, w.owner, w.limit);
            match self.try_grant(mode, owner, false, limit, issue) {
                Ok(g) => {
                    let queue = self.queue.as_mut().expect("waiter exists");
                    let waiter = queue.remove(at).expect("waiter exists");
                    if queue.is_empty() {
                        self.queue = None;
                    }
                    let granted = Outcome::Granted {
                        token: g.token,
                        count: g.count,
                    };
                    wake.extend(waiter.resolve(granted));
                }
                Err(Contention::AtLimit(_)) => at += 1,
                Err(_) => break,
            }
        }
    }

    /// This entry as a snapshot reports it; `wall` turns a `since_us` into wall-clock time.
    pub(crate) fn info(&self, name: &Name, wall: impl Fn(u64) -> SystemTime) -> LockInfo {
        let waiters: Vec<_> = self
            .queue
            .iter()
            .flat_map(|q| q.iter())
            .map(|w| WaiterInfo {
                session: (w.owner != 0).then_some(w.owner),
                mode: w.mode,
            })
            .collect();
        let shared_waiters = waiters.iter().filter(|w| w.mode == Mode::Shared).count();
        let exclusive_waiters = waiters.len() - shared_waiters;
        LockInfo {
            name: name.to_arc(),
            mode: self.mode,
            holders: self
                .holders
                .iter()
                .map(|h| HolderInfo {
                    session: (h.owner != 0).then_some(h.owner),
                    session_name: None,
                    token: h.token,
                    since: wall(h.since_us),
                    refs: h.refs,
                })
                .collect(),
            exclusive_waiters,
            shared_waiters,
            waiters,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use Mode::{Exclusive as X, Shared as S};

    /// Issues tokens 100, 101, … as the shard's counter would.
    fn tokens() -> impl FnMut(u64) -> Holder {
        let mut next = 100;
        move |owner| {
            next += 1;
            Holder {
                owner,
                token: next - 1,
                since_us: 0,
                refs: 1,
            }
        }
    }

    const ANY: usize = usize::MAX;

    fn entry(mode: Mode, owner: u64, issue: &mut impl FnMut(u64) -> Holder) -> EntryState {
        EntryState::held_by(mode, issue(owner))
    }

    fn queue(e: &mut EntryState, mode: Mode, owner: u64, limit: usize) -> Arc<Waiter> {
        let w = Arc::new(Waiter::new(mode, owner, limit));
        e.enqueue(w.clone());
        w
    }

    /// Releases `token`'s holding and hands the name on; returns the references left.
    fn release(
        e: &mut EntryState,
        token: u64,
        how: Release,
        issue: &mut impl FnMut(u64) -> Holder,
    ) -> Option<u64> {
        let left = e.drop_ref(token, how);
        if left == Some(0) {
            e.grant_waiters(issue, &mut Vec::new());
        }
        left
    }

    fn granted(w: &Waiter) -> Option<(u64, usize)> {
        match w.outcome() {
            Outcome::Granted { token, count } => Some((token, count)),
            _ => None,
        }
    }

    #[test]
    fn exclusive_excludes_everyone_and_shared_counts_its_holders() {
        let mut issue = tokens();
        let mut e = entry(X, 0, &mut issue);
        assert_eq!(e.inspect(), (true, 0));
        assert_eq!(
            e.try_grant(X, 0, true, ANY, &mut issue),
            Err(Contention::HeldExclusive)
        );
        assert_eq!(
            e.try_grant(S, 0, true, ANY, &mut issue),
            Err(Contention::HeldExclusive)
        );
        assert_eq!(release(&mut e, 100, Release::One, &mut issue), Some(0));
        assert!(e.is_idle());

        e.hold_again(S, issue(0));
        let second = e.try_grant(S, 7, true, ANY, &mut issue).unwrap();
        assert_eq!(
            (second.count, second.token, e.inspect()),
            (2, 102, (false, 2))
        );
        assert_eq!(
            e.try_grant(X, 0, true, ANY, &mut issue),
            Err(Contention::HeldShared(2))
        );
    }

    #[test]
    fn tokens_are_new_per_holding_and_kept_by_a_rejoin() {
        let mut issue = tokens();
        let mut e = entry(X, 5, &mut issue);
        let again = e.try_grant(X, 5, true, ANY, &mut issue).unwrap();
        assert_eq!(
            again,
            Grant {
                token: 100,
                count: 1,
            }
        );
        // Two references: the first release leaves the holding.
        assert_eq!(release(&mut e, 100, Release::One, &mut issue), Some(1));
        assert_eq!(e.inspect(), (true, 0));
        assert_eq!(release(&mut e, 100, Release::One, &mut issue), Some(0));
        // A session-less owner (0) never rejoins.
        e.hold_again(X, issue(0));
        assert_eq!(
            e.try_grant(X, 0, true, ANY, &mut issue),
            Err(Contention::HeldExclusive)
        );
        assert_eq!(e.drop_ref(999, Release::One), None, "no such holding");
        assert_eq!(e.drop_ref(101, Release::All), Some(0));
    }

    #[test]
    fn the_holder_limit_counts_distinct_owners_and_a_rejoin_passes_it() {
        let mut issue = tokens();
        let mut e = entry(S, 1, &mut issue);
        e.try_grant(S, 2, true, 2, &mut issue).unwrap();
        assert_eq!(
            e.try_grant(S, 3, true, 2, &mut issue),
            Err(Contention::AtLimit(2))
        );
        let rejoin = e.try_grant(S, 2, true, 2, &mut issue).unwrap();
        assert_eq!((rejoin.count, rejoin.token), (2, 101), "same token");
        // A limit of 0 counts as 1.
        let mut lone = entry(S, 1, &mut issue);
        assert_eq!(
            lone.try_grant(S, 2, true, 0, &mut issue),
            Err(Contention::AtLimit(1))
        );
    }

    #[test]
    fn waiters_are_granted_in_arrival_order_on_release() {
        let mut issue = tokens();
        let mut e = entry(X, 0, &mut issue);
        let first = queue(&mut e, X, 1, ANY);
        let second = queue(&mut e, X, 2, ANY);
        assert_eq!(e.waiter_count(), 2);
        release(&mut e, 100, Release::One, &mut issue);
        assert_eq!(granted(&first), Some((101, 1)), "handed over at once");
        assert_eq!(granted(&second), None);
        release(&mut e, 101, Release::One, &mut issue);
        assert_eq!(granted(&second), Some((102, 1)));
        assert!(!e.has_waiters());
        release(&mut e, 102, Release::One, &mut issue);
        assert!(e.is_idle());
    }

    #[test]
    fn newcomers_do_not_overtake_a_queued_request_that_they_would_block() {
        let mut issue = tokens();
        let mut e = entry(S, 1, &mut issue);
        let writer = queue(&mut e, X, 2, ANY);
        // A shared newcomer would join the shared holder, but the queued writer is first.
        assert_eq!(
            e.try_grant(S, 3, true, ANY, &mut issue),
            Err(Contention::Queued(1))
        );
        // The waiting form of the same request (no fifo check) is how the queue is served.
        let reader = queue(&mut e, S, 3, ANY);
        release(&mut e, 100, Release::One, &mut issue);
        assert_eq!(granted(&writer), Some((101, 1)));
        assert_eq!(granted(&reader), None, "queued behind the writer");
        release(&mut e, 101, Release::One, &mut issue);
        assert_eq!(granted(&reader), Some((102, 1)));
    }

    #[test]
    fn consecutive_shared_waiters_are_granted_together_up_to_an_exclusive_one() {
        let mut issue = tokens();
        let mut e = entry(X, 0, &mut issue);
        let r1 = queue(&mut e, S, 1, ANY);
        let r2 = queue(&mut e, S, 2, ANY);
        let w = queue(&mut e, X, 3, ANY);
        let r3 = queue(&mut e, S, 4, ANY);
        release(&mut e, 100, Release::One, &mut issue);
        assert_eq!(
            (granted(&r1), granted(&r2)),
            (Some((101, 1)), Some((102, 2)))
        );
        assert_eq!((granted(&w), granted(&r3)), (None, None));
        assert_eq!(e.waiter_count(), 2);
    }

    #[test]
    fn a_waiter_held_back_by_its_own_limit_does_not_hold_back_the_others() {
        let mut issue = tokens();
        let mut e = entry(X, 0, &mut issue);
        let one = queue(&mut e, S, 1, 1);
        let also_one = queue(&mut e, S, 2, 1);
        let many = queue(&mut e, S, 3, ANY);
        release(&mut e, 100, Release::One, &mut issue);
        assert_eq!(granted(&one), Some((101, 1)));
        assert_eq!(granted(&also_one), None, "its limit is met");
        assert_eq!(granted(&many), Some((102, 2)), "passed the limited one");
        release(&mut e, 101, Release::One, &mut issue);
        assert_eq!(granted(&also_one), None, "still 1 holder");
        release(&mut e, 102, Release::One, &mut issue);
        assert_eq!(granted(&also_one), Some((103, 1)));
    }

    #[test]
    fn a_dequeued_waiter_leaves_no_trace_and_the_last_one_leaves_the_entry_idle() {
        let mut issue = tokens();
        let mut e = entry(X, 0, &mut issue);
        let w = queue(&mut e, X, 1, ANY);
        let other = Arc::new(Waiter::new(X, 2, ANY));
        assert!(!e.dequeue(&other), "not queued here");
        assert!(e.dequeue(&w));
        assert!(!e.has_waiters());
        release(&mut e, 100, Release::One, &mut issue);
        assert_eq!(
            w.outcome(),
            Outcome::Pending,
            "a dequeued waiter is never granted"
        );
        assert!(e.is_idle());
        // A waiter left alone in the queue of a free name is not idle until it leaves.
        let mut q = entry(X, 0, &mut issue);
        let only = queue(&mut q, X, 1, ANY);
        assert_eq!(q.drop_ref(101, Release::Orphan), Some(0));
        assert!(!q.is_idle());
        assert!(q.dequeue(&only) && q.is_idle());
    }

    #[test]
    fn info_lists_holders_in_order_and_counts_waiters_by_mode() {
        let mut issue = tokens();
        let mut e = entry(S, 0, &mut issue);
        e.try_grant(S, 9, true, ANY, &mut issue).unwrap();
        queue(&mut e, X, 4, ANY);
        queue(&mut e, S, 0, ANY);
        let info = e.info(Name::new("n"), |_| SystemTime::UNIX_EPOCH);
        let sessions: Vec<_> = info.holders.iter().map(|h| h.session).collect();
        assert_eq!(sessions, [None, Some(9)]);
        assert_eq!((info.exclusive_waiters, info.shared_waiters), (1, 1));
        assert_eq!(info.waiters[0].session, Some(4));
        assert_eq!(e.owners().collect::<Vec<_>>(), [0, 9]);
    }
}
