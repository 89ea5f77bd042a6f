//! Socket-level conformance tests of the lockd server against the conformance checklist
//! (`docs/protocol.md` §14): a server on 127.0.0.1:0, raw bytes compared exactly.
//!
//! The same tests run over other set-ups: `LOCKD_TEST_TABLE=etcd` serves the etcd cluster's
//! table, and `LOCKD_TEST_TRANSPORT=socat-tls` (feature `tls`) serves only a TLS port, each test
//! client reaching it through its own `socat` process (plaintext in, TLS out, the server's
//! certificate checked against a CA the run makes), as a client without TLS of its own would.
//! No sleeps order anything: every step waits for the bytes it expects, and "no reply" is proven
//! by the next request's reply arriving first.
#![cfg(feature = "tcp-server")]

use std::net::SocketAddr;
use std::time::Duration;

use lockd::LockManager;
use lockd::server::{Config, Handle, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[cfg(feature = "etcd")]
mod etcd_common;
mod line_client;
#[cfg(feature = "tls")]
mod tls_common;
use line_client::{Client, stat};

/// Which lock table the servers of this run serve: in memory (the default), or the etcd
/// cluster at `LOCKD_ETCD_ENDPOINTS` when `LOCKD_TEST_TABLE=etcd` (feature `etcd`). The same
/// conformance tests run on both; the few that cannot hold on a cluster say why and skip.
enum Table {
    Memory(LockManager),
    #[cfg(feature = "etcd")]
    Etcd(lockd::etcd::EtcdManager),
}

fn etcd_mode() -> bool {
    std::env::var("LOCKD_TEST_TABLE").as_deref() == Ok("etcd")
}

fn tunnel_mode() -> bool {
    std::env::var("LOCKD_TEST_TRANSPORT").as_deref() == Ok("socat-tls")
}

/// Skips a test that needs direct connections (returns true), saying why.
fn direct_only(why: &str) -> bool {
    if tunnel_mode() {
        eprintln!("skipped through the TLS tunnel: {why}");
    }
    tunnel_mode()
}

/// Skips a test that cannot hold on a cluster (returns true), saying why.
fn memory_only(why: &str) -> bool {
    if etcd_mode() {
        eprintln!("skipped on etcd: {why}");
    }
    etcd_mode()
}

struct TestServer {
    /// The server's listener: its TLS port in tunnel mode.
    addr: SocketAddr,
    handle: Handle,
    table: Table,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// In tunnel mode, the CA file `socat` checks the server's certificate against.
    ca: Option<std::path::PathBuf>,
}

impl TestServer {
    /// The in-memory manager (only tests that skip on etcd use it).
    fn mgr(&self) -> &LockManager {
        match &self.table {
            Table::Memory(mgr) => mgr,
            #[cfg(feature = "etcd")]
            Table::Etcd(_) => unreachable!("a memory-only test ran on etcd"),
        }
    }

    /// How many names are held.
    async fn locks(&self) -> usize {
        match &self.table {
            Table::Memory(mgr) => mgr.len(),
            #[cfg(feature = "etcd")]
            Table::Etcd(mgr) => etcd_common::held_names(mgr).await,
        }
    }

    /// How many requests wait.
    async fn waiting(&self) -> usize {
        match &self.table {
            Table::Memory(mgr) => mgr.stats().waiting as usize,
            #[cfg(feature = "etcd")]
            Table::Etcd(mgr) => etcd_common::waiting(mgr).await,
        }
    }

    /// Waits until `n` requests wait (never on time alone).
    async fn until_waiting(&self, n: usize) {
        while self.waiting().await < n {
            tokio::time::sleep(Duration::from_millis(if etcd_mode() { 10 } else { 0 })).await;
        }
    }

    /// Whether `name` is held exclusively.
    async fn held(&self, name: &str) -> bool {
        match &self.table {
            Table::Memory(mgr) => mgr.inspect(name),
            #[cfg(feature = "etcd")]
            Table::Etcd(mgr) => mgr.inspect(name).await.unwrap(),
        }
    }
}

/// The table for a new test server: a fresh prefix per server on etcd.
async fn new_table() -> Table {
    if !etcd_mode() {
        return Table::Memory(LockManager::new());
    }
    #[cfg(feature = "etcd")]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let endpoints = std::env::var("LOCKD_ETCD_ENDPOINTS")
            .expect("LOCKD_TEST_TABLE=etcd needs LOCKD_ETCD_ENDPOINTS (scripts/etcd-cluster.sh)");
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let config = lockd::etcd::EtcdConfig {
            endpoints: endpoints.split(',').map(str::to_string).collect(),
            prefix: format!("lockd-conformance-{}-{n}", std::process::id()),
            ..Default::default()
        };
        Table::Etcd(lockd::etcd::EtcdManager::connect(config).await.unwrap())
    }
    #[cfg(not(feature = "etcd"))]
    panic!("LOCKD_TEST_TABLE=etcd needs feature etcd");
}

async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::default();
    f(&mut config);
    let table = new_table().await;
    let server = match &table {
        Table::Memory(mgr) => Server::new(mgr.clone(), config),
        #[cfg(feature = "etcd")]
        Table::Etcd(mgr) => Server::with_etcd(mgr.clone(), config),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    if tunnel_mode() {
        #[cfg(feature = "tls")]
        {
            let (files, ca) = tunnel_certificates();
            let task = tokio::spawn(async move {
                server
                    .serve_tls(listener, files, std::future::pending::<()>())
                    .await
            });
            return TestServer {
                addr,
                handle,
                table,
                task,
                ca: Some(ca),
            };
        }
        #[cfg(not(feature = "tls"))]
        panic!("LOCKD_TEST_TRANSPORT=socat-tls needs feature tls");
    }
    let task =
        tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    TestServer {
        addr,
        handle,
        table,
        task,
        ca: None,
    }
}

