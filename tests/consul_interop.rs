//! Interop with real third-party Consul clients (docs/consul-api.md §12 items 28, 29), pinned and installed by
//! `tests/interop/setup.sh` into `target/interop/`: node-consul 2.0.1, consul-locker's calls on
//! node-consul 0.13.0, python-consul 1.1.0 and py-consul 1.8.0. Each runs session create →
//! acquire → contended acquire fails → release → other acquires → destroy frees the lock, and a
//! blocking read woken by a change, against a server on 127.0.0.1.
#![cfg(feature = "http")]

mod support;
#[cfg(feature = "tls")]
mod tls_common;

use std::path::Path;
use std::process::Command;

use lockd::LockManager;
use lockd::http::HttpServer;
use support::{Api, config, start_server, until_parked};

/// Whether the pinned clients are installed (by `tests/interop/setup.sh`, which `.ci/run`
/// runs; a test never installs anything itself). Without them a test says what to run and is
/// skipped, unless `LOCKD_INTEROP_REQUIRED` is set (as `.ci/run` does), where it fails.
fn clients_ready() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop");
    let ready = ["node/.done", "py/python-consul/.done", "py/py-consul/.done"]
        .iter()
        .all(|marker| root.join(marker).exists());
    if !ready {
        let why = "the interop clients are not installed: run `bash tests/interop/setup.sh` first";
        assert!(
            std::env::var_os("LOCKD_INTEROP_REQUIRED").is_none(),
            "{why}"
        );
        eprintln!("skipped: {why}");
    }
    ready
}

/// Runs `program args…` against `server` with `WATCH_KEY=key`; once the program has a query
/// parked on the server (its blocking read of that key), writes `v2` there to wake it. Panics
/// with the program's output if it fails.
async fn run(
    api: &Api,
    server: &HttpServer,
    key: &str,
    program: &'static str,
    args: Vec<String>,
    mut env: Vec<(&'static str, String)>,
) {
    env.push(("WATCH_KEY", key.to_owned()));
    let child = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(&args)
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"))
    });
    until_parked(server, 1).await;
    assert!(api.put_bool(&format!("/v1/kv/{key}"), "v2").await);
    let output = child.await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} failed:\n{text}");
    println!("{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_consul_and_consul_locker_calls() {
    if !clients_ready() {
        return;
    }
    let (api, server) = start_server(LockManager::new(), config()).await;
    let port = api.addr.port().to_string();
    let args = vec!["tests/interop/node_consul.js".into(), port];
    run(&api, &server, "watched/node", "node", args, vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_consul_and_py_consul() {
    if !clients_ready() {
        return;
    }
    let (api, server) = start_server(LockManager::new(), config()).await;
    let port = api.addr.port().to_string();
    python_clients(&api, &server, &port, "watched", vec![]).await;
}

/// Runs tests/interop/python_consul.py with each python client against `port`, with `env`
/// added, watching keys under `prefix`.
async fn python_clients(
    api: &Api,
    server: &HttpServer,
    port: &str,
    prefix: &str,
    env: Vec<(&'static str, String)>,
) {
    for package in ["python-consul", "py-consul"] {
        let path = Path::new("target/interop/py").join(package);
        let args = vec![
            "tests/interop/python_consul.py".into(),
            port.to_string(),
            package.into(),
        ];
        let mut env = env.clone();
        env.push(("PYTHONPATH", path.display().to_string()));
        let key = format!("{prefix}/{package}");
        run(api, server, &key, "python3", args, env).await;
    }
}

/// python-consul and py-consul over HTTPS (feature `tls`): the same calls, the server's
/// certificate checked against the test's CA, the watched key written over plaintext HTTP to
/// the same server.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_consul_and_py_consul_over_https() {
    if !clients_ready() {
        return;
    }
    let ca = tls_common::Ca::new("lockd interop CA");
    let (cert, key) = ca.leaf("localhost", &["localhost"], false);
    let d = tls_common::dir("interop-https");
    let files = lockd::http::TlsFiles::new(
        tls_common::write(&d, "cert.pem", &cert),
        tls_common::write(&d, "key.pem", &key),
    );
    let ca_file = tls_common::write(&d, "ca.pem", &ca.cert.pem());
    let (api, server) = start_server(LockManager::new(), config()).await;
    let listener = server
        .bind_addr("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let serving = server.clone();
    tokio::spawn(async move {
        serving
            .serve_tls(listener, files, std::future::pending::<()>())
            .await
    });
    let env = vec![("CONSUL_CACERT", ca_file.display().to_string())];
    python_clients(&api, &server, &port, "watched/https", env).await;
    std::fs::remove_dir_all(d).unwrap();
}
