//! The source tree has no import cycle between files: shared types live below the files that use
//! them (a parent module's file counts as a file like any other, so a child that imports from its
//! parent while the parent uses the child is a cycle too). The crate root (`lib.rs`), which only
//! declares modules and re-exports, is left out.
//!
//! Paths are read from the code with comments and `#[cfg(test)]` modules removed: `crate::…`,
//! `super::…`, `self::…`, and bare paths into a file's own child modules, each resolved to the
//! deepest file it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `src/lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code without comments, string contents, and `#[cfg(test)]`-gated items.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    // Test-only modules may import anything from their parent.
    for marker in [
        "#[cfg(test)]",
        "#[cfg(all(test",
        "#[cfg(all(test, not(loom)))]",
    ] {
        if let Some(at) = out.find(marker) {
            out.truncate(at);
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path (`a::b::c`) in `code`, with the number of inline `mod x { … }` blocks around it.
fn paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new(); // brace depth at which each inline mod opened
    let mut pending_mod = false;
    let mut i = 0;
    let mut prev_token = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
            if pending_mod {
                inline_mods.push(depth);
                pending_mod = false;
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline_mods.last() == Some(&depth) {
                inline_mods.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = false;
        }
        if is_ident(c) && (i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':') {
            // A path starts here: ident (:: ident)* , also inside `use a::{b, c::d}` groups.
            let mut segs = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                segs.push(chars[start..j].iter().collect::<String>());
                if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                    j += 2;
                    if chars.get(j) == Some(&'{') {
                        // A group: each member is a path under these segments.
                        let end = matching(&chars, j);
                        let inner: String = chars[j + 1..end].iter().collect();
                        for (sub, _) in paths(&inner) {
                            let mut full = segs.clone();
                            full.extend(sub);
                            found.push((full, inline_mods.len()));
                        }
                        j = end + 1;
                        break;
                    }
                    if j < chars.len() && is_ident(chars[j]) {
                        continue;
                    }
                }
                break;
            }
            if prev_token == "mod" && segs.len() == 1 {
                pending_mod = true;
            }
            prev_token = segs.last().cloned().unwrap_or_default();
            if segs.len() > 1 {
                found.push((segs, inline_mods.len()));
            }
            i = j.max(i + 1);
            continue;
        }
        if !c.is_whitespace() {
            prev_token.clear();
        }
        i += 1;
    }
    found
}

fn matching(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    chars.len() - 1
}

#[test]
fn no_file_imports_from_a_file_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeMap<Module, PathBuf> = all
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let resolve = |base: Module, rest: &[String]| -> Option<Module> {
        let mut best = None;
        for n in 0..=rest.len() {
            let mut m = base.clone();
            m.extend(rest[..n].iter().cloned());
            if modules.contains_key(&m) {
                best = Some(m);
            }
        }
        best
    };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &modules {
        if file.ends_with("bin/lockd.rs") || file.ends_with("lockd/src/main.rs") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let out = edges.entry(module.clone()).or_default();
        for (segs, inline) in paths(&code) {
            let target = match segs[0].as_str() {
                "crate" => resolve(Vec::new(), &segs[1..]),
                "self" if inline == 0 => resolve(module.clone(), &segs[1..]),
                "super" => {
                    let ups = segs.iter().take_while(|s| *s == "super").count();
                    if ups <= inline {
                        None // within the file's own inline modules
                    } else {
                        let ups = ups - inline;
                        let base = module[..module.len().saturating_sub(ups)].to_vec();
                        resolve(base, &segs[ups + inline..])
                    }
                }
                first if inline == 0 => {
                    let mut child = module.clone();
                    child.push(first.to_string());
                    if modules.contains_key(&child) {
                        resolve(module.clone(), &segs)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(t) = target {
                if !t.is_empty() && t != *module {
                    out.insert(t);
                }
            }
        }
    }
    // Any cycle: a module that reaches itself.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let names: Vec<_> = trail.iter().map(|m| m.join("::")).collect();
                    cycles.push(format!("{} -> {}", names.join(" -> "), start.join("::")));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    assert!(
        edges
            .get(&vec!["lock".to_string(), "acquire".to_string()])
            .is_some_and(|e| !e.is_empty()),
        "the scan found no imports at all: {edges:?}"
    );
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
