//! Compile-time checks that public types are `Send`/`Sync` as documented, and that the waiting
//! futures can be spawned on a multi-threaded runtime. If this file compiles, the test passes.

use std::future::Future;

use lockd::{
    Builder, Contention, Error, ExclusiveGuard, HolderInfo, LockInfo, LockManager, Mode, Session,
    SharedGuard, Snapshot, Stats,
};

fn send_sync<T: Send + Sync + ?Sized>() {}
fn send_future<F: Future + Send>(_: F) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<LockManager>();
    send_sync::<Session>();
    send_sync::<ExclusiveGuard>();
    send_sync::<SharedGuard>();
    send_sync::<Error>();
    send_sync::<Contention>();
    send_sync::<Mode>();
    send_sync::<Builder>();
    send_sync::<Snapshot>();
    send_sync::<LockInfo>();
    send_sync::<HolderInfo>();
    send_sync::<lockd::WaiterInfo>();
    send_sync::<Stats>();
    send_sync::<lockd::Name>();
}

#[test]
#[allow(clippy::unnecessary_to_owned)] // owned names are the point: the future owns them
fn waiting_futures_are_send() {
    let mgr = LockManager::new();
    let s = mgr.session();
    send_future(mgr.lock("a"));
    send_future(mgr.lock_shared("a"));
    send_future(mgr.lock_timeout("a", std::time::Duration::ZERO));
    send_future(mgr.lock_shared_timeout("a", std::time::Duration::ZERO));
    send_future(s.lock("a"));
    send_future(s.lock_shared(String::from("a")));
    send_future(s.lock_timeout(b"a".to_vec(), std::time::Duration::ZERO));
    send_future(s.lock_shared_timeout("a", std::time::Duration::ZERO));
}

#[test]
fn error_is_a_std_error() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();
}
