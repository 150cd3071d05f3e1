//! The shape of the source, checked: no import cycle between the top-level modules of any
//! crate, and no source file a newcomer cannot hold (600 lines, outside the listed
//! exceptions).
//!
//! The cycle check reads every `crate::<module>` path outside comments and outside the
//! trailing `#[cfg(test)]` module of each file, maps the names a re-export module gathers
//! (`core/src/model.rs`) to the modules that define them, and looks for a strongly
//! connected component of more than one module (Tarjan). It is a text check, not a
//! compiler pass: a path built by a macro is not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TREES: [&str; 5] = ["core/src", "ffi/src", "bindings/src", "cli/src", "pg/src"];

/// Files allowed over 600 lines, each with its reason (generated code, the frozen v1
/// schema); the test fails once one fits, so the list only shrinks. None today.
const LONG_FILES: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its line comments and its trailing test module.
fn code(text: &str) -> String {
    let body = match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// `name → module` for a module that only re-exports (`pub use crate::m::{A, B};`).
fn facade(text: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use crate::") else {
            continue;
        };
        let module = ident(rest);
        let list = rest[module.len()..]
            .trim_start_matches("::")
            .trim_matches(|c| c == '{' || c == '}' || c == ';');
        for n in list.split(',') {
            names.insert(n.trim().to_string(), module.to_string());
        }
    }
    names
}

/// Module → the top-level modules it names.
fn graph(tree: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(tree, &mut files);
    let facades: BTreeMap<String, BTreeMap<String, String>> = files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "model.rs") && p.parent() == Some(tree))
        .map(|p| {
            (
                "model".to_string(),
                facade(&std::fs::read_to_string(p).unwrap()),
            )
        })
        .collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let rel = p.strip_prefix(tree).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs").to_string();
        if matches!(top.as_str(), "lib" | "main") || facades.contains_key(&top) {
            continue;
        }
        let text = code(&std::fs::read_to_string(p).unwrap());
        let deps = g.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let after = &text[i + "crate::".len()..];
            let m = ident(after);
            let targets: Vec<String> = match facades.get(m) {
                Some(names) => {
                    let rest = after[m.len()..].trim_start_matches("::");
                    let list = match rest.strip_prefix('{') {
                        Some(r) => &r[..r.find('}').unwrap_or(r.len())],
                        None => ident(rest),
                    };
                    list.split(',')
                        .map(|n| ident(n.trim()))
                        .filter(|n| !n.is_empty())
                        .map(|n| names.get(n).cloned().unwrap_or_else(|| m.to_string()))
                        .collect()
                }
                None => vec![m.to_string()],
            };
            for t in targets {
                if t != top && !t.is_empty() {
                    deps.insert(t);
                }
            }
        }
    }
    g
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let Some((w, _)) = t.g.get_key_value(w.as_str()) else {
                continue; // not a module of this crate (a macro, `crate::SomeType`)
            };
            if !t.index.contains_key(w.as_str()) {
                visit(t, w);
                let l = t.low[w.as_str()].min(t.low[v]);
                t.low.insert(v, l);
            } else if t.on.contains(w.as_str()) {
                let l = t.index[w.as_str()].min(t.low[v]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_cycle_between_the_modules_of_any_crate() {
    let mut found = Vec::new();
    for tree in TREES {
        let mut files = Vec::new();
        rust_files(&root().join(tree), &mut files);
        assert!(!files.is_empty(), "{tree}: no source read");
        let g = graph(&root().join(tree));
        for comp in cycles(&g) {
            let edges: Vec<String> = comp
                .iter()
                .map(|m| {
                    let inside: Vec<&str> = g[m]
                        .iter()
                        .filter(|d| comp.contains(d))
                        .map(String::as_str)
                        .collect();
                    format!("{m} → {}", inside.join(", "))
                })
                .collect();
            found.push(format!("{tree}: {}", edges.join("; ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let text = "use crate::model::{Campaign, DeviceId};\n// crate::x\nfn f() { crate::slot::f() }\n#[cfg(test)]\nmod tests { use crate::y; }";
    let c = code(text);
    assert!(!c.contains("crate::x") && !c.contains("crate::y") && c.contains("crate::slot"));
}

#[test]
fn no_source_file_over_600_lines_outside_the_exceptions() {
    let mut over = Vec::new();
    for tree in TREES {
        let mut files = Vec::new();
        rust_files(&root().join(tree), &mut files);
        for p in files {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            // A file's own unit tests do not count toward what a reader must hold.
            let lines = text
                .find("\n#[cfg(test)]")
                .map_or(text.as_str(), |i| &text[..i])
                .lines()
                .count();
            let excepted = LONG_FILES.iter().any(|(f, _)| *f == rel);
            if lines > 600 && !excepted {
                over.push(format!("{rel}: {lines} lines"));
            }
            if excepted && lines <= 600 {
                over.push(format!(
                    "{rel}: {lines} lines, fits: take it off LONG_FILES"
                ));
            }
        }
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}

#[test]
fn the_readme_is_a_front_door_that_links_every_docs_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; move reference material to docs/"
    );
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    pages.sort();
    assert!(pages.len() > 5, "{pages:?}");
    let unlinked: Vec<&String> = pages
        .iter()
        .filter(|p| !readme.contains(&format!("](docs/{p})")))
        .collect();
    assert!(
        unlinked.is_empty(),
        "docs pages the README's map does not link: {unlinked:?}"
    );
}

/// The DM status a simulated device gets is whatever the server host answered: no status
/// code is written in the simulator (the device side's injected DM-tree failures are named
/// from `devcare::status`).
#[test]
fn no_dm_status_literal_in_the_simulator() {
    const CODES: [&str; 12] = [
        "200", "202", "400", "401", "403", "404", "405", "410", "413", "415", "420", "500",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("core/src/sim"), &mut files);
    assert!(files.len() > 5, "{files:?}");
    let mut found = Vec::new();
    for p in files {
        let text = code(&std::fs::read_to_string(&p).unwrap());
        for (n, line) in text.lines().enumerate() {
            let digits: Vec<&str> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter(|t| !t.is_empty())
                .collect();
            if digits.iter().any(|d| CODES.contains(d)) {
                found.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "DM status literals in the simulator:\n{}",
        found.join("\n")
    );
}
