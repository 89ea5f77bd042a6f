//! A holder whose network vanishes (no FIN, no reset: a real half-open connection) loses its
//! locks within the keepalive detection bound. The test builds two network namespaces joined by
//! a veth pair — the server in one, the client in the other, addresses only inside them — takes
//! a lock from the client, cuts the client's link, and waits in-process for the lock. Needs root
//! and `ip` (iproute2); elsewhere it says why it is skipped.
#![cfg(all(feature = "tcp-server", target_os = "linux"))]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use lockd::LockManager;
use lockd::server::{Config, KeepaliveProbes, Server};

const SERVER_IP: &str = "169.254.77.1";
const CLIENT_IP: &str = "169.254.77.2";

/// Two namespaces and a veth pair, removed on drop.
struct Net {
    server_ns: String,
    client_ns: String,
    client_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    fn new() -> Result<Net, String> {
        let tag = std::process::id() % 100_000;
        let net = Net {
            server_ns: format!("lockd-ka-s{tag}"),
            client_ns: format!("lockd-ka-c{tag}"),
            client_if: format!("lkc{tag}"),
        };
        let server_if = format!("lks{tag}");
        ip(&["netns", "add", &net.server_ns])?;
        ip(&["netns", "add", &net.client_ns])?;
        ip(&[
            "-n",
            &net.server_ns,
            "link",
            "add",
            &server_if,
            "type",
            "veth",
            "peer",
            "name",
            &net.client_if,
            "netns",
            &net.client_ns,
        ])?;
        ip(&[
            "-n",
            &net.server_ns,
            "addr",
            "add",
            &format!("{SERVER_IP}/30"),
            "dev",
            &server_if,
        ])?;
        ip(&[
            "-n",
            &net.client_ns,
            "addr",
            "add",
            &format!("{CLIENT_IP}/30"),
            "dev",
            &net.client_if,
        ])?;
        ip(&["-n", &net.server_ns, "link", "set", &server_if, "up"])?;
        ip(&["-n", &net.client_ns, "link", "set", &net.client_if, "up"])?;
        Ok(net)
    }

    /// Runs `f` on a thread that has entered namespace `ns` (sockets it makes belong there).
    fn inside<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
            // SAFETY: `file` is an open namespace file; setns changes only this thread.
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            if r != 0 {
                return Err(format!("setns: {}", std::io::Error::last_os_error()));
            }
            Ok(f())
        })
        .join()
        .map_err(|_| "the namespace thread panicked".to_string())?
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and so the pair.
        let _ = ip(&["netns", "del", &self.client_ns]);
        let _ = ip(&["netns", "del", &self.server_ns]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_holder_loses_its_locks_within_the_keepalive_bound() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making network namespaces needs root");
        return;
    }
    let net = match Net::new() {
        Ok(net) => net,
        Err(why) => {
            eprintln!("skipped: cannot make network namespaces here ({why})");
            return;
        }
    };
    let bound = Duration::from_secs(6);
    let probes = KeepaliveProbes::for_bound(bound);
    assert!(probes.detection_bound() <= bound, "{probes:?}");

    let mgr = LockManager::new();
    let server = Server::new(mgr.clone(), Config::default().keepalive(Some(bound)));
    let listener = Net::inside(&net.server_ns, || {
        TcpListener::bind((SERVER_IP, 0)).and_then(|l| l.set_nonblocking(true).map(|()| l))
    })
    .unwrap()
    .expect("binding the veth address inside the server namespace");
    let addr: SocketAddr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let server = std::sync::Arc::new(server);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending::<()>()).await });

    // The client, in its own namespace, takes the lock and keeps its socket open.
    let client = Net::inside(&net.client_ns, move || -> std::io::Result<TcpStream> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"g held\n")?;
        let mut reply = [0u8; 25];
        s.read_exact(&mut reply)?;
        assert_eq!(&reply, b"1 Lock Get Success: held\n");
        Ok(s)
    })
    .unwrap()
    .expect("the client takes the lock over the veth pair");
    assert!(mgr.inspect("held"));

    // Cut the client's link: nothing it could send (FIN, reset, ACK) reaches the server.
    ip(&["-n", &net.client_ns, "link", "set", &net.client_if, "down"]).unwrap();
    let cut = Instant::now();
    let waiter = mgr.session();
    let slack = Duration::from_secs(5);
    let got = waiter.lock_timeout("held", bound + slack).await;
    let took = cut.elapsed();
    println!("vanished holder detected after {took:?} (bound {bound:?}, probes {probes:?})");
    assert!(
        got.is_ok(),
        "the vanished holder still held the lock after {took:?} (bound {bound:?})"
    );
    drop(client);
}
