//! The `q` counters (spec §8): per-verb command counts, connections, invalid lines, orphans.
//! Every change a command causes happens before its reply is written.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::protocol::Verb;

/// The server's protocol counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commands: [AtomicU64; 13],
    /// `command_iam`, `command_me`, `command_who` appear from their first use.
    seen: [AtomicBool; 13],
    pub(crate) connections: AtomicI64,
    pub(crate) invalid: AtomicU64,
    pub(crate) orphans: AtomicU64,
    pub(crate) shared_orphans: AtomicU64,
    /// Not `q` keys (its key set is fixed): the server's own metrics, see `ServerStats`.
    pub(crate) reaped: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) output_high_water: AtomicU64,
}

/// The 13 original verbs, in the order of `Counters::commands`.
const VERBS: [(Verb, &str, bool); 13] = [
    (Verb::Dump, "command_d", false),
    (Verb::DumpJson, "command_dump", false),
    (Verb::Get, "command_g", false),
    (Verb::Inspect, "command_i", false),
    (Verb::Iam, "command_iam", true),
    (Verb::Me, "command_me", true),
    (Verb::Stats, "command_q", false),
    (Verb::Release, "command_r", false),
    (Verb::SharedDump, "command_sd", false),
    (Verb::SharedGet, "command_sg", false),
    (Verb::SharedInspect, "command_si", false),
    (Verb::SharedRelease, "command_sr", false),
    (Verb::Who, "command_who", true),
];

impl Counters {
    /// Counts one line with `verb` (extension verbs are not counted).
    pub(crate) fn command(&self, verb: Verb) {
        if let Some(i) = VERBS.iter().position(|(v, _, _)| *v == verb) {
            self.commands[i].fetch_add(1, Ordering::SeqCst);
            self.seen[i].store(true, Ordering::SeqCst);
        }
    }

    /// The `q` keys and values, sorted by key; `locks` and `shared_locks` are computed by the
    /// caller at the moment `q` runs.
    pub(crate) fn report(&self, locks: u64, shared_locks: u64) -> Vec<(&'static str, u64)> {
        let mut out: Vec<(&'static str, u64)> = VERBS
            .iter()
            .enumerate()
            .filter(|(i, (_, _, lazy))| !lazy || self.seen[*i].load(Ordering::SeqCst))
            .map(|(i, (_, key, _))| (*key, self.commands[i].load(Ordering::SeqCst)))
            .collect();
        let connections = self.connections.load(Ordering::SeqCst).max(0) as u64;
        out.extend([
            ("connections", connections),
            ("invalid_commands", self.invalid.load(Ordering::SeqCst)),
            ("locks", locks),
            ("orphans", self.orphans.load(Ordering::SeqCst)),
            ("shared_locks", shared_locks),
            ("shared_orphans", self.shared_orphans.load(Ordering::SeqCst)),
        ]);
        out.sort_unstable_by_key(|(k, _)| *k);
        out
    }
}

/// A server's own metrics, beside the protocol's `q` counters (whose key set is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Live connections.
    pub connections: u64,
    /// Connections closed at once because the connection limit was reached or file
    /// descriptors ran out.
    pub refused: u64,
    /// Connections ended by another connection's request that found their peer gone first.
    pub reaped: u64,
    /// The most reply bytes any connection has had buffered and unsent.
    pub output_high_water: u64,
}

impl Counters {
    pub(crate) fn server_stats(&self) -> ServerStats {
        ServerStats {
            connections: self.connections.load(Ordering::SeqCst).max(0) as u64,
            refused: self.refused.load(Ordering::Relaxed),
            reaped: self.reaped.load(Ordering::Relaxed),
            output_high_water: self.output_high_water.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_base_keys_sorted_and_lazy_keys_after_use() {
        let c = Counters::default();
        let keys: Vec<_> = c.report(0, 0).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 16);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(!keys.contains(&"command_me"));
        c.command(Verb::Me);
        c.command(Verb::GetWait); // extensions are not reported
        let report = c.report(2, 1);
        assert_eq!(report.len(), 17);
        assert!(report.contains(&("command_me", 1)));
        assert!(report.contains(&("locks", 2)) && report.contains(&("shared_locks", 1)));
    }
}
