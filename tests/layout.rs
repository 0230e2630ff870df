//! The shape ARCHITECTURE.md promises, checked: no import cycle between the files of `src/`
//! (a file that needs another must not be needed by it, directly or through others), and no
//! file of the case domains (`src/reports/`, `src/wishes/`) past 600 lines outside its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_DOMAIN_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/reports/mod.rs` → `reports`, `src/reports/plan.rs` → `reports::plan`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its test module and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b…` and `super::a…` path in `code`, as absolute segment lists; one level
/// of `use …::{x, y as z}` is expanded.
fn paths_in(code: &str, module: &str) -> Vec<Vec<String>> {
    let parent: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let parent = &parent[..parent.len().saturating_sub(1)];
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let (base, skip) = if rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if rest.starts_with("super::") {
            (parent.to_vec(), 7)
        } else {
            i += 1;
            continue;
        };
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if !boundary {
            i += 1;
            continue;
        }
        let mut j = i + skip;
        let mut segs = base;
        let mut word = String::new();
        loop {
            match bytes.get(j) {
                Some(c) if c.is_alphanumeric() || *c == '_' => word.push(*c),
                Some(':') if bytes.get(j + 1) == Some(&':') => {
                    segs.push(std::mem::take(&mut word));
                    j += 1;
                }
                Some('{') => {
                    let close = bytes[j..].iter().position(|c| *c == '}').map(|p| j + p);
                    let inner: String = bytes[j + 1..close.unwrap_or(j + 1)].iter().collect();
                    for item in inner.split(',') {
                        let name = item.split_whitespace().next().unwrap_or_default();
                        let name = name.split("::").next().unwrap_or_default();
                        if !name.is_empty() && name != "self" {
                            let mut p = segs.clone();
                            p.push(name.to_owned());
                            out.push(p);
                        }
                    }
                    segs.clear();
                    j = close.unwrap_or(j);
                    break;
                }
                _ => break,
            }
            j += 1;
        }
        if !word.is_empty() {
            segs.push(word);
        }
        if !segs.is_empty() {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).expect("read"));
        let mut targets = BTreeSet::new();
        for path in paths_in(&code, module) {
            // The longest prefix of the path that is a module (file) of the crate.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(t) = target {
                // A file naming its own ancestors' items (`super::X` in a child) is not a
                // dependency between siblings; the crate root is everyone's parent.
                let ancestor = module.starts_with(&format!("{t}::"));
                if t != *module && !ancestor && !t.is_empty() {
                    targets.insert(t);
                }
            }
        }
        edges.insert(module.clone(), targets);
    }
    edges
}

/// The strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_two_files_of_src_import_each_other_directly_or_through_others() {
    let edges = graph();
    assert!(
        edges
            .get("reports::plan")
            .is_some_and(|t| t.contains("cases::write")),
        "the scanner sees imports (reports::plan uses cases::write): {:?}",
        edges.get("reports::plan")
    );
    let found = cycles(&edges);
    let explain: Vec<String> = found
        .iter()
        .map(|c| {
            let arrows: Vec<String> = c
                .iter()
                .map(|m| {
                    let inside: Vec<&str> = edges[m]
                        .iter()
                        .filter(|t| c.contains(t))
                        .map(String::as_str)
                        .collect();
                    format!("{m} -> {inside:?}")
                })
                .collect();
            arrows.join("; ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {explain:#?}");
}

#[test]
fn a_planted_cycle_is_found() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    edges.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
}

#[test]
fn no_file_of_the_case_domains_outgrows_its_room() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut too_long = Vec::new();
    for domain in ["reports", "wishes"] {
        let mut files = Vec::new();
        rust_files(&src.join(domain), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            let lines = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .count();
            if lines > MAX_DOMAIN_LINES {
                too_long.push(format!("{}: {lines}", file.display()));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "over {MAX_DOMAIN_LINES} lines: {too_long:?}"
    );
}
