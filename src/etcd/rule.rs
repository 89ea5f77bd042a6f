//! The grant rule of the etcd recipe, pure: given a name's request keys in `create_revision`
//! order, who holds the lock, who waits, and what a waiter must watch. It is the core's rule
//! (`src/lock/table/entry.rs`) restated over keys: exclusive is granted when nothing is ahead of
//! it; shared when nothing exclusive and nothing blocked is ahead (no overtaking) and fewer than
//! its limit are granted ahead. Keys are only ever appended (a newer revision) or deleted, so a
//! key once granted stays granted until it is deleted.

use crate::lock::{Contention, Mode};

/// One request key of a name, as read from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The key's `create_revision`: its place in the FIFO order and, once granted, its token.
    pub(crate) revision: i64,
    pub(crate) mode: Mode,
    /// For shared requests, the most holders it joins (`usize::MAX`: no limit).
    pub(crate) limit: usize,
}

/// What the rule says of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Granted; `count` is the distinct holders up to and including it (1 for exclusive).
    Granted { count: usize },
    /// Not granted: why (as a try reports it), and what to watch before evaluating again.
    Blocked { why: Contention, watch: Watch },
}

/// What a blocked request waits for: its status can change only when this happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watch {
    /// The deletion of the key with this `create_revision` (the key just ahead of an exclusive
    /// request, or the last exclusive request ahead of a shared one).
    Delete(i64),
    /// Any deletion among the name's keys: a shared request blocked only by holder limits, which
    /// any release of a holder ahead may lift.
    AnyDelete,
}

/// Every request's verdict, in order (`requests` sorted by revision).
pub(crate) fn evaluate(requests: &[Request]) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(requests.len());
    // Of the requests ahead: how many are granted, whether any is blocked, the last exclusive.
    let mut granted = 0usize;
    let mut held_exclusive = false;
    let mut blocked_ahead = 0usize;
    let mut last_exclusive: Option<i64> = None;
    for (i, r) in requests.iter().enumerate() {
        let verdict = match r.mode {
            Mode::Exclusive if i == 0 => Verdict::Granted { count: 1 },
            Mode::Exclusive => Verdict::Blocked {
                why: contention(held_exclusive, granted, blocked_ahead),
                watch: Watch::Delete(requests[i - 1].revision),
            },
            Mode::Shared => match last_exclusive {
                Some(e) => Verdict::Blocked {
                    why: contention(held_exclusive, granted, blocked_ahead),
                    watch: Watch::Delete(e),
                },
                None if blocked_ahead > 0 => Verdict::Blocked {
                    why: Contention::Queued(blocked_ahead),
                    watch: Watch::AnyDelete,
                },
                None if granted >= r.limit.max(1) => Verdict::Blocked {
                    why: Contention::AtLimit(granted),
                    watch: Watch::AnyDelete,
                },
                None => Verdict::Granted { count: granted + 1 },
            },
        };
        match (&verdict, r.mode) {
            (Verdict::Granted { .. }, mode) => {
                granted += 1;
                held_exclusive = mode == Mode::Exclusive;
            }
            (Verdict::Blocked { .. }, _) => blocked_ahead += 1,
        }
        if r.mode == Mode::Exclusive {
            last_exclusive = Some(r.revision);
        }
        out.push(verdict);
    }
    out
}