/// The server's certificate files and the CA file that vouches for them (made once a run).
#[cfg(feature = "tls")]
fn tunnel_certificates() -> (lockd::server::TlsFiles, std::path::PathBuf) {
    static FILES: std::sync::OnceLock<(
        std::path::PathBuf,
        std::path::PathBuf,
        std::path::PathBuf,
    )> = std::sync::OnceLock::new();
    let (cert, key, ca) = FILES.get_or_init(|| {
        let ca = tls_common::Ca::new("lockd conformance CA");
        let (cert, key) = ca.leaf("localhost", &["localhost", "127.0.0.1"], false);
        let d = tls_common::dir("conformance");
        (
            tls_common::write(&d, "cert.pem", &cert),
            tls_common::write(&d, "key.pem", &key),
            tls_common::write(&d, "ca.pem", &ca.cert.pem()),
        )
    });
    (lockd::server::TlsFiles::new(cert, key), ca.clone())
}

/// One client's own `socat`: it takes one plaintext connection on a port of its own and
/// carries it over TLS to `tls`, from a source port chosen here, so the id the server gives
/// the connection is known. It returns once socat's TLS handshake is done (so the server has
/// the connection, as it would have a direct one). Half-closes are passed on (`close_notify`),
/// and `-t 5` gives the server's last replies time to come back after one.
async fn through_socat(
    tls: SocketAddr,
    ca: &std::path::Path,
) -> (TcpStream, String, Option<line_client::Tunnel>) {
    use std::io::BufRead;
    for _ in 0..20 {
        let (listen, source) = (line_client::free_port(), line_client::free_port());
        let mut child = line_client::tunnel_command("socat")
            .args([
                "-d".to_string(),
                "-d".to_string(),
                "-t5".to_string(),
                "-T120".to_string(),
                format!("TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,accept-timeout=30"),
                format!(
                    "OPENSSL:{tls},bind=127.0.0.1:{source},cafile={},commonname=localhost,nodelay",
                    ca.display()
                ),
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("socat (Debian package socat; .ci/run installs it)");
        // socat's log: "listening" once it accepts, "starting data transfer loop" once the TLS
        // connection is up, "Address already in use" if a chosen port was taken meanwhile.
        // Read to its end, so socat never blocks on it.
        #[derive(Debug, PartialEq)]
        enum Event {
            Listening,
            Up,
            PortTaken,
        }
        let (events, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let log = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                let event = if line.contains("listening on") {
                    Event::Listening
                } else if line.contains("starting data transfer loop") {
                    Event::Up
                } else if line.contains("Address already in use") {
                    Event::PortTaken
                } else {
                    continue;
                };
                let _ = events.send(event);
            }
        });
        let tunnel = line_client::Tunnel(child);
        let listening = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
        if listening != Ok(Some(Event::Listening)) {
            continue; // the listening port was taken meanwhile: again, with others
        }
        let stream = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        // Up, or refused (socat exits: the client reads the end of its stream, as it would
        // from a server that closed a direct connection at once).
        match tokio::time::timeout(Duration::from_secs(10), seen.recv()).await {
            Ok(Some(Event::PortTaken)) => continue, // the source port: nothing sent yet
            Ok(_) => return (stream, format!("127.0.0.1:{source}"), Some(tunnel)),
            Err(_) => panic!("socat's TLS connection to the server: neither up nor refused"),
        }
    }
    panic!("socat never listened");
}

async fn start() -> TestServer {
    start_with(|_| {}).await
}

impl line_client::Target for TestServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn open(&self) -> (TcpStream, String, Option<line_client::Tunnel>) {
        match &self.ca {
            Some(ca) => through_socat(self.addr, ca).await,
            None => line_client::connect_direct(self.addr).await,
        }
    }
}

#[tokio::test]
async fn exclusive_lock_texts() {
    let s = start().await;
    let (mut a, mut b) = (Client::connect(&s).await, Client::connect(&s).await);
    a.ask("g foo\n", "1 Lock Get Success: foo\n").await;
    a.ask("g foo\n", "1 Lock Get Success: foo\n").await; // the holder repeating it
    b.ask("g foo\n", "0 Lock Get Failure: foo\n").await;
    b.ask("i foo\n", "1 Lock Is Locked: foo\n").await;
    b.ask("r foo\n", "0 Lock Release Failure: foo\n").await;
    a.ask("i foo\n", "1 Lock Is Locked: foo\n").await;
    a.ask("r foo\n", "1 Lock Release Success: foo\n").await; // one release frees it
    a.ask("r foo\n", "0 Lock Release Failure: foo\n").await;
    b.ask("i foo\n", "0 Lock Not Locked: foo\n").await;
    b.ask("g foo\n", "1 Lock Get Success: foo\n").await;
}

#[tokio::test]
async fn shared_lock_counts() {
    let s = start().await;
    let mut c: Vec<Client> = Vec::new();
    for _ in 0..4 {
        c.push(Client::connect(&s).await);
    }
    c[0].ask("sg s\n", "1 Shared Lock Get Success: s\n").await;
    c[0].ask("sg s\n", "1 Shared Lock Get Success: s\n").await;
    c[1].ask("sg s\n", "2 Shared Lock Get Success: s\n").await;
    c[0].ask("sg s\n", "2 Shared Lock Get Success: s\n").await;
    c[2].ask("sg s\n", "3 Shared Lock Get Success: s\n").await;
    c[3].ask("si s\n", "3 Shared Lock Is Locked: s\n").await; // non-holders get the count
    c[3].ask("sr s\n", "0 Shared Lock Release Failure: s\n")
        .await;
    c[0].ask("sr s\n", "1 Shared Lock Release Success: s\n")
        .await;
    c[3].ask("si s\n", "2 Shared Lock Is Locked: s\n").await;
    c[1].ask("sr s\n", "1 Shared Lock Release Success: s\n")
        .await;
    c[3].ask("si s\n", "1 Shared Lock Is Locked: s\n").await;
    c[2].ask("sr s\n", "1 Shared Lock Release Success: s\n")
        .await;
    c[3].ask("si s\n", "0 Shared Lock Not Locked: s\n").await;
    c[2].ask("sr s\n", "0 Shared Lock Release Failure: s\n")
        .await;
}

