//! A radix tree keyed by byte strings, for the prefixes that parked `?recurse`/`?keys` queries
//! watch: [`PrefixTrie::for_each_prefix_of`] visits every stored key that is a prefix of a
//! written key in one walk down the tree, so a write's cost is linear in its key's length
//! however many prefixes are watched (hashing each prefix of the key was quadratic).
//!
//! Edges carry byte strings (a node exists only where a value is stored or paths branch), so
//! memory is linear in the stored keys' total length. Every operation is a loop, never a
//! recursion: deep trees (nested prefixes `a`, `aa`, `aaa`, …) cannot overflow the stack, not
//! even when dropped.

/// A map from byte strings to `T`, walkable by "every key that prefixes this one".
pub(crate) struct PrefixTrie<T> {
    root: Node<T>,
    len: usize,
}

struct Node<T> {
    /// The bytes from the parent to this node; empty only at the root.
    label: Vec<u8>,
    value: Option<T>,
    /// Sorted by the first byte of their labels, which differ.
    children: Vec<Node<T>>,
}

impl<T> Node<T> {
    fn child(&self, first: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&first, |c| c.label[0])
    }

    /// Cuts this node's label after `at` bytes: the tail, the value and the children move to
    /// one new child.
    fn split(&mut self, at: usize) {
        let tail = self.label.split_off(at);
        self.label.shrink_to_fit();
        let below = Node {
            label: tail,
            value: self.value.take(),
            children: std::mem::take(&mut self.children),
        };
        self.children = vec![below];
    }

    /// Merges a valueless node with its only child (which keeps the tree compressed).
    fn absorb_only_child(&mut self) {
        debug_assert!(self.value.is_none() && self.children.len() == 1);
        if let Some(child) = self.children.pop() {
            self.label.extend_from_slice(&child.label);
            self.value = child.value;
            self.children = child.children;
        }
    }
}

impl<T> Default for PrefixTrie<T> {
    fn default() -> Self {
        PrefixTrie {
            root: Node {
                label: Vec::new(),
                value: None,
                children: Vec::new(),
            },
            len: 0,
        }
    }
}

fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T> PrefixTrie<T> {
    /// How many keys are stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `key`, if stored.
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        let mut node = &self.root;
        let mut rest = key;
        while let Some(&first) = rest.first() {
            let child = &node.children[node.child(first).ok()?];
            rest = rest.strip_prefix(child.label.as_slice())?;
            node = child;
        }
        node.value.as_ref()
    }

    /// The value of `key`, stored with `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> T) -> &mut T {
        let mut node = &mut self.root;
        let mut rest = key;
        loop {
            let Some(&first) = rest.first() else {
                if node.value.is_none() {
                    self.len += 1;
                }
                return node.value.get_or_insert_with(make);
            };
            let at = match node.child(first) {
                Ok(at) => at,
                Err(at) => {
                    self.len += 1;
                    let leaf = Node {
                        label: rest.to_vec(),
                        value: None,
                        children: Vec::new(),
                    };
                    node.children.insert(at, leaf);
                    return node.children[at].value.get_or_insert_with(make);
                }
            };
            let child = &mut node.children[at];
            let common = common_len(&child.label, rest);
            if common < child.label.len() {
                child.split(common);
            }
            rest = &rest[common..];
            node = child;
        }
    }

    /// Removes `key`, returning its value; the tree stays compressed.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        if key.is_empty() {
            let value = self.root.value.take();
            self.len -= usize::from(value.is_some());
            return value;
        }
        // Walk to the parent of the node that holds `key`.
        let mut parent = &mut self.root;
        let mut parent_is_root = true;
        let mut rest = key;
        loop {
            let at = parent.child(rest[0]).ok()?;
            let label_len = parent.children[at].label.len();
            if !rest.starts_with(&parent.children[at].label) {
                return None;
            }
            if rest.len() > label_len {
                rest = &rest[label_len..];
                parent = &mut parent.children[at];
                parent_is_root = false;
                continue;
            }
            let node = &mut parent.children[at];
            let value = node.value.take()?;
            self.len -= 1;
            match node.children.len() {
                0 => {
                    parent.children.remove(at);
                    if !parent_is_root && parent.value.is_none() && parent.children.len() == 1 {
                        parent.absorb_only_child();
                    }
                }
                1 => node.absorb_only_child(),
                _ => {}
            }
            return Some(value);
        }
    }

    /// Calls `f` with the value of every stored key that is a prefix of `key` (`key` itself
    /// and the empty key included), shortest first. Linear in `key.len()`.
    pub fn for_each_prefix_of(&self, key: &[u8], mut f: impl FnMut(&T)) {
        let mut node = &self.root;
        let mut rest = key;
        loop {
            if let Some(value) = &node.value {
                f(value);
            }
            let Some(&first) = rest.first() else { return };
            let Ok(at) = node.child(first) else { return };
            let child = &node.children[at];
            let Some(after) = rest.strip_prefix(child.label.as_slice()) else {
                return;
            };
            rest = after;
            node = child;
        }
    }
}

