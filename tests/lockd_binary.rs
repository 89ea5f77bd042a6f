//! The `lockd` binary as an operator runs it: options, listeners, ids, signals.
#![cfg(all(feature = "cli", unix))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lockd");

/// Starts `lockd ARGS`, returns the child and the TCP address it logged.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let (child, addr, _lines) = start(cmd);
    (child, addr)
}

/// Starts `cmd` (which runs lockd), returns the child, the TCP address it logged, and every
/// later line of its log.
fn start(mut cmd: Command) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("addr=").nth(1) {
                let _ = addr_tx.send(addr.trim().to_string());
            }
            let _ = line_tx.send(line);
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("lockd logs its address");
    (child, addr, line_rx)
}

fn ask<S: Read + Write>(stream: &mut S, request: &str, expected: &str) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--bind",
        "--port",
        "--unix",
        "--disable-dump",
        "--disable-registry",
        "--max-line-bytes",
        "--max-connections",
        "--max-locks-per-session",
        "--keepalive",
        "--idle-timeout",
        "--log",
        "--max-wait-ms",
        "--backlog",
        "--max-pending-output",
        "--log-format",
        "--acl",
        "LOCKD_ACL",
        "--auth-max-failures",
        "LOCKD_KEEPALIVE",
        "LOCKD_MAX_PENDING_OUTPUT",
        "RUST_LOG",
        "SIGHUP",
        "127.0.0.1",
        "9999",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    #[cfg(feature = "http")]
    for flag in [
        "--http ",
        "--http-token",
        "LOCKD_HTTP_TOKEN",
        "--http-datacenter",
        "--http-node",
        "--session-ttl-min",
        "--kv-max-value-size",
        "--default-query-time",
        "--max-query-time",
        "--tombstone-ttl",
        "--http-max-connections",
        "--no-tcp",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    #[cfg(feature = "tls")]
    for flag in [
        "--tls-port",
        "--tls-cert",
        "--tls-key",
        "--tls-client-ca",
        "--tls-handshake-timeout",
        "--no-plaintext",
        "LOCKD_TLS_CERT",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    #[cfg(all(feature = "tls", feature = "http"))]
    assert!(help.contains("--https"), "--help lacks --https");
    #[cfg(feature = "etcd")]
    for flag in [
        "--etcd ",
        "LOCKD_ETCD",
        "--etcd-prefix",
        "--etcd-lease-ttl",
        "--etcd-request-timeout",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[cfg(all(feature = "etcd", feature = "http"))]
#[test]
fn etcd_and_the_consul_api_together_are_refused_with_a_reason() {
    let out = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--etcd",
            "http://127.0.0.1:1",
            "--http",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot be combined with --etcd"),
        "{stderr}"
    );
}

#[cfg(feature = "etcd")]
#[test]
fn an_unreachable_etcd_cluster_is_a_startup_error_that_names_it() {
    let out = Command::new(BIN)
        .args(["--port", "0", "--etcd", "http://127.0.0.1:1"])
        .args(["--etcd-request-timeout", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connecting to etcd at http://127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn tcp_and_unix_listeners_ids_and_sigterm() {
    let dir = std::env::temp_dir().join(format!("lockd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("lockd.sock");
    let sock_str = sock.to_str().unwrap();
    // A stale socket file from a previous run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let (mut child, addr) = spawn(&["--port", "0", "--unix", sock_str, "--disable-dump"]);
    assert!(
        addr.starts_with("127.0.0.1:"),
        "default bind is loopback: {addr}"
    );

    let mut tcp = TcpStream::connect(&addr).unwrap();
    let me = tcp.local_addr().unwrap().to_string();
    ask(&mut tcp, "me\n", &format!("1 {me} {me}\n"));
    ask(
        &mut tcp,
        "g shared-by-both\n",
        "1 Lock Get Success: shared-by-both\n",
    );
    ask(&mut tcp, "d\n", "0 disabled\n");

    let mut u1 = UnixStream::connect(&sock).unwrap();
    ask(&mut u1, "me\n", "1 unix:1 unix:1\n");
    ask(
        &mut u1,
        "g shared-by-both\n",
        "0 Lock Get Failure: shared-by-both\n",
    );
    let mut u2 = UnixStream::connect(&sock).unwrap();
    ask(&mut u2, "me\n", "1 unix:2 unix:2\n");

    let status = terminate(&mut child);
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    assert!(
        !sock.exists(),
        "the socket file is removed on clean shutdown"
    );
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest); // the server closed our connection
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_to_replace_a_regular_file() {
    let path = std::env::temp_dir().join(format!("lockd-not-a-socket-{}", std::process::id()));
    std::fs::write(&path, b"precious").unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--unix", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn out_of_file_descriptors_closes_the_waiting_clients_instead_of_leaving_them_hanging() {
    // The server may open only 40 descriptors (soft and hard): 100 clients run it out.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n 40 && exec {BIN} --port 0 --log warn,lockd=info"),
    ]);
    let (mut child, addr, lines) = start(cmd);
    let mut first = TcpStream::connect(&addr).unwrap();
    ask(&mut first, "g kept\n", "1 Lock Get Success: kept\n");
    let mut crowd: Vec<_> = (0..100)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Every client is either served or closed; none is left waiting (the read timeout would
    // fail the test).
    let (mut served, mut closed) = (0, 0);
    for client in &mut crowd {
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = client.write_all(b"i kept\n");
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match client.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => reply.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("a client was left hanging: {e}"),
            }
        }
        match reply.as_slice() {
            b"1 Lock Is Locked: kept" => served += 1,
            b"" => closed += 1,
            other => panic!("unexpected reply {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert!(closed > 0 && served > 0, "served {served}, closed {closed}");
    let warning = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(30)).ok())
        .find(|l| l.contains("out of file descriptors"))
        .expect("running out of descriptors is logged");
    assert!(warning.contains("closed at once"), "{warning}");
    // The server is still serving the connections it has, with their locks.
    ask(&mut first, "i kept\n", "1 Lock Is Locked: kept\n");
    drop(crowd);
    // Once the server has seen the crowd leave, its descriptors are free again and new clients
    // are served. (Until then a newcomer may still be shed: it is retried.)
    served_again(|| {
        let mut late = TcpStream::connect(&addr).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reply = [0u8; 23];
        let served = late.write_all(b"i kept\n").is_ok() && late.read_exact(&mut reply).is_ok();
        served.then(|| assert_eq!(&reply, b"1 Lock Is Locked: kept\n"))
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    assert!(terminate(&mut child).success());
}

/// Retries `attempt` (a new client each time) until it is served, for at most 30 s: after a
/// crowd of clients leaves, the server frees their descriptors only once it has seen them go.
fn served_again(mut attempt: impl FnMut() -> Option<()>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while attempt().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "a late client is never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, at most `limit`.
fn exits_within(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().unwrap());
    });
    rx.recv_timeout(limit)
        .expect("lockd exits after the signal")
}

#[test]
fn sigterm_and_sighup_shut_down_cleanly_even_with_stderr_closed() {
    for signal in ["-TERM", "-HUP"] {
        let mut child = Command::new(BIN)
            .args(["--port", "0", "--log", "debug"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the address, then close our end of stderr: every later log write fails.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "lockd logs its address"
            );
            if let Some(addr) = line.split("addr=").nth(1) {
                break addr.trim().to_string();
            }
        };
        drop(stderr);
        let mut client = TcpStream::connect(&addr).unwrap();
        ask(&mut client, "g held\n", "1 Lock Get Success: held\n"); // logs, into the void
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = exits_within(child, Duration::from_secs(30));
        assert!(status.success(), "{signal}: {status:?}");
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest); // the server closed our connection
        assert!(rest.is_empty());
    }
}

#[test]
fn startup_errors_say_which_address_and_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN).args(["--port", &port]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    assert!(!err.contains("Os {"), "Debug output: {err}");
    #[cfg(feature = "http")]
    {
        let out = Command::new(BIN).arg("--no-tcp").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "--no-tcp without --http is rejected"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("--http"));
    }
}

#[test]
fn every_option_has_an_environment_variable_and_logs_can_be_json() {
    let mut child = Command::new(BIN)
        .env("LOCKD_PORT", "0")
        .env("LOCKD_MAX_LINE_BYTES", "8")
        .env("LOCKD_DISABLE_DUMP", "true")
        .env("LOCKD_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a log line")
    };
    let addr = loop {
        let line = next();
        let json: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
        if let Some(addr) = json["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    let mut client = TcpStream::connect(&addr).unwrap();
    ask(&mut client, "g 123456789\n", "0 Line Too Long\n");
    ask(&mut client, "d\n", "0 disabled\n");
    drop(client);
    // RUST_LOG=debug: the connection's start and end are logged, with the end's reason.
    let ended = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(30)).ok())
        .find(|l| l.contains("connection ended"))
        .expect("the connection's end is logged");
    assert!(
        ended.contains("closed by peer") && ended.contains("\"released\":0"),
        "{ended}"
    );
    assert!(terminate(&mut child).success());
}

