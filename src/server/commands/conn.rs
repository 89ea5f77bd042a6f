//! What every command family works on: one protocol connection's view of the server ([`Conn`]),
//! and how lockd's shared namespace maps onto core names.

use std::sync::Arc;

use crate::server::shared::Shared;
use crate::server::table::Table;

/// The first byte of core names in the lockd shared namespace.
pub const SHARED_NAMESPACE_PREFIX: u8 = b'\n';

pub(crate) fn shared_key(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.push(SHARED_NAMESPACE_PREFIX);
    key.extend_from_slice(name);
    key
}

/// One protocol connection's view of the server.
pub(crate) struct Conn<'a, T: Table> {
    pub(crate) session: &'a T::Session,
    pub(crate) id: &'a Arc<[u8]>,
    pub(crate) shared: &'a Shared<T>,
    pub(crate) auth: &'a AuthState,
}

/// One connection's authentication (see `auth.rs`).
#[derive(Default)]
pub(crate) struct AuthState {
    /// The token it authenticated with.
    pub(super) grant: crate::lock::sync::Mutex<Option<crate::acl::Grant>>,
    pub(super) failures: std::sync::atomic::AtomicU32,
    /// Set when it failed too often: the connection ends once its replies are sent.
    pub(crate) close: std::sync::atomic::AtomicBool,
}

/// A request found a lock held by someone else, and connections whose peers had already gone
/// were ended meanwhile (their locks released): it is to be applied again.
pub(crate) struct Again;
