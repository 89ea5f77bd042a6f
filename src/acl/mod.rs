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
mod tokens;

pub use file::AclError;
#[doc(hidden)]
pub use tokens::fuzz_acl_file;
pub use tokens::{Acl, Grant, Permission};
