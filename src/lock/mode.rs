//! Lock modes: exclusive (one holder) or shared (any number of holders, counted).

use std::fmt;

/// How a lock is held. A name follows reader–writer rules: any number of [`Mode::Shared`]
/// holders, or one [`Mode::Exclusive`] holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// One holder at a time.
    Exclusive,
    /// Any number of holders; each grant reports how many distinct owners hold it.
    Shared,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Exclusive => "exclusive",
            Mode::Shared => "shared",
        })
    }
}