#[tokio::test]
async fn exclusive_and_shared_namespaces_do_not_interact() {
    let s = start().await;
    let (mut a, mut b) = (Client::connect(&s).await, Client::connect(&s).await);
    a.ask("g foo\n", "1 Lock Get Success: foo\n").await;
    b.ask("sg foo\n", "1 Shared Lock Get Success: foo\n").await;
    b.ask("si foo\n", "1 Shared Lock Is Locked: foo\n").await;
    a.ask("r foo\n", "1 Lock Release Success: foo\n").await;
    b.ask("i foo\n", "0 Lock Not Locked: foo\n").await;
}

#[tokio::test]
async fn empty_name_everywhere_keeps_the_trailing_space() {
    let s = start().await;
    let (mut a, mut b) = (Client::connect(&s).await, Client::connect(&s).await);
    a.ask("g\n", "1 Lock Get Success: \n").await;
    b.ask("g \n", "0 Lock Get Failure: \n").await;
    b.ask("i\n", "1 Lock Is Locked: \n").await;
    a.ask("r\n", "1 Lock Release Success: \n").await;
    a.ask("sg\n", "1 Shared Lock Get Success: \n").await;
    b.ask("si\n", "1 Shared Lock Is Locked: \n").await;
    a.ask("sr\n", "1 Shared Lock Release Success: \n").await;
}

#[tokio::test]
async fn argument_normalisation_crlf_and_bytes() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("g   a   b  \t c \n", "1 Lock Get Success: a b c\n")
        .await;
    a.ask(" g  x\n", "1 Lock Get Success: x\n").await;
    a.ask("i x   \n", "1 Lock Is Locked: x\n").await;
    a.ask("i a b c\r\n", "1 Lock Is Locked: a b c\n").await; // CRLF in, LF out
    a.send(b"g n\x00\xff\xc3\xa9\n").await;
    a.expect(b"1 Lock Get Success: n\x00\xff\xc3\xa9\n").await;
    a.send(b"i n\x00\xff\xc3\xa9\n").await;
    a.expect(b"1 Lock Is Locked: n\x00\xff\xc3\xa9\n").await;
}

#[tokio::test]
async fn invalid_and_empty_lines_get_no_reply_and_are_counted() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    let before = stat(&a.stats().await, "invalid_commands");
    a.send(b"g\tx\nG x\nbogus\n\x00\xff\xfe\n\n\r\n   \t \n")
        .await;
    a.ask("i x\n", "0 Lock Not Locked: x\n").await; // nothing came before this reply
    let after = stat(&a.stats().await, "invalid_commands");
    assert_eq!(after - before, 7);
}

#[tokio::test]
async fn split_writes_and_one_byte_at_a_time() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    for &b in b"g slow\n" {
        a.send(&[b]).await;
        a.stream.flush().await.unwrap();
    }
    a.expect(b"1 Lock Get Success: slow\n").await;
    a.send(b"i sl").await;
    a.send(b"ow\r").await;
    a.send(b"\n").await;
    a.expect(b"1 Lock Is Locked: slow\n").await;
}

#[tokio::test]
async fn pipelining_hundreds_of_mixed_commands() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    let (mut req, mut want) = (Vec::new(), Vec::new());
    for i in 0..300 {
        req.extend_from_slice(format!("g k{i}\nxx\n\ni k{i}\nr k{i}\n").as_bytes());
        want.extend_from_slice(
            format!(
                "1 Lock Get Success: k{i}\n1 Lock Is Locked: k{i}\n1 Lock Release Success: k{i}\n"
            )
            .as_bytes(),
        );
    }
    a.send(&req).await;
    a.expect(&want).await;
}

#[tokio::test]
async fn half_close_answers_the_last_line_then_releases() {
    let s = start().await;
    let mut probe = Client::connect(&s).await;
    for last in ["g h2\n", "g h2"] {
        let mut a = Client::connect(&s).await;
        a.send(b"g h1\n").await;
        a.send(last.as_bytes()).await;
        a.stream.shutdown().await.unwrap(); // half-close
        a.expect(b"1 Lock Get Success: h1\n1 Lock Get Success: h2\n")
            .await;
        let mut rest = Vec::new();
        a.stream.read_to_end(&mut rest).await.unwrap(); // the server closes
        assert!(rest.is_empty());
        drop(a);
        // Cleanup finishes before `connections` drops; wait for that, then the locks are free.
        while stat(&probe.stats().await, "connections") != 1 {
            tokio::task::yield_now().await;
        }
        probe.ask("i h1\n", "0 Lock Not Locked: h1\n").await;
        probe.ask("i h2\n", "0 Lock Not Locked: h2\n").await;
    }
}

#[tokio::test]
async fn overlong_lines() {
    let s = start_with(|c| c.max_line_bytes = 100).await;
    let mut a = Client::connect(&s).await;
    a.ask("g held\n", "1 Lock Get Success: held\n").await;
    let exact = format!("g {}\n", "e".repeat(98)); // exactly 100 bytes of content
    a.ask(&exact, &format!("1 Lock Get Success: {}\n", "e".repeat(98)))
        .await;
    let before = stat(&a.stats().await, "invalid_commands");
    let g_before = stat(&a.stats().await, "command_g");
    // One byte over, sent in two parts: nothing until the LF, then exactly `0 Line Too Long`.
    a.send(format!("g {}", "o".repeat(99)).as_bytes()).await;
    a.send(b"\n").await;
    a.expect(b"0 Line Too Long\n").await;
    // A 100 kB line with an unknown verb: silence.
    a.send(format!("zz {}\n", "u".repeat(100_000)).as_bytes())
        .await;
    a.ask("i held\n", "1 Lock Is Locked: held\n").await; // connection and locks kept
    let stats = a.stats().await;
    assert_eq!(stat(&stats, "invalid_commands") - before, 2);
    assert_eq!(
        stat(&stats, "command_g"),
        g_before,
        "an overlong line executes nothing"
    );
    // 8 MiB without a line end, while another client is served.
    let mut b = Client::connect(&s).await;
    let chunk = vec![b'x'; 1 << 20];
    a.send(b"g ").await;
    for _ in 0..8 {
        a.send(&chunk).await;
        b.ask("i held\n", "1 Lock Is Locked: held\n").await;
    }
    a.send(b"\n").await;
    a.expect(b"0 Line Too Long\n").await;
}

