//! The ACL's tokens and what each permits, and how a secret is checked against them.

use std::sync::Arc;

/// What a token may do with the names it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Take, wait for and release locks (`g r sg sr gw sgw`), and register a name (`iam`).
    Lock,
    /// See locks and holders (`i si d sd dump who`).
    Read,
    /// The server's statistics (`q`).
    Admin,
}

/// One token of the ACL: who authenticates with it, and what it permits.
#[derive(Clone)]
pub struct Grant {
    /// Its place in the ACL (from 0): who owns what it made (a Consul session).
    pub(super) id: usize,
    pub(super) user: Option<Vec<u8>>,
    pub(super) secret: Vec<u8>,
    /// Name prefixes; an empty prefix (`*`) covers every name.
    pub(super) names: Vec<Vec<u8>>,
    pub(super) lock: bool,
    pub(super) read: bool,
    pub(super) admin: bool,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("user", &self.user.as_deref().map(String::from_utf8_lossy))
            .field("secret", &"<redacted>")
            .field(
                "names",
                &self
                    .names
                    .iter()
                    .map(|n| String::from_utf8_lossy(n))
                    .collect::<Vec<_>>(),
            )
            .field("lock", &self.lock)
            .field("read", &self.read)
            .field("admin", &self.admin)
            .finish()
    }
}

impl Grant {
    /// The token's place in its ACL (from 0), which identifies it while the ACL lives.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Whether this token may do `what` with lock `name` (for [`Permission::Admin`] the name
    /// is not looked at).
    pub fn permits(&self, what: Permission, name: &[u8]) -> bool {
        let allowed = match what {
            Permission::Lock => self.lock,
            Permission::Read => self.read,
            Permission::Admin => return self.admin,
        };
        allowed && self.covers(name)
    }

    /// Whether `name` is among this token's names.
    pub fn covers(&self, name: &[u8]) -> bool {
        self.names.iter().any(|prefix| name.starts_with(prefix))
    }

    /// Whether it may do `what` at all (with some name).
    pub fn allows(&self, what: Permission) -> bool {
        match what {
            Permission::Lock => self.lock,
            Permission::Read => self.read,
            Permission::Admin => self.admin,
        }
    }
}

/// The longest secret accepted (`file.rs` refuses longer ones).
pub(super) const MAX_SECRET: usize = 256;

/// Whether `given` is `secret`, in a time that depends on neither's length nor content: both
/// are compared as zero-padded blocks of `MAX_SECRET` bytes, and their lengths in constant time.
fn same_secret(secret: &[u8], given: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let (mut a, mut b) = ([0u8; MAX_SECRET], [0u8; MAX_SECRET]);
    let s = &secret[..secret.len().min(MAX_SECRET)];
    let g = &given[..given.len().min(MAX_SECRET)];
    a[..s.len()].copy_from_slice(s);
    b[..g.len()].copy_from_slice(g);
    let lengths = (secret.len() as u64).ct_eq(&(given.len() as u64));
    bool::from(a.ct_eq(&b) & lengths)
}

/// The tokens a server accepts. Giving one to a server turns authentication on.
#[derive(Debug, Clone)]
pub struct Acl {
    pub(super) tokens: Arc<[Grant]>,
}

impl Acl {
    /// The token that `secret` (and `user`, if given) authenticates, if any. Every token's
    /// secret is compared, in constant time each, whichever matches.
    pub fn authenticate(&self, user: Option<&[u8]>, secret: &[u8]) -> Option<&Grant> {
        let mut found = None;
        for grant in self.tokens.iter() {
            let secret_ok = same_secret(&grant.secret, secret);
            let user_ok = match user {
                None => true,
                Some(u) => grant.user.as_deref() == Some(u),
            };
            if secret_ok && user_ok && found.is_none() {
                found = Some(grant);
            }
        }
        found
    }

    /// How many tokens it has.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether it has none (then nobody can authenticate).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The fuzz target's body (also replayed over the committed corpus by `tests/fuzz_corpus.rs`):
/// any text is an ACL or a clear error, never a panic; a parsed ACL's first token authenticates
/// with its own secret and nothing is granted to an empty secret.
#[doc(hidden)]
pub fn fuzz_acl_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Acl::from_toml(text) {
        Ok(acl) => {
            assert!(
                acl.authenticate(None, b"").is_none(),
                "an empty secret never passes"
            );
            if let Some(first) = acl.tokens.first() {
                let found = acl
                    .authenticate(None, &first.secret)
                    .expect("its own secret");
                assert!(found.secret == first.secret);
                let _ = found.permits(Permission::Lock, b"x");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
