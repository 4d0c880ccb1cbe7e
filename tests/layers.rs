//! The layers of the crate hold: no module imports from a layer above its own.
//!
//! The order is written once, in docs/ARCHITECTURE.md (the block after the `layers` marker,
//! lowest layer first, one layer a line: its name, then its modules). This test reads that
//! block, reads every file under `src/` as plain text, and fails naming the file, the line and
//! the import of every `crate::…` path that reaches a higher layer. A module is a top-level
//! module (`src/x.rs` or `src/x/`) unless the table names one of its submodules (`audit::routes`),
//! which then has a layer of its own; the longest name in the table wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Imports allowed although they climb: (importing module, imported path, why). Keep it short.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "*",
        "AppState",
        "the bundle of shared handles every handler and extractor takes; it lives at the crate \
         root because building it needs every layer, reading a field of it does not",
    ),
    (
        "config",
        "webhooks::Lookup",
        "the name-resolution seam of the webhook guard, a setting tests replace; the guard's \
         code stays with the webhook delivery",
    ),
    (
        "config",
        "webhooks::SystemLookup",
        "the default of that seam, the system resolver",
    ),
];

/// Items of the crate root that are not modules, and the module that defines them.
const ROOT_ITEMS: &[(&str, &str)] = &[("insert_rows", "db")];

struct Layers {
    /// Module path (`audit::routes`) → (layer number, layer name).
    of: BTreeMap<String, (usize, String)>,
}

impl Layers {
    fn parse(doc: &str) -> Layers {
        let mut lines = doc.lines().skip_while(|l| !l.starts_with("<!-- layers"));
        assert!(
            lines.next().is_some(),
            "docs/ARCHITECTURE.md has no `<!-- layers` marker"
        );
        let mut lines = lines.skip_while(|l| !l.starts_with("```"));
        lines.next();
        let mut of = BTreeMap::new();
        for (n, line) in lines.take_while(|l| !l.starts_with("```")).enumerate() {
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            for m in words.filter(|w| *w != "←") {
                let m = m.trim_end_matches(',');
                assert!(
                    of.insert(m.to_string(), (n, name.to_string())).is_none(),
                    "{m} is in two layers"
                );
            }
        }
        assert!(!of.is_empty(), "the layer table is empty");
        Layers { of }
    }

    /// The layer of a module path: its longest prefix named in the table.
    fn of_path(&self, segments: &[String]) -> Option<(&str, usize, &str)> {
        (1..=segments.len()).rev().find_map(|n| {
            let key = segments[..n].join("::");
            self.of
                .get_key_value(&key)
                .map(|(k, (l, name))| (k.as_str(), *l, name.as_str()))
        })
    }
}

/// One `crate::` path found in a file.
#[derive(Debug)]
struct Import {
    line: usize,
    path: Vec<String>,
}

