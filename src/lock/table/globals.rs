//! What every shard of one table shares: the name hasher, the clock behind "held since", and
//! where the shards' token counters start; and [`Key`], a name with its hash.

use std::hash::{BuildHasher, Hasher as _};

use super::entry::Holder;
use crate::lock::clock::Clock;
use crate::lock::name::Name;

/// A name together with its hash, computed once per request.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) name: &'a Name,
    pub(crate) hash: u64,
}

/// Name hashing: randomly seeded per table, except under loom, whose models must replay the
/// same shard choices in every execution.
#[cfg(not(loom))]
type Hasher = foldhash::fast::RandomState;
#[cfg(loom)]
type Hasher = foldhash::fast::FixedState;

/// What every shard needs besides its own state; read-only (each shard counts its own tokens,
/// I12). Read by every operation of every thread, so it has cache lines of its own: a small
/// allocation next to it (an entry another thread writes) would otherwise make every thread's
/// reads miss.
#[repr(align(128))]
pub(crate) struct Globals {
    hasher: Hasher,
    pub(crate) clock: Clock,
    /// Where every shard's token counter starts.
    pub(crate) first_token: u64,
}

impl Globals {
    pub(crate) fn new(first_token: u64) -> Self {
        Globals {
            hasher: Hasher::default(),
            clock: Clock::new(),
            first_token: first_token.max(1),
        }
    }

    /// `name` with its hash.
    #[inline]
    pub(crate) fn key<'a>(&self, name: &'a Name) -> Key<'a> {
        Key {
            name,
            hash: self.hash(name),
        }
    }

    /// What makes new holdings under a shard lock: each takes the next token of the shard's
    /// counter `next` (I12) and is held from now.
    #[inline]
    pub(crate) fn issuer<'a>(&'a self, next: &'a mut u64) -> impl FnMut(u64) -> Holder + 'a {
        move |owner| {
            let token = *next;
            *next += 1;
            self.new_holder(owner, token)
        }
    }

    /// A new holding for `owner` with `token` (from its shard's counter), held from now.
    #[inline]
    pub(crate) fn new_holder(&self, owner: u64, token: u64) -> Holder {
        Holder {
            owner,
            token,
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
