//! Shared by the Consul API tests: an HTTP server over a fresh `LockManager` on 127.0.0.1:0,
//! and a small keep-alive client that returns status, headers and body.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lockd::LockManager;
use lockd::http::{HttpConfig, HttpServer};
use serde_json::Value;

/// A Consul API client for tests.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub addr: std::net::SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    headers: Vec<(String, String)>,
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn index(&self) -> u64 {
        self.header("x-consul-index")
            .expect("X-Consul-Index missing")
            .parse()
            .unwrap()
    }
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// Starts an HTTP API server with `config` (its address is replaced by 127.0.0.1:0) over a new
/// manager.
pub async fn start(config: HttpConfig) -> (Api, LockManager) {
    let mgr = LockManager::new();
    (start_over(mgr.clone(), config).await, mgr)
}

/// Starts an HTTP API server over `mgr`.
pub async fn start_over(mgr: LockManager, config: HttpConfig) -> Api {
    start_server(mgr, config).await.0
}

/// Starts an HTTP API server over `mgr`; also returns the server, for its stats.
pub async fn start_server(mgr: LockManager, config: HttpConfig) -> (Api, Arc<HttpServer>) {
    let config = config.bind("127.0.0.1:0".parse().unwrap());
    let server = Arc::new(HttpServer::new(mgr, config));
    let listener = server.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending::<()>()).await });
    (Api::new(addr), server)
}

/// Waits (polling) until `server` has `n` parked blocking queries.
pub async fn until_parked(server: &HttpServer, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.stats().parked_queries < n {
        assert!(
            std::time::Instant::now() < deadline,
            "queries never parked: {:?}",
            server.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (polling) until `server` has no parked blocking query.
pub async fn until_unparked(server: &HttpServer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.stats().parked_queries > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a query stayed parked: {:?}",
            server.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            headers: Vec::new(),
        }
    }

    /// The same client, sending `name: value` on every request.
    pub fn with_header(&self, name: &str, value: &str) -> Api {
        let mut api = self.clone();
        api.headers.push((name.into(), value.into()));
        api
    }

    pub async fn call(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .expect("no answer in 60 s")
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, b"").await
    }
    pub async fn put(&self, path: &str, body: &str) -> Reply {
        self.call("PUT", path, body.as_bytes()).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, b"").await
    }

    /// Creates a session with `body`; returns its id.
    pub async fn session(&self, body: &str) -> String {
        let r = self.put("/v1/session/create", body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["ID"].as_str().unwrap().to_owned()
    }

    /// `PUT /v1/kv/<key>?<op>` with `body`; the JSON boolean.
    pub async fn put_bool(&self, path: &str, body: &str) -> bool {
        let r = self.put(path, body).await;
        assert_eq!(r.status, 200, "PUT {path}: {}", r.text());
        r.json().as_bool().unwrap()
    }

    /// The single entry of `GET /v1/kv/<key>`, or `None` on 404.
    pub async fn entry(&self, key: &str) -> Option<Value> {
        let r = self.get(&format!("/v1/kv/{key}")).await;
        match r.status {
            404 => None,
            200 => Some(r.json()[0].clone()),
            s => panic!("GET {key}: {s} {}", r.text()),
        }
    }
}

/// A config for tests: short TTLs allowed.
pub fn config() -> HttpConfig {
    HttpConfig::default().session_ttl_min(Duration::from_millis(100))
}