#[tokio::test]
async fn disconnect_and_reset_release_everything() {
    let s = start().await;
    let mut probe = Client::connect(&s).await;
    let before = probe.stats().await;
    {
        let mut a = Client::connect(&s).await;
        a.ask("g x1\n", "1 Lock Get Success: x1\n").await;
        a.ask("g x2\n", "1 Lock Get Success: x2\n").await;
        a.ask("sg y\n", "1 Shared Lock Get Success: y\n").await;
    }
    {
        // A reset: linger 0 makes the close send RST.
        let mut r = Client::connect(&s).await;
        r.ask("g z\n", "1 Lock Get Success: z\n").await;
        socket2::SockRef::from(&r.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    while stat(&probe.stats().await, "connections") != 1 {
        tokio::task::yield_now().await;
    }
    let after = probe.stats().await;
    assert_eq!(stat(&after, "orphans") - stat(&before, "orphans"), 3);
    assert_eq!(
        stat(&after, "shared_orphans") - stat(&before, "shared_orphans"),
        1
    );
    assert_eq!(
        (stat(&after, "locks"), stat(&after, "shared_locks")),
        (0, 0)
    );
    probe.ask("i x1\n", "0 Lock Not Locked: x1\n").await;
    probe.ask("si y\n", "0 Shared Lock Not Locked: y\n").await;
    probe.ask("g z\n", "1 Lock Get Success: z\n").await;
    assert_eq!(s.locks().await, 1);
}

#[tokio::test]
async fn two_hundred_connections_each_hold_a_lock_and_all_are_freed() {
    let s = start().await;
    let mut clients = Vec::new();
    for i in 0..200 {
        let mut c = Client::connect(&s).await;
        c.ask(
            &format!("g own{i}\n"),
            &format!("1 Lock Get Success: own{i}\n"),
        )
        .await;
        clients.push(c);
    }
    assert_eq!(s.locks().await, 200);
    drop(clients);
    let mut probe = Client::connect(&s).await;
    while stat(&probe.stats().await, "connections") != 1 {
        tokio::task::yield_now().await;
    }
    assert_eq!(s.locks().await, 0);
}

#[tokio::test]
async fn listings_dumps_and_registry() {
    let s = start().await;
    let (mut a, mut b) = (Client::connect(&s).await, Client::connect(&s).await);
    a.ask("g b\n", "1 Lock Get Success: b\n").await;
    b.ask("g a\n", "1 Lock Get Success: a\n").await;
    a.ask("sg s\n", "1 Shared Lock Get Success: s\n").await;
    b.ask("sg s\n", "2 Shared Lock Get Success: s\n").await;
    a.ask("sg s\n", "2 Shared Lock Get Success: s\n").await; // does not move a
    let (ia, ib) = (a.id.clone(), b.id.clone());
    a.ask("d\n", &format!("a: {ib}\nb: {ia}\n")).await;
    a.ask("d b\n", &format!("b: {ia}\n")).await;
    a.ask("d nope\ni a\n", "1 Lock Is Locked: a\n").await; // no match: zero bytes
    a.ask("sd\n", &format!("s: {ia}\ns: {ib}\n")).await;
    a.ask("sd s\n", &format!("s: {ia}\ns: {ib}\n")).await;
    a.ask("dump\n", &format!("{{\"a\":\"{ib}\",\"b\":\"{ia}\"}}\n"))
        .await;
    a.ask(
        "dump  shared \n",
        &format!("{{\"s\":[\"{ia}\",\"{ib}\"]}}\n"),
    )
    .await;
    a.ask(
        "dump Shared\n",
        &format!("{{\"a\":\"{ib}\",\"b\":\"{ia}\"}}\n"),
    )
    .await;
    // Registry.
    a.ask("me\n", &format!("1 {ia} {ia}\n")).await;
    a.ask("me extra\n", &format!("1 {ia} {ia}\n")).await;
    a.ask("iam   my   name \n", "1 ok\n").await;
    a.ask("me\n", &format!("1 {ia} my name\n")).await;
    b.ask("iam c1\n", "1 ok\n").await;
    a.ask("d\n", "a: c1\nb: my name\n").await; // names in listings
    a.ask("dump\n", &format!("{{\"a\":\"{ib}\",\"b\":\"{ia}\"}}\n"))
        .await; // raw ids
    a.ask("iam c1\n", "1 ok\n").await;
    a.ask("who\n", &format!("{ib}: c1\n{ia}: c1\n")).await; // oldest first
    b.ask("iam c1\n", "1 ok\n").await; // moves b last
    a.ask("who c1\n", &format!("{ia}: c1\n{ib}: c1\n")).await;
    a.ask("who nobody\ni a\n", "1 Lock Is Locked: a\n").await;
    a.ask("iam   \n", "1 ok\n").await; // unregisters
    a.ask("me\n", &format!("1 {ia} {ia}\n")).await;
    a.ask("who\n", &format!("{ib}: c1\n")).await;
    drop(b);
    let mut probe = Client::connect(&s).await;
    while stat(&probe.stats().await, "connections") != 2 {
        tokio::task::yield_now().await;
    }
    a.ask("who\ni zz\n", "0 Lock Not Locked: zz\n").await; // a closed connection is gone
}

#[tokio::test]
async fn feature_flags() {
    for (dump, registry) in [(false, true), (true, false), (false, false)] {
        let s = start_with(|c| {
            c.dump = dump;
            c.registry = registry;
        })
        .await;
        let mut a = Client::connect(&s).await;
        let ia = a.id.clone();
        a.ask("g x\n", "1 Lock Get Success: x\n").await;
        let d = |on: bool, reply: String| {
            if on {
                reply
            } else {
                "0 disabled\n".to_string()
            }
        };
        a.ask("iam me\n", if registry { "1 ok\n" } else { "0 disabled\n" })
            .await;
        a.ask(
            "d\n",
            &d(dump, format!("x: {}\n", if registry { "me" } else { &ia })),
        )
        .await;
        a.ask("d nothing\n", &d(dump, String::new())).await;
        a.ask("sd\n", &d(dump, String::new())).await;
        a.ask("dump\n", &d(dump, format!("{{\"x\":\"{ia}\"}}\n")))
            .await;
        a.ask("dump shared\n", &d(dump, "{}\n".into())).await;
        a.ask("who\n", &d(dump && registry, format!("{ia}: me\n")))
            .await;
        a.ask(
            "me\n",
            &format!("1 {ia} {}\n", if registry { "me" } else { &ia }),
        )
        .await;
        a.ask("i x\n", "1 Lock Is Locked: x\n").await;
        let stats = a.stats().await;
        assert_eq!(stat(&stats, "command_d"), 2, "disabled verbs still count");
        assert_eq!(stat(&stats, "command_who"), 1);
    }
}

#[tokio::test]
async fn stats_keys_and_counting_rules() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    let first = a.stats().await;
    let keys: Vec<_> = first.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "command_d",
            "command_dump",
            "command_g",
            "command_i",
            "command_q",
            "command_r",
            "command_sd",
            "command_sg",
            "command_si",
            "command_sr",
            "connections",
            "invalid_commands",
            "locks",
            "orphans",
            "shared_locks",
            "shared_orphans"
        ]
    );
    assert_eq!(stat(&first, "connections"), 1);
    assert_eq!(stat(&first, "command_q"), 1, "q counts itself");
    let second = a.stats().await;
    assert_eq!(stat(&second, "command_q"), 2);
    a.ask("me\n", &format!("1 {0} {0}\n", a.id)).await;
    a.ask("ext\n", "1 ext gw sgw auth\n").await;
    a.send(b"gw 0 x\nsgw 0 2 y\n").await;
    assert!(a.line().await.ends_with(" Lock Get Success: x\n"));
    a.expect(b"1 Shared Lock Get Success: y\n").await;
    let third = a.stats().await;
    assert_eq!(
        third.len(),
        17,
        "command_me appears after first use, extensions never"
    );
    assert_eq!(stat(&third, "invalid_commands"), 0);
}