/// The line without a `//` comment (one that does not start inside a string).
fn code_of(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
        } else if b == b'"' {
            in_str = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            return &line[..i];
        }
    }
    line
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads a path after `crate::` at `at`, expanding `{…}` groups; pushes every full path.
fn read_paths(
    text: &[char],
    mut at: usize,
    prefix: Vec<String>,
    line: usize,
    out: &mut Vec<Import>,
) {
    let mut path = prefix;
    loop {
        while at < text.len() && text[at].is_whitespace() {
            at += 1;
        }
        if at < text.len() && text[at] == '{' {
            // A group: split at the commas of its own depth.
            let mut depth = 0;
            let mut start = at + 1;
            let mut i = at;
            while i < text.len() {
                match text[i] {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        read_paths(text, start, path.clone(), line, out);
                        start = i + 1;
                        if text[i] == '}' {
                            return;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            return;
        }
        let begin = at;
        while at < text.len() && is_ident(text[at]) {
            at += 1;
        }
        if at == begin {
            break;
        }
        path.push(text[begin..at].iter().collect());
        if text.get(at) == Some(&':') && text.get(at + 1) == Some(&':') {
            at += 2;
        } else {
            break;
        }
    }
    if !path.is_empty() && path[0] != "self" {
        out.push(Import { line, path });
    }
}

/// Every `crate::` path of a file's code (comments left out; `$crate::` is the macro's own).
fn imports(source: &str) -> Vec<Import> {
    let mut code = String::new();
    let mut line_of = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let c = code_of(line);
        code.push_str(c);
        code.push('\n');
        line_of.extend(std::iter::repeat_n(n + 1, c.chars().count() + 1));
    }
    let text: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let needle: Vec<char> = "crate::".chars().collect();
    let mut i = 0;
    while i + needle.len() <= text.len() {
        if text[i..i + needle.len()] == needle[..]
            && (i == 0 || !(is_ident(text[i - 1]) || text[i - 1] == '$'))
        {
            read_paths(&text, i + needle.len(), Vec::new(), line_of[i], &mut out);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The module path of a file under `src/`: `audit/routes.rs` → `audit::routes`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn excepted(from: &str, path: &[String]) -> Option<usize> {
    let joined = path.join("::");
    EXCEPTIONS.iter().position(|(m, p, _)| {
        (*m == "*" || *m == from) && (joined == *p || joined.starts_with(&format!("{p}::")))
    })
}

/// The climbs of one file: "file:line: module (layer) imports crate::path (layer)".
fn climbs(
    layers: &Layers,
    file: &str,
    module: &[String],
    source: &str,
    used: &mut [bool],
) -> Vec<String> {
    let Some((from, from_layer, from_name)) = layers.of_path(module) else {
        return vec![format!(
            "{file}: module {} has no layer in the table",
            module.join("::")
        )];
    };
    let mut found = Vec::new();
    for import in imports(source) {
        let mut path = import.path.clone();
        if let Some((_, defined_in)) = ROOT_ITEMS.iter().find(|(item, _)| *item == path[0]) {
            path.insert(0, defined_in.to_string());
        }
        if let Some(e) = excepted(from, &path) {
            used[e] = true;
            continue;
        }
        let shown = format!("crate::{}", import.path.join("::"));
        match layers.of_path(&path) {
            None => found.push(format!(
                "{file}:{}: {shown} names no module of the layer table",
                import.line
            )),
            Some((_, to_layer, to_name)) if to_layer > from_layer => found.push(format!(
                "{file}:{}: {from} ({from_name}) imports {shown} ({to_name}), a layer above",
                import.line
            )),
            Some(_) => {}
        }
    }
    found
}

fn table() -> Layers {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers =
        Layers::parse(&std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap());
    assert!(layers.of.len() > 10, "the layer table is cut short");
    layers
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = table();
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut used = vec![false; EXCEPTIONS.len()];
    let mut found = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        if module.is_empty() || module == ["lib"] {
            continue; // the crate root declares every module; it is above them all
        }
        let source = std::fs::read_to_string(file).unwrap();
        let shown = format!("src/{}", rel.display());
        found.extend(climbs(&layers, &shown, &module, &source, &mut used));
    }
    for (n, (m, p, _)) in EXCEPTIONS.iter().enumerate() {
        if !used[n] {
            found.push(format!(
                "the exception {m} → {p} is no longer needed; remove it"
            ));
        }
    }
    assert!(
        found.is_empty(),
        "imports that break the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_module_of_the_crate_has_a_layer_and_every_layer_entry_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = table();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let modules: Vec<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(root.join("src")).unwrap()).join("::"))
        .filter(|m| !m.is_empty() && m != "lib")
        .collect();
    for m in &modules {
        let top = m.split("::").next().unwrap();
        assert!(
            layers.of.contains_key(top),
            "src: module {top} has no layer"
        );
    }
    for entry in layers.of.keys() {
        assert!(
            modules.iter().any(|m| m == entry),
            "the layer table names {entry}, which is no module of src/"
        );
    }
}

#[test]
fn the_check_sees_a_climb() {
    let layers = Layers::parse(
        "<!-- layers -->\n```text\nfoundation  error schema db::files\nstorage     db\n\
         domains     incidents\n```\n",
    );
    let mut used = vec![false; EXCEPTIONS.len()];
    let db = vec!["db".to_string()];
    let source = "//! Uses [`crate::incidents`] in a comment only.\n\
                  use crate::error::AppError;\n\
                  use crate::{schema::x, incidents::repo};\n\
                  fn f() { $crate::db::f(); crate::incidents::repo::backfill(c); }\n\
                  let s = \"https://x\"; // crate::incidents\n\
                  use crate::db::{Pool, self};\n\
                  crate::insert_rows!(conn, t, rows, 2);\n";
    let found = climbs(&layers, "src/db/mod.rs", &db, source, &mut used);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("src/db/mod.rs:3: db (storage) imports crate::incidents::repo"));
    assert!(found[1]
        .starts_with("src/db/mod.rs:4: db (storage) imports crate::incidents::repo::backfill"));
    // A submodule with a layer of its own is judged by it.
    let files = vec!["db".to_string(), "files".to_string()];
    let found = climbs(
        &layers,
        "src/db/files.rs",
        &files,
        "use crate::db::Pool;\n",
        &mut used,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    // A path into a module the table does not know is refused too.
    let found = climbs(
        &layers,
        "src/db/mod.rs",
        &db,
        "use crate::nowhere::X;\n",
        &mut used,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
}