/// One HTTP/1.1 request on its own connection; returns the status line and the body.
#[cfg(feature = "http")]
fn http(addr: &str, method: &str, path: &str, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n{headers}\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[cfg(feature = "http")]
#[test]
fn http_api_beside_the_lockd_listener_with_a_token() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--port",
        "0",
        "--http",
        "127.0.0.1:0",
        "--session-ttl-min",
        "1s",
    ])
    .env("LOCKD_HTTP_TOKEN", "s3cret");
    let (mut child, http_addr, lines) = start(cmd);
    let tcp_addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        if line.contains("lockd listening") {
            break line.split("addr=").nth(1).unwrap().trim().to_string();
        }
    };
    let token = "X-Consul-Token: s3cret\r\n";
    let (status, _) = http(&http_addr, "GET", "/v1/status/leader", "");
    assert!(status.contains(" 403 "), "{status}");
    let (status, body) = http(&http_addr, "GET", "/v1/status/leader", token);
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "\"127.0.0.1:8300\"");
    let (_, body) = http(&http_addr, "PUT", "/v1/session/create", token);
    let sid = body.split('"').nth(3).unwrap().to_string();
    let (_, body) = http(
        &http_addr,
        "PUT",
        &format!("/v1/kv/cron?acquire={sid}"),
        token,
    );
    assert_eq!(body, "true");
    let mut lockd = TcpStream::connect(&tcp_addr).unwrap();
    ask(&mut lockd, "g cron\n", "0 Lock Get Failure: cron\n");
    ask(&mut lockd, "d cron\n", &format!("cron: consul:{sid}\n"));
    let (status, _) = http(&http_addr, "PUT", "/v1/session/create", "");
    assert!(status.contains(" 403 "));
    assert!(terminate(&mut child).success());
}