#[tokio::test]
async fn limits_connections_and_locks_per_session() {
    let s = start_with(|c| {
        c.max_connections = 2;
        c.max_locks_per_session = 2;
    })
    .await;
    let mut a = Client::connect(&s).await;
    let _b = Client::connect(&s).await;
    a.ask("g l1\n", "1 Lock Get Success: l1\n").await;
    a.ask("sg l2\n", "1 Shared Lock Get Success: l2\n").await;
    a.ask("g l3\n", "0 Lock Get Failure: l3\n").await;
    a.ask("sg l4\n", "0 Shared Lock Get Failure: l4\n").await;
    a.ask("g l1\n", "1 Lock Get Success: l1\n").await; // re-gets still succeed
    // A third connection is closed at once with nothing sent.
    let mut c = Client::connect(&s).await; // (its tunnel, if any, lives as long)
    let _ = c.stream.write_all(b"q\n").await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.stream.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
    assert_eq!(stat(&a.stats().await, "connections"), 2);
}

#[tokio::test]
async fn in_process_holders_are_visible_to_the_protocol() {
    if memory_only("in-process holders are core sessions (tests/etcd_server.rs has the cluster's)")
    {
        return;
    }
    let s = start().await;
    let session = s.mgr().session();
    let _g = session.get("inproc").unwrap();
    let _sh = s.mgr().get_shared("readers").unwrap();
    let mut a = Client::connect(&s).await;
    a.ask("g inproc\n", "0 Lock Get Failure: inproc\n").await;
    a.ask("i inproc\n", "1 Lock Is Locked: inproc\n").await;
    a.ask("g readers\n", "0 Lock Get Failure: readers\n").await; // in-process shared holder
    a.ask("i readers\n", "1 Lock Is Locked: readers\n").await;
    let id = session.id();
    a.ask("d\n", &format!("inproc: local:{id}\n")).await; // exclusive holders only
    a.ask("dump\n", &format!("{{\"inproc\":\"local:{id}\"}}\n"))
        .await;
}

#[tokio::test]
async fn destroy_disconnects_everyone_and_releases_their_locks() {
    let mut s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("g d1\n", "1 Lock Get Success: d1\n").await;
    s.handle.destroy();
    (&mut s.task).await.unwrap().unwrap(); // serve returns after every cleanup
    let mut rest = Vec::new();
    let _ = a.stream.read_to_end(&mut rest).await;
    assert_eq!(s.locks().await, 0);
}

#[test]
fn peer_ids() {
    use lockd::server::tcp_peer_id;
    assert_eq!(
        tcp_peer_id("127.0.0.1:55578".parse().unwrap()),
        "127.0.0.1:55578"
    );
    assert_eq!(
        tcp_peer_id("[::ffff:10.1.2.3]:80".parse().unwrap()),
        "10.1.2.3:80"
    );
    assert_eq!(tcp_peer_id("[::1]:55994".parse().unwrap()), "[::1]:55994");
}

