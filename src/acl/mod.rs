//! One permission model for the frontends: an ACL of tokens, each with the lock names it may
//! touch (prefixes; `*` is every name) and what it may do with them (`lock`, `read`, `admin`).
//! Read from a TOML file (`file.rs`); secrets are compared in constant time and never shown
//! (`Debug` prints them redacted).
//!
//! ```
//! let acl = lockd::acl::Acl::from_toml(r#"
//!     [[token]]
//!     user = "jobs"
//!     secret = "s3cret-jobs"
//!     names = ["jobs/"]
//!     allow = ["lock", "read"]
//! "#).unwrap();
//! let grant = acl.authenticate(Some(b"jobs"), b"s3cret-jobs").unwrap();
//! assert!(grant.permits(lockd::acl::Permission::Lock, b"jobs/nightly"));
//! assert!(!grant.permits(lockd::acl::Permission::Lock, b"billing/run"));
//! assert!(acl.authenticate(None, b"wrong").is_none());
//! ```

mod file;

use std::sync::Arc;

pub use file::AclError;

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
    user: Option<Vec<u8>>,
    secret: Vec<u8>,
    /// Name prefixes; an empty prefix (`*`) covers every name.
    names: Vec<Vec<u8>>,
    lock: bool,
    read: bool,
    admin: bool,
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

/// The tokens a server accepts. Giving one to a server turns authentication on.
#[derive(Debug, Clone)]
pub struct Acl {
    tokens: Arc<[Grant]>,
}

impl Acl {
    /// The token that `secret` (and `user`, if given) authenticates, if any. Every token's
    /// secret is compared, in constant time each, whichever matches.
    pub fn authenticate(&self, user: Option<&[u8]>, secret: &[u8]) -> Option<&Grant> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for grant in self.tokens.iter() {
            let secret_ok = bool::from(grant.secret.as_slice().ct_eq(secret));
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
