//! Which connections' peers have gone (closed or reset) before their own task has noticed.
//!
//! The kernel learns of a peer's FIN or RST at once, but the connection's task runs only when
//! the event loop gets to it: a request from another connection can come first and see a lock
//! still held by a client that has already left. [`Hangups`] is a second epoll instance with
//! every connection's socket registered for `EPOLLRDHUP` (peer closed its side), `EPOLLHUP` and
//! `EPOLLERR` (reset, keepalive failure), level-triggered, tagged with the session id. A request
//! whose answer depends on other holders asks it once, with one non-blocking `epoll_wait`: the
//! cost is O(1) when nobody has gone, whatever the number of holders, and the result is the
//! kernel's own state rather than a guess about which task ran first.
//!
//! Elsewhere than Linux it reports nothing (each connection then notices its own end).

/// A socket descriptor (`RawFd` on Unix).
pub(crate) type RawFd = i32;

/// A reported hang-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hangup {
    /// The connection's session id.
    pub(crate) session: u64,
    /// The socket was reset or failed (`EPOLLERR`/`EPOLLHUP`), so no more input can come.
    pub(crate) failed: bool,
}

#[cfg(target_os = "linux")]
pub(crate) use linux::Hangups;

#[cfg(target_os = "linux")]
mod linux {
    use super::{Hangup, RawFd};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// Most events taken per `epoll_wait` call; more are taken by calling again.
    const BATCH: usize = 64;

    /// The hang-up monitor (see the module docs).
    #[derive(Debug)]
    pub(crate) struct Hangups {
        epoll: Option<OwnedFd>,
    }

    impl Hangups {
        /// A monitor; if the kernel refuses an epoll instance it monitors nothing.
        pub(crate) fn new() -> Hangups {
            // SAFETY: `epoll_create1` takes no pointers; a non-negative result is a new
            // descriptor that nothing else owns.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            let epoll = (fd >= 0).then(|| {
                // SAFETY: `fd` was just returned by `epoll_create1` and is owned by no one else.
                unsafe { OwnedFd::from_raw_fd(fd) }
            });
            if epoll.is_none() {
                tracing::warn!(error = %io::Error::last_os_error(), "no hang-up monitor");
            }
            Hangups { epoll }
        }

        /// Watches the socket `fd` of `session`'s connection.
        pub(crate) fn watch(&self, fd: RawFd, session: u64) {
            let Some(epoll) = &self.epoll else { return };
            let mut event = libc::epoll_event {
                events: (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32,
                u64: session,
            };
            // SAFETY: `epoll` is our epoll descriptor, `fd` an open socket of a live
            // connection, and `event` a valid `epoll_event` for the duration of the call.
            let r =
                unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
            if r != 0 {
                tracing::debug!(error = %io::Error::last_os_error(), session, "not watched");
            }
        }

        /// Stops watching `fd` (its connection ended; closing it would also do that).
        pub(crate) fn unwatch(&self, fd: RawFd) {
            let Some(epoll) = &self.epoll else { return };
            let mut unused = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: as in `watch`; a descriptor that is not registered only gets ENOENT.
            unsafe {
                libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut unused);
            }
        }

        /// The watched connections whose peer has closed or reset, now; never blocks.
        pub(crate) fn gone(&self) -> Vec<Hangup> {
            let mut found = Vec::new();
            let Some(epoll) = &self.epoll else {
                return found;
            };
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
            loop {
                // SAFETY: `events` is a writable array of `BATCH` entries; timeout 0 returns
                // at once.
                let n = unsafe {
                    libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, 0)
                };
                let Ok(n) = usize::try_from(n) else {
                    return found; // EINTR and the like: report what we have
                };
                for event in &events[..n] {
                    let bits = event.events;
                    found.push(Hangup {
                        session: event.u64,
                        failed: bits & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0,
                    });
                }
                if n < BATCH || found.len() >= 1 << 16 {
                    return found;
                }
            }
        }
    }

    /// Bytes received on socket `fd` and not read yet (0 when it cannot tell).
    pub(crate) fn unread(fd: RawFd) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: `fd` is an open socket (the caller's connection is registered, so not closed
        // yet) and `n` a valid `c_int` for FIONREAD to fill.
        let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
        if r == 0 { n.max(0) as usize } else { 0 }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::unread;

/// The hang-up monitor where there is no epoll: it reports nothing.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub(crate) struct Hangups;

#[cfg(not(target_os = "linux"))]
impl Hangups {
    pub(crate) fn new() -> Hangups {
        Hangups
    }
    pub(crate) fn watch(&self, _fd: RawFd, _session: u64) {}
    pub(crate) fn unwatch(&self, _fd: RawFd) {}
    pub(crate) fn gone(&self) -> Vec<Hangup> {
        Vec::new()
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unread(_fd: RawFd) -> usize {
    0
}
