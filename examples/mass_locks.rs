//! One client connection that takes many locks at once, then releases them all, for
//! `benches/memory_after_release.sh` (server memory after a mass release).
//!
//! It writes `g NAME` lines in large pipelined batches while a second thread reads the replies,
//! then reports `held N in MS ms` and waits for a line on stdin (the script measures the
//! server's peak memory meanwhile). Then it releases everything in one of two ways:
//!
//! - `--release by-name`: `r NAME` lines, pipelined the same way, on the same connection, which
//!   stays open: the session lives on with nothing held;
//! - `--release disconnect`: it closes the connection, and the server releases the session's
//!   locks itself.
//!
//! Either way it then asks `q` (on the same connection, or on a new one after a disconnect)
//! until the server reports `locks: 0`, prints `released in MS ms`, and waits for another line
//! on stdin before it exits (so the by-name connection is still open while the script measures).
//!
//! ```sh
//! cargo run --release --features tcp-server --example mass_locks -- --addr 127.0.0.1:9999 \
//!     --locks 1000000 --release by-name
//! ```

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Bytes written per batch.
const BATCH: usize = 256 * 1024;

struct Args {
    addr: String,
    locks: usize,
    by_name: bool,
    prefix: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: mass_locks [--addr HOST:PORT] [--locks N] [--release by-name|disconnect] \
         [--prefix P]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:9999".into(),
        locks: 1_000_000,
        by_name: true,
        prefix: "mass-".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--locks" => args.locks = value.parse().unwrap_or_else(|_| usage()),
            "--release" => {
                args.by_name = match value.as_str() {
                    "by-name" => true,
                    "disconnect" => false,
                    _ => usage(),
                }
            }
            "--prefix" => args.prefix = value,
            _ => usage(),
        }
    }
    args
}

fn fail(what: &str) -> ! {
    eprintln!("mass_locks: {what}");
    std::process::exit(1)
}

/// Sends `VERB NAME` for every name, in big batches, while this thread counts the reply lines
/// that start with `1 ` (success); returns how many did.
fn pipelined(stream: &TcpStream, verb: &str, args: &Args) -> usize {
    let mut writer = stream.try_clone().unwrap_or_else(|e| fail(&e.to_string()));
    let (verb, prefix, n) = (verb.to_owned(), args.prefix.clone(), args.locks);
    let sender = thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH + 256);
        for i in 0..n {
            let _ = writeln!(batch, "{verb} {prefix}{i}");
            if batch.len() >= BATCH {
                writer.write_all(&batch)?;
                batch.clear();
            }
        }
        writer.write_all(&batch)
    });
    let mut reader = BufReader::with_capacity(BATCH, stream);
    let (mut lines, mut ok) = (0, 0);
    let mut line = Vec::new();
    while lines < n {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => fail(&format!(
                "the server closed the connection after {lines} replies"
            )),
            Ok(_) => {}
            Err(e) => fail(&e.to_string()),
        }
        lines += 1;
        ok += usize::from(line.starts_with(b"1 "));
    }
    if let Err(e) = sender.join().expect("sender thread") {
        fail(&e.to_string());
    }
    ok
}

/// `q`'s `locks` value, read on `stream` (the block ends with its last key, `shared_orphans`).
fn held_locks(stream: &TcpStream) -> u64 {
    let mut w = stream;
    w.write_all(b"q\n").unwrap_or_else(|e| fail(&e.to_string()));
    let mut locks = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut byte = [0u8];
        // Byte by byte: nothing after the block may be read ahead of its reader.
        loop {
            match (&*stream).read(&mut byte) {
                Ok(1) if byte[0] == b'\n' => break,
                Ok(1) => line.push(byte[0]),
                Ok(_) => fail("the server closed the connection during q"),
                Err(e) => fail(&e.to_string()),
            }
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(v) = text.strip_prefix("locks: ") {
            locks = v.trim().parse().ok();
        }
        if text.starts_with("shared_orphans:") {
            return locks.unwrap_or_else(|| fail("q has no locks line"));
        }
    }
}

/// Asks `q` until no lock is held.
fn wait_for_zero(stream: &TcpStream) {
    while held_locks(stream) != 0 {
        thread::sleep(Duration::from_millis(50));
    }
}

fn pause() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("{addr}: {e}")));
    let _ = stream.set_nodelay(true);
    stream
}

fn main() {
    let args = parse_args();
    let mut out = BufWriter::new(std::io::stdout());
    let stream = connect(&args.addr);

    let start = Instant::now();
    let granted = pipelined(&stream, "g", &args);
    if granted != args.locks {
        fail(&format!("{granted} of {} gets succeeded", args.locks));
    }
    let _ = writeln!(out, "held {granted} in {} ms", start.elapsed().as_millis());
    let _ = out.flush();
    pause();

    let start = Instant::now();
    let keep = if args.by_name {
        let released = pipelined(&stream, "r", &args);
        if released != args.locks {
            fail(&format!("{released} of {} releases succeeded", args.locks));
        }
        wait_for_zero(&stream);
        Some(stream)
    } else {
        drop(stream);
        wait_for_zero(&connect(&args.addr));
        None
    };
    let _ = writeln!(out, "released in {} ms", start.elapsed().as_millis());
    let _ = out.flush();
    pause();
    drop(keep);
}
