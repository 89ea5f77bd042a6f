//! Reading a name's requests (or every name's) from the cluster, in FIFO order, and turning them
//! into what the rule and the snapshots need.

use etcd_client::{GetOptions, KeyValue, SortOrder, SortTarget};

use super::keys::{self, Value};
use super::rule::Request;

/// One request key as read.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: Vec<u8>,
    pub(crate) name: Vec<u8>,
    pub(crate) session: String,
    pub(crate) revision: i64,
    pub(crate) value: Value,
}

impl Entry {
    pub(crate) fn request(&self) -> Request {
        Request {
            revision: self.revision,
            mode: self.value.mode,
            limit: self.value.limit,
        }
    }
}

/// A range read of keys under `range`, oldest request first.
pub(crate) fn range_options() -> GetOptions {
    GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
}

/// The request keys among `kvs` (anything else under the prefix is ignored).
pub(crate) fn entries(prefix: &str, kvs: &[KeyValue]) -> Vec<Entry> {
    let mut out: Vec<Entry> = kvs
        .iter()
        .filter_map(|kv| {
            let (name, session) = keys::parse_key(prefix, kv.key())?;
            Some(Entry {
                key: kv.key().to_vec(),
                name,
                session: String::from_utf8_lossy(session).into_owned(),
                revision: kv.create_revision(),
                value: Value::decode(kv.value())?,
            })
        })
        .collect();
    // A sorted range of one name is already in order; a range over every name is sorted by
    // revision too, which keeps each name's requests in order.
    out.sort_by_key(|e| e.revision);
    out
}
