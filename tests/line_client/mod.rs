//! A lockd line-protocol test client: raw bytes out, exact bytes or lines back, every read
//! bounded by 10 s. Shared by the conformance tests and the cross-server tests.
#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Something a client can connect to.
pub trait Target {
    fn addr(&self) -> SocketAddr;

    /// A connection to it: the stream, the id the server gives it, and whatever must live as
    /// long as the connection (a tunnel process). Plain TCP to `addr` unless overridden.
    async fn open(&self) -> (TcpStream, String, Option<Tunnel>) {
        connect_direct(self.addr()).await
    }
}

/// A process carrying connections (a TLS tunnel), stopped and reaped with its client: the
/// server then sees its connection end, as it would a direct one's.
pub struct Tunnel(pub std::process::Child);

/// A command for a tunnel process (socat, stunnel): no stdin or stdout, and killed if the thread
/// that started it ends first (a test that panicked or a killed test run leaves none behind).
pub fn tunnel_command(program: &str) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    fn die_with_parent() -> std::io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    // SAFETY: between fork and exec the hook makes one async-signal-safe call (prctl) and
    // touches no memory of the parent.
    unsafe { cmd.pre_exec(die_with_parent) };
    cmd
}

/// A free loopback port (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain TCP connection to `addr` and the id the server gives it.
pub async fn connect_direct(addr: SocketAddr) -> (TcpStream, String, Option<Tunnel>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let id = stream.local_addr().unwrap().to_string();
    (stream, id, None)
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Target for SocketAddr {
    fn addr(&self) -> SocketAddr {
        *self
    }
}

pub struct Client {
    pub stream: TcpStream,
    pub id: String,
    pub tunnel: Option<Tunnel>,
}

impl Client {
    pub async fn connect(server: &impl Target) -> Client {
        let (stream, id, tunnel) = server.open().await;
        Client { stream, id, tunnel }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    pub async fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut got))
            .await
            .expect("reply within 10 s")
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "raw reply bytes"
        );
    }

    pub async fn ask(&mut self, request: &str, reply: &str) {
        self.send(request.as_bytes()).await;
        self.expect(reply.as_bytes()).await;
    }

    /// Reads one reply line (with its LF).
    pub async fn line(&mut self) -> String {
        self.line_within(Duration::from_secs(10)).await
    }

    /// Reads one reply line (with its LF), which must come within `limit`.
    pub async fn line_within(&mut self, limit: Duration) -> String {
        let mut line = Vec::new();
        let read = async {
            while !line.ends_with(b"\n") {
                let mut byte = [0u8; 1];
                self.stream.read_exact(&mut byte).await.unwrap();
                line.push(byte[0]);
            }
        };
        tokio::time::timeout(limit, read)
            .await
            .unwrap_or_else(|_| panic!("a line within {limit:?}"));
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Sends `request` and reads its one-line reply.
    pub async fn line_for(&mut self, request: &str) -> String {
        self.send(request.as_bytes()).await;
        self.line().await
    }

    /// A `T Lock Get Success: NAME` reply's token.
    pub async fn token(&mut self, name: &str) -> u64 {
        let line = self.line().await;
        let (t, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, format!("Lock Get Success: {name}\n"));
        t.parse().unwrap()
    }

    /// The `q` reply as (key, value) pairs.
    pub async fn stats(&mut self) -> Vec<(String, u64)> {
        self.send(b"q\n").await;
        // `q` has no end marker: read up to the `shared_orphans` line, always last.
        let mut text = Vec::new();
        while !text.ends_with(b"\n") || !String::from_utf8_lossy(&text).contains("shared_orphans: ")
        {
            let mut byte = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut byte))
                .await
                .expect("stats within 10 s")
                .unwrap();
            text.push(byte[0]);
        }
        String::from_utf8(text)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }
}

pub fn stat(stats: &[(String, u64)], key: &str) -> u64 {
    stats
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {key}"))
}
