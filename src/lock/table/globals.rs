//! What every shard of one table shares: the name hasher, the clock behind "held since", and the
//! fencing-token counter; and [`Key`], a name with its hash.

use std::hash::{BuildHasher, Hasher as _};

use super::entry::Holder;
use crate::lock::clock::Clock;
use crate::lock::name::Name;
use crate::lock::sync::{AtomicU64, Ordering};

/// A name together with its hash, computed once per request.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) name: &'a Name,
    pub(crate) hash: u64,
}

/// Keeps the token counter on a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// Name hashing: randomly seeded per table, except under loom, whose models must replay the
/// same shard choices in every execution.
#[cfg(not(loom))]
type Hasher = foldhash::fast::RandomState;
#[cfg(loom)]
type Hasher = foldhash::fast::FixedState;

/// What every shard needs besides its own state; read-only except the token counter.
pub(crate) struct Globals {
    hasher: Hasher,
    pub(crate) clock: Clock,
    next_token: Padded<AtomicU64>,
}

impl Globals {
    pub(crate) fn new(first_token: u64) -> Self {
        Globals {
            hasher: Hasher::default(),
            clock: Clock::new(),
            next_token: Padded(AtomicU64::new(first_token.max(1))),
        }
    }

    /// The next token that will be issued (every issued token is below it).
    pub(crate) fn peek_token(&self) -> u64 {
        self.next_token.0.load(Ordering::Relaxed)
    }

    /// `name` with its hash.
    #[inline]
    pub(crate) fn key<'a>(&self, name: &'a Name) -> Key<'a> {
        Key {
            name,
            hash: self.hash(name),
        }
    }

    #[inline]
    pub(crate) fn new_holder(&self, owner: u64) -> Holder {
        Holder {
            owner,
            // Relaxed is enough: the counter's modification order alone makes tokens unique and
            // increasing along every happens-before chain.
            token: self.next_token.0.fetch_add(1, Ordering::Relaxed),
            since_us: self.clock.now_us(),
            refs: 1,
        }
    }

    /// The name's bytes, hashed in one call (no length prefix: each hash covers one whole name).
    #[inline]
    pub(crate) fn hash(&self, name: &Name) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(name.as_bytes());
        h.finish()
    }
}