/// Why a request that has others ahead is refused, as the core reports it: a holder first,
/// then the queue.
fn contention(held_exclusive: bool, granted: usize, blocked_ahead: usize) -> Contention {
    if held_exclusive {
        Contention::HeldExclusive
    } else if granted > 0 {
        Contention::HeldShared(granted)
    } else {
        Contention::Queued(blocked_ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(revision: i64) -> Request {
        Request {
            revision,
            mode: Mode::Exclusive,
            limit: 1,
        }
    }

    fn s(revision: i64, limit: usize) -> Request {
        Request {
            revision,
            mode: Mode::Shared,
            limit,
        }
    }

    fn granted(v: &[Verdict]) -> Vec<Option<usize>> {
        v.iter()
            .map(|v| match v {
                Verdict::Granted { count } => Some(*count),
                Verdict::Blocked { .. } => None,
            })
            .collect()
    }

    #[test]
    fn exclusive_first_in_line_only() {
        let v = evaluate(&[x(5), x(9), x(12)]);
        assert_eq!(granted(&v), [Some(1), None, None]);
        assert_eq!(
            v[1],
            Verdict::Blocked {
                why: Contention::HeldExclusive,
                watch: Watch::Delete(5)
            }
        );
        // Each waiter watches only the key just ahead of it: no herd.
        assert_eq!(
            v[2],
            Verdict::Blocked {
                why: Contention::HeldExclusive,
                watch: Watch::Delete(9)
            }
        );
    }

    #[test]
    fn shared_holders_count_in_order_and_exclusive_waits_for_all() {
        let v = evaluate(&[s(1, usize::MAX), s(2, usize::MAX), s(3, usize::MAX), x(4)]);
        assert_eq!(granted(&v), [Some(1), Some(2), Some(3), None]);
        assert_eq!(
            v[3],
            Verdict::Blocked {
                why: Contention::HeldShared(3),
                watch: Watch::Delete(3)
            }
        );
    }

    #[test]
    fn no_overtaking_a_queued_exclusive() {
        // A shared request behind a queued exclusive one waits, though the holders are shared.
        let v = evaluate(&[s(1, usize::MAX), x(2), s(3, usize::MAX)]);
        assert_eq!(granted(&v), [Some(1), None, None]);
        assert_eq!(
            v[2],
            Verdict::Blocked {
                why: Contention::HeldShared(1),
                watch: Watch::Delete(2)
            }
        );
    }

    #[test]
    fn holder_limits_and_no_overtaking_a_limited_request() {
        let v = evaluate(&[s(1, 9), s(2, 9), s(3, 2), s(4, 9)]);
        // The third joins only while fewer than 2 hold; the fourth may not overtake it.
        assert_eq!(granted(&v), [Some(1), Some(2), None, None]);
        assert_eq!(
            v[2],
            Verdict::Blocked {
                why: Contention::AtLimit(2),
                watch: Watch::AnyDelete
            }
        );
        assert_eq!(
            v[3],
            Verdict::Blocked {
                why: Contention::Queued(1),
                watch: Watch::AnyDelete
            }
        );
        // One holder leaves: the limited request joins, and the one behind it too.
        let v = evaluate(&[s(2, 9), s(3, 2), s(4, 9)]);
        assert_eq!(granted(&v), [Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn a_limit_of_zero_counts_as_one() {
        let v = evaluate(&[s(1, 0)]);
        assert_eq!(granted(&v), [Some(1)]);
        let v = evaluate(&[s(1, 5), s(2, 0)]);
        assert_eq!(granted(&v), [Some(1), None]);
    }

    #[test]
    fn grants_are_monotone_under_deletes() {
        // Removing any key never takes a grant away from a key that had one.
        let keys = [s(1, 3), x(2), s(3, 9), s(4, 2), x(5), s(6, 9), s(7, 1)];
        for mask in 0u32..(1 << keys.len()) {
            let kept: Vec<Request> = keys
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, r)| r.clone())
                .collect();
            let before = granted(&evaluate(&kept));
            for drop in 0..kept.len() {
                let mut fewer = kept.clone();
                fewer.remove(drop);
                let after = granted(&evaluate(&fewer));
                let mut j = 0;
                for (i, was) in before.iter().enumerate() {
                    if i == drop {
                        continue;
                    }
                    assert!(
                        was.is_none() || after[j].is_some(),
                        "{kept:?} minus {drop}: key {i} lost its grant"
                    );
                    j += 1;
                }
            }
        }
    }
}
