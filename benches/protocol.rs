//! Protocol benchmarks, each with a baseline in the same group:
//! - `parse_format`: framing + parsing a request line and formatting its reply, against the
//!   floor of merely finding the line end and copying the bytes;
//! - `round_trip`: one `g`/`r` request over loopback TCP to an in-process lockd server, against
//!   a bare echo server on the same runtime (the network floor).
//!
//! Run: `cargo bench --features tcp-server --bench protocol`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lockd::protocol::{Frame, Line, LineDecoder, parse_line, reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LINE: &[u8] = b"g   jobs/nightly-0042  \r\n";

fn parse_format(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_format");
    g.throughput(Throughput::Elements(1));
    g.bench_function("floor_find_lf_and_copy", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            let line = black_box(LINE);
            let end = line.iter().position(|&b| b == b'\n').unwrap();
            out.clear();
            out.extend_from_slice(&line[..end]);
            black_box(&out);
        })
    });
    g.bench_function("lockd_frame_parse_reply", |b| {
        let mut decoder = LineDecoder::new(65536);
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            let (_, frame) = decoder.decode(black_box(LINE));
            let Some(Frame::Line(line)) = frame else {
                unreachable!()
            };
            let Line::Request { arg, .. } = parse_line(&line) else {
                unreachable!()
            };
            out.clear();
            reply::lock(&mut out, 1, reply::GET_SUCCESS, &arg);
            black_box(&out);
        })
    });
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (lockd_addr, echo_addr) = rt.block_on(async {
        let server = lockd::server::Server::new(lockd::LockManager::new(), Default::default());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lockd_addr = l.local_addr().unwrap();
        tokio::spawn(async move { server.serve(l, std::future::pending::<()>()).await });
        let e = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = e.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = e.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (lockd_addr, echo_addr)
    });
    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(1));
    for (name, addr, reqs) in [
        ("floor_echo", echo_addr, [&b"g rt\n"[..], b"r rt\n"]),
        ("lockd_get_release", lockd_addr, [&b"g rt\n"[..], b"r rt\n"]),
    ] {
        let mut s = rt.block_on(tokio::net::TcpStream::connect(addr)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 256];
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    s.write_all(reqs[i % 2]).await.unwrap();
                    i += 1;
                    let mut got = 0;
                    while got == 0 || buf[got - 1] != b'\n' {
                        got += s.read(&mut buf[got..]).await.unwrap();
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse_format, round_trip);
criterion_main!(benches);
