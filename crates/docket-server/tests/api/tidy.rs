//! The repository's shape, held by tests: every module says what it is (`//!`); no
//! source file grows past 400 lines but the few listed, each with why; HTTP reaches data
//! only through the engine; the store knows nothing of the wire types and reads no
//! clock; and no two modules import each other, directly or round a longer loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;

/// Files allowed past [`MAX_LINES`] (counted without a trailing test module), and why.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/docket-server/src/store/postgres/cases.rs",
        "the backend's case, task and import statements; shrinks as the decisions move to domain/",
    ),
    (
        "crates/docket-server/src/store/postgres/jobs.rs",
        "the backend's job statements: submit, results, a chunk's claim and outcomes (its set-based writes are in chunk.rs; what a chunk does is decided in domain/chunk.rs)",
    ),
    (
        "crates/docket-server/src/store/sqlite/cases.rs",
        "the backend's case, task and import statements; shrinks as the decisions move to domain/",
    ),
    (
        "crates/docket-server/src/config.rs",
        "the configuration reference: one struct per section, with its defaults and checks",
    ),
    (
        "crates/docket-server/src/http/openapi_served.rs",
        "the served document's refinements, one per schema the server is stricter about",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, as paths relative to the repository root.
fn rust_files(dir: &str) -> Vec<String> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    let root = root();
    let mut files: Vec<String> = out
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap()
}

/// The source crates: each `crates/<name>/src`.
fn source_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .map(|p| format!("crates/{}/src", p.file_name().unwrap().to_string_lossy()))
        .collect();
    dirs.sort();
    dirs
}

/// A file's lines up to its trailing `#[cfg(test)] mod tests`, without `//` comments.
fn code_lines(src: &str) -> Vec<String> {
    let lines: Vec<&str> = src.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|l| l.find("//").map_or(*l, |i| &l[..i]).to_owned())
        .collect()
}

#[test]
fn every_module_says_what_it_is() {
    let missing: Vec<String> = source_dirs()
        .iter()
        .flat_map(|d| rust_files(d))
        .filter(|f| !read(f).starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "these modules do not open with a `//!` line saying what they are: {missing:?}"
    );
}

