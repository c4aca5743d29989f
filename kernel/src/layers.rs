// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's layering rule, checked: modules depend on the ones below them, never
//! up, and only `boot` holds the allocators it hands out.
//!
//! # Why
//! A module cycle is how a kernel grows into one piece that can only be understood, and
//! tested, whole: the L4 core imported the frame allocator from `boot`, `boot` called the
//! L4 core, `arch` called up into `l4`, and the lock called into `arch`, which took
//! locks. Now `boot` assembles the machine and hands the frame allocator to what needs
//! it, `l4` reaches the hardware only through its `Machine` trait, and `arch` calls up
//! only by symbol (the vectors' Rust entries are `entry`'s). These tests keep it so.
//!
//! # How
//! Lexically, over every `.rs` file of `kernel/src` (this check is about the source as a
//! reader sees it): a file belongs to the top-level module of its path (a file a
//! `#[path]` attribute includes, to the module that includes it); comments are dropped;
//! every `crate::NAME` (and each `NAME` of `use crate::{..}`), and a use of a macro a
//! module exports (`kprintln!`), is an edge from the file's module to `NAME`. The test
//! fails on a strongly connected set of more than one module and prints one cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// The macros a module exports at the crate root, and the module that defines them.
const MACROS: [(&str, &str); 2] = [("kprintln!", "console"), ("kprint!", "console")];

/// The kernel's source directory.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("kernel/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src` belongs to by its path (`None`: the crate
/// root, `lib.rs` and `main.rs`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(name) => Some(name.to_string()),
        None => Some(first.to_string()),
    }
}

/// The source without comments (line, doc and block comments) and without the text
/// of string literals (their quotes stay).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A raw string (the vector table's assembly): skipped whole.
            'r' if chars.peek() == Some(&'#') => {
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.next() != Some('"') {
                    continue;
                }
                let mut closing = 0;
                for n in chars.by_ref() {
                    closing = match n {
                        '"' => 1,
                        '#' if closing > 0 => closing + 1,
                        _ => 0,
                    };
                    if closing == hashes + 1 {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '"' => {
                out.push('"');
                while let Some(n) = chars.next() {
                    match n {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push('"');
            }
            // A character literal of a quote (`'"'`, `'\"'`) is not a string.
            '\'' if matches!(chars.peek(), Some('"' | '\\')) => {
                out.push(c);
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The top-level modules `code` names: `crate::NAME`, the names of `use crate::{..}`,
/// and the exporters of the macros it uses.
fn names(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with('$') {
            continue; // `$crate::` in a macro: where it is used, not a dependency here
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.insert(ident(item.trim()));
        } else {
            out.insert(ident(rest));
        }
    }
    for (mac, module) in MACROS {
        let bare = code.match_indices(mac).any(|(at, _)| {
            let before = code[..at].chars().last();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if bare || code.contains(&std::format!("crate::{mac}")) {
            out.insert(module.to_string());
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// The module graph: for each top-level module, the modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut all = Vec::new();
    files(&root, &mut all);
    // Files a `#[path]` attribute includes belong to the including module.
    let mut included = BTreeMap::new();
    for file in &all {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (at, _) in text.match_indices("#[path = \"") {
            let rest = &text[at + "#[path = \"".len()..];
            let target = &rest[..rest.find('"').expect("a closing quote")];
            let path = file.parent().expect("a file in a directory").join(target);
            let path = path.canonicalize().expect("the included file exists");
            included.insert(path, module_of(file.strip_prefix(&root).expect("below src")));
        }
    }
    let modules: BTreeSet<String> =
        all.iter().filter_map(|f| module_of(f.strip_prefix(&root).expect("below src"))).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let canonical = file.canonicalize().expect("a file that exists");
        let module = match included.get(&canonical) {
            Some(m) => m.clone(),
            None => module_of(file.strip_prefix(&root).expect("below src")),
        };
        let Some(module) = module else { continue };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let edges = graph.entry(module.clone()).or_default();
        for name in names(&code(&text)) {
            if name != module && modules.contains(&name) {
                edges.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start` in `graph`, if there is one: the modules in order.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn modules_form_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("l4") && graph.contains_key("mm"), "the walk found the kernel's modules");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "module cycles in kernel/src:\n  {}", cycles.join("\n  "));
}

#[test]
fn nothing_depends_on_boot_and_the_l4_core_depends_on_no_hardware_module() {
    let graph = graph();
    let on_boot: Vec<&String> = graph.iter().filter(|(_, to)| to.contains("boot")).map(|(m, _)| m).collect();
    assert!(on_boot.is_empty(), "boot assembles the kernel; these modules name it: {on_boot:?}");
    for hardware in ["arch", "boot", "entry", "irq", "machine", "memory", "smp", "stop", "console"] {
        assert!(!graph["l4"].contains(hardware), "l4 names {hardware}: it must go through l4::Machine");
    }
    assert!(graph["sync"].is_empty(), "the lock depends on no kernel module: {:?}", graph["sync"]);
}

#[test]
fn the_check_sees_uses_groups_macros_and_paths_and_skips_comments() {
    let text = "// crate::hidden\nuse crate::{a, b::{c, d}, e as f};\nfn x() { crate::g::h(); kprintln!(\"crate::s\"); }\n/* crate::k */ let q = '\"'; r#\"crate::t\"#;";
    let found = names(&code(text));
    let want: BTreeSet<String> = ["a", "b", "e", "g", "console"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, want);
    let mut cyclic = BTreeMap::new();
    cyclic.insert("a".to_string(), ["b".to_string()].into());
    cyclic.insert("b".to_string(), ["c".to_string()].into());
    cyclic.insert("c".to_string(), ["a".to_string()].into());
    assert_eq!(cycle_through(&cyclic, "a"), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    cyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle_through(&cyclic, "a"), None);
}
