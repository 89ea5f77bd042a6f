//! Lock names: byte strings, because the lockd wire protocol passes any bytes (NUL, invalid
//! UTF-8) through unchanged and the same bytes must name the same lock in every frontend.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A lock name: an unsized byte string, borrowed like `str`.
///
/// Every acquire method takes `impl AsRef<[u8]>`, so `&str`, `String`, `&[u8]` and `Vec<u8>` all
/// work. Comparisons with `str` and `[u8]` make tests read naturally.
///
/// ```
/// use lockd::LockManager;
///
/// let mgr = LockManager::new();
/// let g = mgr.get("reports/daily")?;
/// assert_eq!(g.name(), "reports/daily");
/// assert_eq!(g.name().to_str(), Some("reports/daily"));
/// # Ok::<(), lockd::Error>(())
/// ```
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Name([u8]);

impl Name {
    /// Views bytes (or a `str`) as a `Name`.
    pub fn new<B: AsRef<[u8]> + ?Sized>(bytes: &B) -> &Name {
        let bytes: &[u8] = bytes.as_ref();
        // SAFETY: (I13) `Name` is `repr(transparent)` over `[u8]`.
        unsafe { &*(bytes as *const [u8] as *const Name) }
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as `str`, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The name as text, invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Copies the name into a shared allocation (the form the lock table keys on).
    pub(crate) fn to_arc(&self) -> Arc<Name> {
        let arc: Arc<[u8]> = Arc::from(&self.0);
        // SAFETY: (I13) `Name` is `repr(transparent)` over `[u8]`, so the layouts are identical.
        unsafe { Arc::from_raw(Arc::into_raw(arc) as *const Name) }
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&Name> for Box<Name> {
    fn from(name: &Name) -> Box<Name> {
        let boxed: Box<[u8]> = Box::from(&name.0);
        // SAFETY: (I13) `Name` is `repr(transparent)` over `[u8]`, so the layouts are identical.
        unsafe { Box::from_raw(Box::into_raw(boxed) as *mut Name) }
    }
}

impl Clone for Box<Name> {
    fn clone(&self) -> Self {
        Box::from(&**self)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_string_lossy(), f)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<[u8]> for Name {
    fn eq(&self, other: &[u8]) -> bool {
        &self.0 == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Name {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.0 == other[..]
    }
}

impl PartialEq<&str> for Box<Name> {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_text_views() {
        let n = Name::new(b"a\x00\xffb");
        assert_eq!(n.as_bytes(), b"a\x00\xffb");
        assert_eq!(n.to_str(), None);
        assert_eq!(n.to_string_lossy(), "a\u{0}\u{fffd}b");
        assert_eq!(format!("{n:?}"), "b\"a\\x00\\xffb\"");
        assert_eq!(format!("{:?}", Name::new("x y")), "\"x y\"");
        let arc = n.to_arc();
        assert_eq!(&*arc, n);
        let boxed: Box<Name> = Box::from(n);
        assert_eq!(&*boxed, n);
        assert_eq!(Box::<Name>::from(Name::new("k")), "k");
    }
}