#[tokio::test]
async fn a_thousand_clients_killed_abruptly_free_every_lock() {
    if direct_only("a thousand socat processes; two hundred clients are tunnelled elsewhere") {
        return;
    }
    let s = start().await;
    let mut clients = Vec::new();
    for i in 0..1000 {
        let mut c = Client::connect(&s).await;
        c.send(format!("g kill{i}\nsg common\n").as_bytes()).await;
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.expect(format!("1 Lock Get Success: kill{i}\n").as_bytes())
            .await;
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            let mut b = [0u8; 1];
            c.stream.read_exact(&mut b).await.unwrap();
            line.push(b[0]);
        }
    }
    assert_eq!(s.locks().await, 1001);
    for c in clients.drain(..) {
        // Dropped without a word; half of them reset.
        if c.stream.local_addr().unwrap().port() % 2 == 0 {
            socket2::SockRef::from(&c.stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
    }
    let mut probe = Client::connect(&s).await;
    while stat(&probe.stats().await, "connections") != 1 {
        tokio::task::yield_now().await;
    }
    let stats = probe.stats().await;
    assert_eq!(stat(&stats, "orphans"), 1000);
    assert_eq!(stat(&stats, "shared_orphans"), 1000);
    assert_eq!(
        s.locks().await,
        0,
        "every lock is free once the connections are cleaned up"
    );
}

#[tokio::test]
async fn extension_verbs() {
    let s = start_with(|c| c.max_wait = Duration::from_secs(30)).await;
    let (mut a, mut b, mut c) = (
        Client::connect(&s).await,
        Client::connect(&s).await,
        Client::connect(&s).await,
    );
    a.ask("ext\n", "1 ext gw sgw auth\n").await;
    // `gw 0` is a try-lock that returns the fencing token; a holder repeating it gets the same.
    a.send(b"gw 0 job\n").await;
    let t1 = a.token("job").await;
    assert!((1..1 << 53).contains(&t1));
    a.send(b"gw 0 job\n").await;
    assert_eq!(a.token("job").await, t1);
    a.ask("g job\n", "1 Lock Get Success: job\n").await; // `g` never shows the token
    b.ask("gw 0 job\n", "0 Lock Get Failure: job\n").await;
    // Waiters are served first come, first served; a line behind a wait waits too. (First
    // come is first to reach the table: on etcd, requests sent at the same moment through
    // different connections may reach the cluster in either order, so c sends once b waits.)
    b.send(b"gw 20000 job\ni after\n").await;
    s.until_waiting(1).await;
    c.send(b"gw 20000 job\n").await;
    s.until_waiting(2).await;
    a.ask("g job\n", "1 Lock Get Success: job\n").await;
    a.ask("r job\n", "1 Lock Release Success: job\n").await; // hands over to b
    let t2 = b.token("job").await;
    assert!(t2 > t1, "strictly increasing tokens");
    b.expect(b"0 Lock Not Locked: after\n").await;
    a.ask("g job\n", "0 Lock Get Failure: job\n").await; // a plain g racing the hand-off fails
    b.ask("r job\n", "1 Lock Release Success: job\n").await;
    let t3 = c.token("job").await;
    assert!(t3 > t2);
    // Timeout.
    a.ask("gw 30 job\n", "0 Lock Get Timeout: job\n").await;
    // sgw: limits, waits and failures.
    a.ask("sgw 0 2 pool\n", "1 Shared Lock Get Success: pool\n")
        .await;
    b.ask("sgw 0 2 pool\n", "2 Shared Lock Get Success: pool\n")
        .await;
    a.ask("sgw 0 1 pool\n", "2 Shared Lock Get Success: pool\n")
        .await; // already a holder
    let mut d = Client::connect(&s).await;
    d.ask("sgw 0 2 pool\n", "0 Shared Lock Get Failure: pool\n")
        .await;
    d.ask("sg pool\n", "3 Shared Lock Get Success: pool\n")
        .await; // plain sg: no limit
    d.ask("sr pool\n", "1 Shared Lock Release Success: pool\n")
        .await;
    d.send(b"sgw 20000 2 pool\n").await;
    s.until_waiting(1).await;
    a.ask("sr pool\n", "1 Shared Lock Release Success: pool\n")
        .await;
    d.expect(b"2 Shared Lock Get Success: pool\n").await;
    b.ask("sgw 20 1 pool\n", "2 Shared Lock Get Success: pool\n")
        .await;
    a.ask("sgw 20 2 pool\n", "0 Shared Lock Get Timeout: pool\n")
        .await;
    // Invalid arguments echo the normalised argument.
    a.ask("gw\n", "0 Invalid Arguments: \n").await;
    a.ask("gw x   y\n", "0 Invalid Arguments: x y\n").await;
    a.ask("sgw 10 0 n\n", "0 Invalid Arguments: 10 0 n\n").await;
    a.ask("sgw 10\n", "0 Invalid Arguments: 10\n").await;
    a.ask("gw 0\n", "").await;
    assert!(
        a.line().await.ends_with("Lock Get Success: \n"),
        "an empty name is valid"
    );
    // q never reports extension verbs.
    let stats = a.stats().await;
    assert!(
        stats
            .iter()
            .all(|(k, _)| !k.contains("gw") && k != "command_ext")
    );
    assert_eq!(stat(&stats, "invalid_commands"), 0);
}

#[tokio::test]
async fn a_disconnected_waiter_is_never_granted() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("g w\n", "1 Lock Get Success: w\n").await;
    let before = a.stats().await;
    {
        let mut b = Client::connect(&s).await;
        b.send(b"gw 60000 w\n").await;
        s.until_waiting(1).await;
        socket2::SockRef::from(&b.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    } // reset while waiting
    while stat(&a.stats().await, "connections") != 1 {
        tokio::task::yield_now().await;
    }
    assert_eq!(s.waiting().await, 0);
    a.ask("r w\n", "1 Lock Release Success: w\n").await;
    a.ask("i w\n", "0 Lock Not Locked: w\n").await; // nobody got it
    let after = a.stats().await;
    assert_eq!(
        stat(&after, "orphans"),
        stat(&before, "orphans"),
        "nothing orphaned"
    );
}

#[tokio::test]
async fn a_wait_pending_when_the_input_ends_times_out_and_is_never_granted() {
    let s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("g h\n", "1 Lock Get Success: h\n").await;
    // Queued first, then the FIN: the wait ends with its timeout line, the line after it is
    // answered as usual, and the connection ends.
    let mut b = Client::connect(&s).await;
    b.send(b"gw 60000 h\ni h\n").await;
    s.until_waiting(1).await;
    b.stream.shutdown().await.unwrap();
    b.expect(b"0 Lock Get Timeout: h\n1 Lock Is Locked: h\n")
        .await;
    let mut rest = Vec::new();
    b.stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // A waiting line that arrives with the FIN (unterminated) is answered at once.
    let mut c = Client::connect(&s).await;
    c.send(b"sgw 60000 1 x\ni h\ngw 60000 h").await;
    c.stream.shutdown().await.unwrap();
    c.expect(b"1 Shared Lock Get Success: x\n1 Lock Is Locked: h\n0 Lock Get Timeout: h\n")
        .await;
    let mut rest = Vec::new();
    c.stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // Nobody was granted `h` behind a's back: releasing it leaves it free, nothing orphaned.
    a.ask("r h\n", "1 Lock Release Success: h\n").await;
    a.ask("i h\n", "0 Lock Not Locked: h\n").await;
    let stats = a.stats().await;
    assert!(stats.contains(&("orphans".into(), 0)), "{stats:?}");
    assert_eq!(s.waiting().await, 0);
}

#[tokio::test]
async fn dual_stack_and_ipv6_ids() {
    // A `::` listener sees IPv4 clients as IPv4-mapped addresses: shown as plain IPv4.
    let Ok(listener) = TcpListener::bind("[::]:0").await else {
        eprintln!("no IPv6 on this machine: skipped");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = Server::new(LockManager::new(), Config::default());
    tokio::spawn(async move { server.serve(listener, std::future::pending::<()>()).await });
    let mut v4 = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let id = v4.local_addr().unwrap().to_string();
    assert!(id.starts_with("127.0.0.1:"));
    v4.write_all(b"me\n").await.unwrap();
    let want = format!("1 {id} {id}\n");
    let mut got = vec![0; want.len()];
    v4.read_exact(&mut got).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    if let Ok(mut v6) = TcpStream::connect(("::1", port)).await {
        let id = format!("[::1]:{}", v6.local_addr().unwrap().port());
        v6.write_all(b"me\n").await.unwrap();
        let want = format!("1 {id} {id}\n");
        let mut got = vec![0; want.len()];
        v6.read_exact(&mut got).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
}

#[tokio::test]
async fn idle_timeout_closes_and_releases() {
    let s = start_with(|c| c.idle_timeout = Some(Duration::from_millis(50))).await;
    let mut a = Client::connect(&s).await;
    a.ask("g idle\n", "1 Lock Get Success: idle\n").await;
    let mut rest = Vec::new();
    a.stream.read_to_end(&mut rest).await.unwrap(); // closed by the server once silent
    assert!(rest.is_empty());
    while s.locks().await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_up_others() {
    let s = start().await;
    let mut greedy = Client::connect(&s).await;
    greedy.ask("g mine\n", "1 Lock Get Success: mine\n").await;
    // Megabytes of requests whose replies are never read: the server stops reading from this
    // connection once its replies back up, and serves everyone else meanwhile.
    let flood = b"i mine\n".repeat(200_000);
    let writer = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), greedy.stream.write_all(&flood)).await;
        greedy // kept alive (and unread) until the end of the test
    });
    let mut other = Client::connect(&s).await;
    for i in 0..100 {
        other
            .ask(&format!("g o{i}\n"), &format!("1 Lock Get Success: o{i}\n"))
            .await;
    }
    other.ask("i mine\n", "1 Lock Is Locked: mine\n").await;
    drop(writer.await.unwrap());
}