impl<T> Drop for PrefixTrie<T> {
    fn drop(&mut self) {
        // Flatten first, so that dropping a node never recurses into its children.
        let mut pending = std::mem::take(&mut self.root.children);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.children);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn prefixes_of(trie: &PrefixTrie<u32>, key: &[u8]) -> Vec<u32> {
        let mut seen = Vec::new();
        trie.for_each_prefix_of(key, |v| seen.push(*v));
        seen
    }

    /// Checks the tree against a plain map after every operation of a pseudo-random run over
    /// a small alphabet (so that keys share prefixes, split and merge edges often).
    #[test]
    fn matches_a_plain_map_under_random_inserts_and_removes() {
        let mut trie = PrefixTrie::default();
        let mut model: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..20_000u32 {
            let len = (next() % 6) as usize;
            let key: Vec<u8> = (0..len).map(|_| b"ab/"[(next() % 3) as usize]).collect();
            if next() % 3 == 0 {
                assert_eq!(trie.remove(&key), model.remove(&key), "remove {key:?}");
            } else {
                let v = *trie.get_or_insert_with(&key, || step);
                assert_eq!(v, *model.entry(key.clone()).or_insert(step), "{key:?}");
            }
            assert_eq!(trie.len(), model.len());
            let probe: Vec<u8> = (0..6).map(|_| b"ab/"[(next() % 3) as usize]).collect();
            let expected: Vec<u32> = (0..=probe.len())
                .filter_map(|end| model.get(&probe[..end]).copied())
                .collect();
            assert_eq!(
                prefixes_of(&trie, &probe),
                expected,
                "prefixes of {probe:?}"
            );
            assert_eq!(trie.get(&probe[..3]), model.get(&probe[..3]));
        }
        for key in model.keys() {
            assert!(trie.remove(key).is_some());
        }
        assert!(trie.is_empty() && trie.root.children.is_empty() && trie.root.value.is_none());
    }

    #[test]
    fn removing_keeps_the_tree_compressed() {
        let mut trie = PrefixTrie::default();
        for key in ["abc", "abd", "ab"] {
            trie.get_or_insert_with(key.as_bytes(), || 1);
        }
        trie.remove(b"abd");
        trie.remove(b"ab");
        // One edge "abc" left, not "ab" -> "c".
        assert_eq!(trie.root.children.len(), 1);
        assert_eq!(trie.root.children[0].label, b"abc");
        assert!(trie.root.children[0].children.is_empty());
        assert_eq!(trie.remove(b"abd"), None);
        assert_eq!(trie.remove(b"a"), None);
        assert_eq!(trie.get(b"abc"), Some(&1));
    }

    #[test]
    fn deep_trees_walk_and_drop_without_recursion() {
        // Deep enough that a recursive drop would overflow a test thread's 2 MiB stack.
        const DEPTH: usize = 20_000;
        let key = vec![b'k'; DEPTH];
        let mut trie = PrefixTrie::default();
        // Longest first: each insert splits the root's edge, so building stays cheap.
        for end in (1..=DEPTH).rev() {
            trie.get_or_insert_with(&key[..end], || end as u32);
        }
        let mut count = 0;
        trie.for_each_prefix_of(&key, |_| count += 1);
        assert_eq!(count, DEPTH);
        // A long key with one watched prefix visits just that one.
        let mut shallow = PrefixTrie::default();
        shallow.get_or_insert_with(b"k", || 0u32);
        let mut hits = 0;
        shallow.for_each_prefix_of(&key, |_| hits += 1);
        assert_eq!(hits, 1);
        drop(trie);
    }
}