#[cfg(feature = "http")]
#[test]
fn http_api_alone_and_bad_durations() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--no-tcp", "--port", "1", "--http", "127.0.0.1:0"]);
    let (mut child, http_addr, _) = start(cmd);
    let (status, body) = http(&http_addr, "GET", "/v1/agent/self", "");
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("\"NodeName\":\"lockd\""), "{body}");
    assert!(terminate(&mut child).success());

    let out = Command::new(BIN)
        .args(["--http", "127.0.0.1:0", "--max-query-time", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing unit in duration"), "{err}");
}

#[cfg(feature = "http")]
#[test]
fn http_out_of_file_descriptors_closes_the_waiting_clients_instead_of_leaving_them_hanging() {
    // The HTTP API alone, with 40 descriptors: 100 idle clients run it out.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n 40 && exec {BIN} --no-tcp --http 127.0.0.1:0 --log warn,lockd=info"),
    ]);
    let (mut child, addr, lines) = start(cmd);
    let (status, _) = http(&addr, "GET", "/v1/status/leader", "");
    assert!(status.contains(" 200 "), "{status}");
    let mut crowd: Vec<_> = (0..100)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Every client is either answered or closed; none is left waiting in the backlog (the read
    // timeout would fail the test).
    let (mut served, mut closed) = (0, 0);
    for client in &mut crowd {
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = client
            .write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut reply = Vec::new();
        match client.read_to_end(&mut reply) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a client was left hanging: {e}"),
        }
        if reply.is_empty() {
            closed += 1;
        } else {
            assert!(reply.starts_with(b"HTTP/1.1 200 "), "{reply:?}");
            served += 1;
        }
    }
    assert!(closed > 0 && served > 0, "served {served}, closed {closed}");
    let warning = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(30)).ok())
        .find(|l| l.contains("out of file descriptors"))
        .expect("running out of descriptors is logged");
    assert!(warning.contains("closed at once"), "{warning}");
    drop(crowd);
    // Served again once the server has seen the crowd leave (a newcomer before that is retried).
    served_again(|| {
        let served = std::panic::catch_unwind(|| http(&addr, "GET", "/v1/status/leader", ""));
        served
            .ok()
            .map(|(status, _)| assert!(status.contains(" 200 "), "{status}"))
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn every_time_option_takes_go_durations_and_the_old_bare_numbers() {
    // Go syntax everywhere: a silent client is closed after the idle timeout, and a wait is
    // cut to --max-wait.
    let (mut child, addr) = spawn(&[
        "--port",
        "0",
        "--keepalive",
        "1m30s",
        "--idle-timeout",
        "1500ms",
        "--max-wait",
        "200ms",
    ]);
    let mut holder = TcpStream::connect(&addr).unwrap();
    ask(&mut holder, "g x\n", "1 Lock Get Success: x\n");
    let mut waiter = TcpStream::connect(&addr).unwrap();
    waiter
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let asked = std::time::Instant::now();
    ask(&mut waiter, "gw 60000 x\n", "0 Lock Get Timeout: x\n");
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "the wait was cut"
    );
    // The holder says nothing more: the idle timeout closes it and frees x.
    holder
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = holder.read_to_end(&mut rest);
    let mut late = TcpStream::connect(&addr).unwrap();
    ask(&mut late, "g x\n", "1 Lock Get Success: x\n");
    assert!(terminate(&mut child).success());

    // The older bare numbers: seconds for --keepalive and --idle-timeout, milliseconds for
    // --max-wait-ms.
    let (mut child, addr) = spawn(&[
        "--port",
        "0",
        "--keepalive",
        "30",
        "--idle-timeout",
        "0",
        "--max-wait-ms",
        "100",
    ]);
    let mut holder = TcpStream::connect(&addr).unwrap();
    ask(&mut holder, "g y\n", "1 Lock Get Success: y\n");
    let mut waiter = TcpStream::connect(&addr).unwrap();
    waiter
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    ask(&mut waiter, "gw 60000 y\n", "0 Lock Get Timeout: y\n");
    assert!(terminate(&mut child).success());

    let out = Command::new(BIN)
        .args(["--keepalive", "10x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--keepalive") && err.contains("unknown unit"),
        "{err}"
    );
}

#[test]
fn a_bad_acl_file_is_a_startup_error_that_never_shows_a_secret() {
    let dir = std::env::temp_dir().join(format!("lockd-acl-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl.toml");
    std::fs::write(
        &acl,
        "[[token]]\nsecret = \"hunter2-secret\"\nnames = [\"*\"]\nallow = [\"lok\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--acl"])
        .arg(&acl)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token 1") && stderr.contains("lok"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    let missing = Command::new(BIN)
        .args(["--port", "0", "--acl", "/nonexistent/acl.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/acl.toml"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "http")]
#[test]
fn an_acl_and_the_single_http_token_together_are_refused() {
    let dir = std::env::temp_dir().join(format!("lockd-acl-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl.toml");
    std::fs::write(
        &acl,
        "[[token]]\nsecret = \"long-enough\"\nnames = [\"*\"]\nallow = [\"read\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--http",
            "127.0.0.1:0",
            "--http-token",
            "t",
            "--acl",
        ])
        .arg(&acl)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one or the other"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn tls_only_with_no_plaintext_and_its_files_checked_at_start() {
    let dir = std::env::temp_dir().join(format!("lockd-tls-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    // TLS only: the one address logged is the TLS listener's; it answers no plaintext.
    let (mut child, addr, lines) = {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--tls-port", "0", "--no-plaintext"])
            .args(["--tls-cert", cert_arg, "--tls-key", key_arg]);
        start(cmd)
    };
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain.write_all(b"g x\n").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("Lock"), "{got:?}");
    assert!(terminate(&mut child).success());
    let logged: Vec<String> = lines.try_iter().collect();
    assert!(
        !logged
            .iter()
            .any(|l| l.contains("lockd listening") && !l.contains("TLS")),
        "no plaintext listener: {logged:?}"
    );
    // A key file that is not a key: a startup error naming it.
    std::fs::write(&key_path, "not a key").unwrap();
    let out = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--tls-port",
            "0",
            "--tls-cert",
            cert_arg,
            "--tls-key",
            key_arg,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key.pem"), "{stderr}");
    // --tls-port without its files is refused by the argument parser.
    let out = Command::new(BIN)
        .args(["--tls-port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // TLS files, or a client CA, without any TLS listener: refused, not ignored.
    for args in [
        vec!["--tls-client-ca", cert_arg],
        vec!["--tls-cert", cert_arg, "--tls-key", key_arg],
    ] {
        let out = Command::new(BIN)
            .args(["--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("need a TLS listener"), "{stderr}");
    }
    // --https checks the same files before it binds (a broken key: a startup error).
    #[cfg(feature = "http")]
    {
        let out = Command::new(BIN)
            .args(["--port", "0", "--https", "127.0.0.1:0"])
            .args(["--tls-cert", cert_arg, "--tls-key", key_arg])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("key.pem"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