/// The Node port's stats test (nylen/lockd test/batch/protocol.js, "allows getting connection
/// stats"), step for step in every flag configuration: the counter deltas must be exact (§13).
#[tokio::test]
async fn node_suite_stats_deltas_in_all_four_configurations() {
    for (dump, registry) in [(true, true), (false, true), (true, false), (false, false)] {
        let s = start_with(|c| {
            c.dump = dump;
            c.registry = registry;
        })
        .await;
        let mut c1 = Client::connect(&s).await;
        let mut c2 = Client::connect(&s).await;
        let mut c3 = Client::connect(&s).await;
        let (i1, i2, i3) = (c1.id.clone(), c2.id.clone(), c3.id.clone());
        // The server counts a connection once it accepts it, which on a busy machine can come
        // after the client's connect has returned and its first request is read: the first
        // stats are those that show all three (the deltas below are measured from them).
        let stats1 = loop {
            let stats = c1.stats().await;
            if stat(&stats, "connections") == 3 {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let keys: Vec<_> = stats1.iter().map(|(k, _)| k.clone()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(stat(&stats1, "connections"), 3);
        assert_eq!(
            (stat(&stats1, "locks"), stat(&stats1, "shared_locks")),
            (0, 0)
        );
        let off = "0 disabled\n".to_string();
        for i in 1..=3 {
            c1.ask(
                &format!("i asdf{i}\n"),
                &format!("0 Lock Not Locked: asdf{i}\n"),
            )
            .await;
        }
        c1.ask("g asdf1\n", "1 Lock Get Success: asdf1\n").await;
        c1.ask("g asdf2\n", "1 Lock Get Success: asdf2\n").await;
        c1.ask("r asdf2\n", "1 Lock Release Success: asdf2\n").await;
        c2.ask("g asdf2\n", "1 Lock Get Success: asdf2\n").await;
        c3.ask("g asdf3\n", "1 Lock Get Success: asdf3\n").await;
        let d = format!("asdf1: {i1}\nasdf2: {i2}\nasdf3: {i3}\n");
        let d2 = format!("asdf2: {i2}\n");
        c2.ask("d\n", if dump { &d } else { &off }).await;
        c1.ask("d asdf2\n", if dump { &d2 } else { &off }).await;
        c1.ask("si asdf\n", "0 Shared Lock Not Locked: asdf\n")
            .await;
        c1.ask("sg asdf\n", "1 Shared Lock Get Success: asdf\n")
            .await;
        c2.ask("sg asdf\n", "2 Shared Lock Get Success: asdf\n")
            .await;
        c3.ask("sg asdf\n", "3 Shared Lock Get Success: asdf\n")
            .await;
        c2.ask("sr asdf\n", "1 Shared Lock Release Success: asdf\n")
            .await;
        c2.ask("sg asdg\n", "1 Shared Lock Get Success: asdg\n")
            .await;
        let sd = format!("asdf: {i1}\nasdf: {i3}\n");
        c1.ask("sd asdf\n", if dump { &sd } else { &off }).await;
        // client1 disconnects; the Node client waits for the close, then goes on at once.
        c1.stream.shutdown().await.unwrap();
        let mut rest = Vec::new();
        c1.stream.read_to_end(&mut rest).await.unwrap();
        // The server closes its side only after the cleanup (§9): already released now.
        assert!(
            !s.held("asdf1").await,
            "closed before its locks were released"
        );
        let mut n1 = Client::connect(&s).await;
        let _n2 = Client::connect(&s).await;
        let n3 = Client::connect(&s).await;
        // `xx` gets no reply: the next bytes to arrive are the `dump` reply's.
        n1.send(b"xx\ndump\n").await;
        if dump {
            assert!(n1.line().await.starts_with('{'));
        } else {
            n1.expect(off.as_bytes()).await;
        }
        n1.send(b"dump shared\n").await;
        if dump {
            assert!(n1.line().await.starts_with('{'));
        } else {
            n1.expect(off.as_bytes()).await;
        }
        let n1id = n1.id.clone();
        n1.ask("me\n", &format!("1 {n1id} {n1id}\n")).await;
        n1.ask("iam c1\n", if registry { "1 ok\n" } else { &off })
            .await;
        let who = format!("{n1id}: c1\n");
        n1.ask("who\n", if dump && registry { &who } else { &off })
            .await;
        let stats2 = c2.stats().await;
        assert_eq!(
            stats2
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .len(),
            19,
            "the 16 base keys and command_iam, command_me, command_who"
        );
        let delta = |k: &str| {
            let before = stats1.iter().find(|(x, _)| x == k).map_or(0, |(_, v)| *v);
            stat(&stats2, k) as i64 - before as i64
        };
        let expected = [
            ("command_d", 2),
            ("command_dump", 2),
            ("command_g", 4),
            ("command_i", 3),
            ("command_iam", 1),
            ("command_me", 1),
            ("command_q", 1),
            ("command_r", 1),
            ("command_sd", 1),
            ("command_sg", 4),
            ("command_si", 1),
            ("command_sr", 1),
            ("command_who", 1),
            ("connections", 2),
            ("invalid_commands", 1),
            ("locks", 2),
            ("orphans", 1),
            ("shared_locks", 2),
            ("shared_orphans", 1),
        ];
        for (k, want) in expected {
            assert_eq!(delta(k), want, "{k} with dump={dump} registry={registry}");
        }
        drop((c2, c3, n3));
    }
}

/// The Node client's `disconnect` destroys its socket and reports at once, and the suite then
/// has another client take the orphaned lock immediately (§13): the server must have released
/// it by the time that request is processed, on a multi-threaded runtime too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_lock_is_free_for_the_very_next_request() {
    if direct_only(
        "a tunnel passes a client's close on later than its next request on another connection",
    ) {
        return;
    }
    let s = start().await;
    let mut b = Client::connect(&s).await;
    let mut failures = 0;
    for i in 0..500 {
        let mut a = Client::connect(&s).await;
        a.ask(&format!("g o{i}\n"), &format!("1 Lock Get Success: o{i}\n"))
            .await;
        drop(a); // close, no waiting for the server
        if i % 2 == 1 {
            // "asks i at once": must see it free
            let line = b.line_for(&format!("i o{i}\n")).await;
            failures += usize::from(!line.starts_with("0 Lock Not Locked"));
            continue;
        }
        let line = b.line_for(&format!("g o{i}\n")).await;
        failures += usize::from(line.starts_with('0'));
        b.ask(
            &format!("r o{i}\n"),
            &format!("1 Lock Release Success: o{i}\n"),
        )
        .await;
    }
    assert_eq!(failures, 0, "requests that saw an orphaned lock still held");
}

#[tokio::test]
async fn close_stops_accepting_and_returns_when_clients_leave() {
    let mut s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("g c\n", "1 Lock Get Success: c\n").await;
    s.handle.close();
    // Existing clients keep being served, with their locks.
    a.ask("i c\n", "1 Lock Is Locked: c\n").await;
    assert!(!s.task.is_finished());
    drop(a);
    (&mut s.task).await.unwrap().unwrap(); // returns once the last client has left and cleaned up
    assert_eq!(s.locks().await, 0);
    // No longer accepting.
    let refused = TcpStream::connect(s.addr).await;
    assert!(refused.is_err(), "the listener is closed");
}

#[tokio::test]
async fn a_registered_name_never_replaces_the_display_id_in_dumps() {
    // Not even one that looks like a Consul session's id: `dump` shows connections by id.
    let s = start().await;
    let mut a = Client::connect(&s).await;
    a.ask("iam consul:not-a-session\n", "1 ok\n").await;
    a.ask("g n\n", "1 Lock Get Success: n\n").await;
    let id = a.id.clone();
    a.ask("dump\n", &format!("{{\"n\":\"{id}\"}}\n")).await;
    a.ask("d\n", "n: consul:not-a-session\n").await; // `d` shows registered names
}
