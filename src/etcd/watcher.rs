//! Watches a session's held keys, so that a holding whose key someone else deletes makes the
//! session lost at once (its lease's loss is the keep-alive's business). One watch stream per
//! session, one watch per held key, each cancelled once its key is gone.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, EventType, WatchFilterType, WatchOptions};
use tokio::sync::mpsc;

/// Called with a deleted key and the `create_revision` it had: the session decides whether that
/// was one of its live holdings.
pub(crate) type OnDelete = Arc<dyn Fn(&[u8], i64) + Send + Sync>;

/// The handle of a session's watcher task; dropping it ends the task.
pub(crate) struct Watcher {
    tx: mpsc::UnboundedSender<(Vec<u8>, i64)>,
}

impl Watcher {
    /// Starts the task. `held` lists the holdings to watch again after the stream breaks.
    pub(crate) fn start(
        client: Client,
        on_delete: OnDelete,
        held: Arc<dyn Fn() -> Vec<(Vec<u8>, i64)> + Send + Sync>,
    ) -> Watcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, on_delete, held, rx));
        Watcher { tx }
    }

    /// Watches `key`, made at `revision`, for its deletion.
    pub(crate) fn watch(&self, key: Vec<u8>, revision: i64) {
        let _ = self.tx.send((key, revision));
    }
}

fn options(revision: i64) -> WatchOptions {
    WatchOptions::new()
        .with_start_revision(revision + 1)
        .with_filters([WatchFilterType::NoPut])
        .with_prev_key()
}

async fn run(
    client: Client,
    on_delete: OnDelete,
    held: Arc<dyn Fn() -> Vec<(Vec<u8>, i64)> + Send + Sync>,
    mut rx: mpsc::UnboundedReceiver<(Vec<u8>, i64)>,
) {
    let mut stream: Option<etcd_client::WatchStream> = None;
    loop {
        let Some(s) = stream.as_mut() else {
            // (Re)open the stream and watch every holding again. A deletion while no stream
            // was open (or in history since compacted) is caught by reading each key first;
            // each watch then starts after that read.
            let mut wanted = held();
            if wanted.is_empty() {
                match rx.recv().await {
                    Some(k) => wanted.push(k),
                    None => return,
                }
            }
            match reopen(&client, &on_delete, wanted).await {
                Ok(s) => stream = s,
                Err(e) => {
                    tracing::debug!(error = %e, "held-key watch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some((key, rev)) => {
                    if s.watch(key, Some(options(rev))).await.is_err() {
                        stream = None;
                    }
                }
                None => return, // the session is gone
            },
            msg = s.message() => match msg {
                Ok(Some(r)) => {
                    let mut done = false;
                    for e in r.events() {
                        if e.event_type() == EventType::Delete {
                            if let Some(prev) = e.prev_kv() {
                                on_delete(prev.key(), prev.create_revision());
                            }
                            done = true;
                        }
                    }
                    // Each watch covers one key: once it is deleted, the watch is done.
                    if done && s.cancel(r.watch_id()).await.is_err() {
                        stream = None;
                    }
                    if r.canceled() && r.compact_revision() > 0 {
                        stream = None; // start again from a read of each holding
                    }
                }
                Ok(None) | Err(_) => {
                    stream = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
}

/// Checks each wanted key with a read (reporting those already gone) and watches the rest from
/// after that read, on a new stream; `None` when nothing is left to watch.
async fn reopen(
    client: &Client,
    on_delete: &OnDelete,
    wanted: Vec<(Vec<u8>, i64)>,
) -> Result<Option<etcd_client::WatchStream>, etcd_client::Error> {
    let mut c = client.clone();
    let mut stream: Option<etcd_client::WatchStream> = None;
    for (key, rev) in wanted {
        let got = c.get(key.clone(), None).await?;
        let now = got.header().map_or(rev, |h| h.revision());
        if got.kvs().first().map(|kv| kv.create_revision()) != Some(rev) {
            on_delete(&key, rev);
            continue;
        }
        match stream.as_mut() {
            Some(s) => s.watch(key, Some(options(now))).await?,
            None => stream = Some(c.watch(key, Some(options(now))).await?),
        }
    }
    Ok(stream)
}