#[test]
fn no_source_file_is_over_400_lines_but_the_listed() {
    let allowed: BTreeSet<&str> = LONG_FILES.iter().map(|(f, _)| *f).collect();
    let mut long = Vec::new();
    let mut listed_but_short = Vec::new();
    for file in source_dirs().iter().flat_map(|d| rust_files(d)) {
        let n = code_lines(&read(&file)).len();
        match (n > MAX_LINES, allowed.contains(file.as_str())) {
            (true, false) => long.push(format!("{file} ({n} lines)")),
            (false, true) => listed_but_short.push(file),
            _ => {}
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines (tests at the end not counted): split them, or list them in LONG_FILES with why: {long:?}"
    );
    assert!(
        listed_but_short.is_empty(),
        "listed in LONG_FILES but no longer long: take them off the list: {listed_but_short:?}"
    );
}

#[test]
fn http_reaches_data_only_through_the_engine() {
    let found = lines_where("crates/docket-server/src/http", |line| {
        // `.store` as a field (`engine.store`), not a method such as an atomic's `store(`.
        let field = line.match_indices(".store").any(|(at, m)| {
            let next = line[at + m.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '(')
        });
        line.contains("crate::store") || line.contains("::store::") || field
    });
    assert!(
        found.is_empty(),
        "http/ must reach data through the engine (whose writes invalidate caches, wake workers and count), never the store:\n{}",
        found.join("\n")
    );
}

/// Every code line under `dir` that `bad` holds for, as `file:line: text`.
fn lines_where(dir: &str, bad: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(dir) {
        for (i, line) in code_lines(&read(&file)).iter().enumerate() {
            if bad(line) {
                found.push(format!("{file}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_store_knows_nothing_of_the_wire_types() {
    let found = lines_where("crates/docket-server/src/store", |l| {
        l.contains("docket_api")
    });
    assert!(
        found.is_empty(),
        "store/ persists domain types; the wire types (docket_api) are converted in domain/ or wire.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_store_reads_no_clock() {
    let found = lines_where("crates/docket-server/src/store", |l| {
        l.contains("Timestamp::now") || l.contains("Utc::now")
    });
    assert!(
        found.is_empty(),
        "store/ takes time from the engine's clock (arguments, Claim::clock) or the database's own, never the system's:\n{}",
        found.join("\n")
    );
}

/// The module path of a file under a crate's `src` (`store/sqlite/mod.rs`:
/// `["store", "sqlite"]`; `lib.rs` and `main.rs`: the root).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a line names from `crate::` or `super::` on, as segments after the prefix
/// is resolved against `module`; `use a::{b, c::d}` yields `a::b` and `a::c`.
fn named_paths(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| -> usize {
        s.char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(s.len(), |(i, _)| i)
    };
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = ["crate::", "super::"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let before = rest[..at].chars().last();
        rest = &rest[at..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            rest = &rest[1..];
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        if rest.starts_with("crate::") {
            rest = &rest["crate::".len()..];
        } else {
            base = module.to_vec();
            while rest.starts_with("super::") {
                base.pop();
                rest = &rest["super::".len()..];
            }
        }
        let mut path = base;
        loop {
            if let Some(inner) = rest.strip_prefix('{') {
                // Each element's first segment.
                let end = inner.find('}').unwrap_or(inner.len());
                for elem in inner[..end].split(',') {
                    let elem = elem.trim();
                    let n = ident(elem);
                    if n > 0 {
                        let mut p = path.clone();
                        p.push(elem[..n].to_owned());
                        out.push(p);
                    }
                }
                rest = &inner[end..];
                break;
            }
            let n = ident(rest);
            if n == 0 {
                out.push(path);
                break;
            }
            path.push(rest[..n].to_owned());
            rest = &rest[n..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => {
                    out.push(path);
                    break;
                }
            }
        }
    }
    out
}

/// The import edges between sibling modules of the crate under `src`: a use of `t` in
/// module `m` is an edge between their children of the deepest module both are in (a
/// module's use of its own ancestors or descendants is no edge).
fn module_edges(src: &str) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = rust_files(src);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&format!("{src}/")).unwrap()))
        .collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let m = module_of(file.strip_prefix(&format!("{src}/")).unwrap());
        for line in code_lines(&read(file)) {
            for path in named_paths(&line, &m) {
                // The longest module prefix of the path.
                let mut t: Vec<String> = Vec::new();
                for seg in &path {
                    let mut next = t.clone();
                    next.push(seg.clone());
                    if !modules.contains(&next) {
                        break;
                    }
                    t = next;
                }
                let k = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
                if k == m.len() || k == t.len() {
                    continue;
                }
                edges
                    .entry(m[..=k].to_vec())
                    .or_default()
                    .insert(t[..=k].to_vec());
            }
        }
    }
    edges
}

/// The groups of modules that import each other round a loop (strongly connected
/// components of more than one module).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&Vec<String>> = edges
        .iter()
        .flat_map(|(a, bs)| std::iter::once(a).chain(bs))
        .collect();
    let reach = |from: &Vec<String>| {
        let mut seen: BTreeSet<&Vec<String>> = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for next in edges.get(n).into_iter().flatten() {
                if seen.insert(next) {
                    todo.push(next);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        let group: Vec<String> = nodes
            .iter()
            .filter(|o| reached[*n].contains(*o) && reached[*o].contains(*n))
            .map(|o| o.join("::"))
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn no_two_modules_import_each_other() {
    let mut found = Vec::new();
    for src in source_dirs() {
        for group in cycles(&module_edges(&src)) {
            found.push(format!("{src}: {}", group.join(" <-> ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other (move what both need to a module both can use):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        named_paths(
            "use super::{CaseFilter, case_list::Dialect};",
            &m("store::title_search")
        ),
        vec![m("store::CaseFilter"), m("store::case_list")]
    );
    assert_eq!(
        named_paths(
            "let x = crate::engine::keys::create_key(a);",
            &m("http::keys")
        ),
        vec![m("engine::keys::create_key")]
    );
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(
        cycles(&edges),
        vec![vec!["a".to_owned(), "b".into(), "c".into()]]
    );
}
