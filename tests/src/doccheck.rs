// SPDX-License-Identifier: MIT OR Apache-2.0
//! The book's and the README's references, checked against the source tree.
//!
//! The docs name code all the time: `kernel/src/l4/ipc.rs`, `Kernel::move_thread`,
//! `mm::table::replicate`. Code moves; a name that no longer exists sends a reader to
//! nothing, and nobody notices until a learner does. `scripts/test` runs this check
//! (binary `doc-check`) over `README.md` and every Markdown file of `docs/`, and fails on:
//!
//! - a **link** (`[text](target)`, `![alt](target)`) to a file that does not exist, or to
//!   a heading (`#anchor`) that the target Markdown file does not have; a link from a
//!   book chapter (`docs/src/`) that leaves `docs/src/` (the rendered book holds only
//!   that folder, so such a link would be dead there: name code in a code span instead);
//! - a **file path** in a code span (`` `kernel/src/boot.rs` ``, `` `pagers/numademo` ``)
//!   that does not exist from the repository root; a bare Rust file name (`` `ipc.rs` ``)
//!   that no file of the tree has;
//! - an **item**: `` `path/to/file.rs::item` `` whose item does not occur in that file;
//!   `` `Type::member` `` with no type `Type` in the tree or no `member` beside it;
//!   `` `module::item` `` (`mm::table::replicate`, `platform::mmio`) whose module is no
//!   file or whose item does not occur in it; and items in parentheses right after a
//!   file path (`` `kernel/src/irq.rs` (`pending`, "Design") ``), each of which must occur
//!   in that file;
//! - a book chapter that `docs/src/SUMMARY.md` does not list (nor a chapter includes with
//!   `{{#include}}`): mdBook would silently leave it out.
//!
//! "Occurs" means as a whole identifier (or, for quoted text, as a substring): the check
//! is lexical, not a compiler's name resolution, which is enough to catch a rename or a
//! deletion and cheap enough to run on every test. What is not checked: fenced code blocks
//! (commands and sample output), paths under `target/` (build output), absolute paths
//! (device-tree paths like `/chosen/bootargs`, host paths), placeholders (`pagers/NAME`),
//! and external web links.
//!
//! The logic is pure ([`check`] over a [`Tree`] of paths and contents), so the host tests
//! below feed it small trees.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// The files of a repository: repository-relative paths with `/`, and the text of each
/// file that is text (binary files are present with no text).
#[derive(Debug, Default, Clone)]
pub struct Tree {
    files: BTreeMap<String, Option<String>>,
    dirs: BTreeSet<String>,
}

impl Tree {
    /// A tree from `(path, text)` pairs (`None`: a binary file).
    pub fn new<I, P>(files: I) -> Tree
    where
        I: IntoIterator<Item = (P, Option<String>)>,
        P: Into<String>,
    {
        let mut tree = Tree::default();
        for (path, text) in files {
            tree.insert(path.into(), text);
        }
        tree
    }

    fn insert(&mut self, path: String, text: Option<String>) {
        let mut dir = path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            self.dirs.insert(parent.to_string());
            dir = parent;
        }
        self.files.insert(path, text);
    }

    /// The files `git ls-files` lists under `root` (tracked, and untracked but not
    /// ignored, so a new chapter is checked before it is committed), read from disk.
    pub fn from_git(root: &Path) -> Result<Tree, String> {
        let out = std::process::Command::new("git")
            .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot run git ls-files in {}: {e}", root.display()))?;
        if !out.status.success() {
            return Err(format!(
                "git ls-files failed in {}: {}",
                root.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mut tree = Tree::default();
        for path in out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let path = String::from_utf8_lossy(path).into_owned();
            let full = root.join(&path);
            // A file deleted in the work tree but still in the index is gone for a reader.
            let Ok(bytes) = std::fs::read(&full) else { continue };
            tree.insert(path, String::from_utf8(bytes).ok());
        }
        Ok(tree)
    }

    /// Whether `path` is a file or a directory of the tree.
    pub fn exists(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        path.is_empty() || self.files.contains_key(path) || self.dirs.contains(path)
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.files.get(path).and_then(|t| t.as_deref())
    }

    fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The Markdown files the check reads: the front page and the book. (Other
    /// folders' READMEs quote paths of other projects, such as Linux's sources, and
    /// paths relative to themselves.)
    pub fn markdown(&self) -> Vec<&str> {
        self.paths().filter(|p| *p == "README.md" || (p.starts_with("docs/") && p.ends_with(".md"))).collect()
    }
}

/// One broken reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The Markdown file, repository-relative.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// What a check found: the broken references and how many references were checked.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every broken reference, in file and line order.
    pub findings: Vec<Finding>,
    /// References checked (links, paths, items).
    pub checked: usize,
}

/// The book's source folder: its links must stay inside it.
pub const BOOK_SRC: &str = "docs/src";

/// Checks every Markdown file of `tree`.
pub fn check(tree: &Tree) -> Outcome {
    let index = Index::new(tree);
    let mut out = Outcome::default();
    for file in tree.markdown() {
        if let Some(text) = tree.text(file) {
            check_file(&index, file, text, &mut out);
        }
    }
    check_summary(tree, &mut out);
    out
}

/// What is known about the tree's Rust code, computed once.
struct Index<'t> {
    tree: &'t Tree,
    /// Crate name (`uefi_loader`) -> its directory (`kernel/uefi-loader`).
    crates: BTreeMap<String, String>,
    /// Top-level entries of the tree (`kernel`, `README.md`, `.ci`).
    top: BTreeSet<String>,
    /// The string literals of the boot-test matrix: every boot test's name is one.
    boot_tests: BTreeSet<String>,
}

impl<'t> Index<'t> {
    fn new(tree: &'t Tree) -> Index<'t> {
        let mut crates = BTreeMap::new();
        for path in tree.paths().filter(|p| *p == "Cargo.toml" || p.ends_with("/Cargo.toml")) {
            let dir = path.strip_suffix("Cargo.toml").unwrap_or("").trim_end_matches('/');
            if let Some(name) = tree.text(path).and_then(package_name) {
                crates.insert(name.replace('-', "_"), dir.to_string());
            }
        }
        let top = tree.paths().map(|p| p.split('/').next().unwrap_or(p).to_string()).collect();
        let boot_tests = BOOT_TESTS.iter().filter_map(|f| tree.text(f)).flat_map(string_literals).collect();
        Index { tree, crates, top, boot_tests }
    }

    /// The Rust files whose module path ends with `segs` (`["mm", "table"]` ->
    /// `.../mm/table.rs` or `.../mm/table/mod.rs`; a crate name first roots the search
    /// in that crate's `src/`).
    fn module_files(&self, segs: &[&str]) -> Vec<&'t str> {
        let tree: &'t Tree = self.tree;
        if let Some(dir) = segs.first().and_then(|s| self.crates.get(*s)) {
            let prefix = if dir.is_empty() { "src".to_string() } else { format!("{dir}/src") };
            let candidates: Vec<String> = if segs.len() == 1 {
                vec![format!("{prefix}/lib.rs"), format!("{prefix}/main.rs")]
            } else {
                let rest = segs[1..].join("/");
                vec![format!("{prefix}/{rest}.rs"), format!("{prefix}/{rest}/mod.rs")]
            };
            return tree.paths().filter(|p| candidates.iter().any(|c| c == p)).collect();
        }
        let joined = segs.join("/");
        let (file, module) = (format!("/{joined}.rs"), format!("/{joined}/mod.rs"));
        tree.paths()
            .filter(|p| p.ends_with(".rs"))
            .filter(|p| {
                let p = format!("/{p}");
                p.ends_with(&file) || p.ends_with(&module)
            })
            .collect()
    }

    /// The Rust files that declare type `name` or implement something for it.
    fn type_files(&self, name: &str) -> Vec<&'t str> {
        let tree: &'t Tree = self.tree;
        tree.paths()
            .filter(|p| p.ends_with(".rs"))
            .filter(|p| tree.text(p).is_some_and(|t| declares_type(t, name)))
            .collect()
    }
}

/// The boot-test matrix: a name after "boot test" must be a string literal in one of
/// these files (the matrix, and the failure matrix's names of its cases).
pub const BOOT_TESTS: [&str; 2] = ["tests/src/boot.rs", "tests/src/failures.rs"];

/// The string literals of `text` that could be names (`"numa-2x2"`).
fn string_literals(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(str::to_string)
        .collect()
}

/// The code spans of `line` that name boot tests: those after "boot test" or "boot
/// tests", and those that continue such a list (`` boot tests `a`, `b` (why) and `c` ``),
/// also from the previous line (`in_list`, updated for the next line).
fn boot_test_names<'l>(line: &'l str, spans: &[(usize, &'l str)], in_list: &mut bool) -> Vec<&'l str> {
    let mut names = Vec::new();
    let mut gap_start = 0;
    for (offset, span) in spans {
        let open = offset - line[..*offset].bytes().rev().take_while(|&b| b == b'`').count();
        let gap = line.get(gap_start..open).unwrap_or("").trim();
        let starts = {
            let g = gap.to_ascii_lowercase();
            g.ends_with("boot test") || g.ends_with("boot tests")
        };
        let continues = *in_list && is_list_separator(gap);
        *in_list = (starts || continues) && !span.contains(' ');
        if *in_list {
            names.push(*span);
        }
        let end = offset + span.len();
        gap_start = end + line[end..].bytes().take_while(|&b| b == b'`' || b == b' ').count();
    }
    let tail = line.get(gap_start..).unwrap_or("").trim();
    *in_list = *in_list && is_list_separator(tail);
    names
}

/// What may stand between two names of a list: a comma, "and", "or", and a remark in
/// parentheses (`` `l4test` (quota), `badargs` ``).
fn is_list_separator(gap: &str) -> bool {
    let mut g = gap.trim();
    if g.starts_with('(') {
        match g.find(')') {
            Some(close) => g = g[close + 1..].trim(),
            None => return false,
        }
    }
    let g = g.trim_start_matches(',').trim();
    matches!(g, "" | "and" | "or")
}

/// `name = "..."` of a Cargo.toml's `[package]` section.
fn package_name(toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) =
                line.strip_prefix("name").map(str::trim_start).and_then(|r| r.strip_prefix('='))
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// Whether `text` declares `struct|enum|trait|union|type name`, or has an `impl` line
/// naming it (`impl Kernel {`, `impl<T> Mdb<T> {`, `impl Display for Entry`).
fn declares_type(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let words: Vec<&str> = identifiers(line).collect();
        words
            .windows(2)
            .any(|w| matches!(w[0], "struct" | "enum" | "trait" | "union" | "type") && w[1] == name)
            || (words.contains(&"impl") && words.contains(&name))
    })
}

/// The identifiers of `text`, in order.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty())
}

/// Whether identifier `name` occurs in `text` as a whole word.
fn has_identifier(text: &str, name: &str) -> bool {
    identifiers(text).any(|w| w == name)
}

/// One Markdown line's pieces: code spans (with their byte offset) and the text outside
/// them (code spans blanked with spaces, so offsets stay).
fn split_code_spans(line: &str) -> (Vec<(usize, &str)>, String) {
    let bytes = line.as_bytes();
    let mut spans = Vec::new();
    let mut outside = String::with_capacity(line.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            outside.push_str(&line[i..i + 2]);
            i += 2;
            continue;
        }
        if bytes[i] != b'`' {
            let c = line[i..].chars().next().unwrap_or(' ');
            outside.push(c);
            i += c.len_utf8();
            continue;
        }
        let run = bytes[i..].iter().take_while(|&&b| b == b'`').count();
        let fence = &line[i..i + run];
        let start = i + run;
        match line[start..].find(fence) {
            Some(len) => {
                spans.push((start, line[start..start + len].trim()));
                let end = start + len + run;
                outside.extend(std::iter::repeat_n(' ', end - i));
                i = end;
            }
            None => {
                outside.push_str(fence);
                i = start;
            }
        }
    }
    (spans, outside)
}

/// The heading anchors of a Markdown text, as mdBook (and, for these headings, GitHub)
/// makes them: lower case, spaces to `-`, other punctuation dropped, repeats numbered.
pub fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        if let Some(f) = fence_marker(line) {
            fence = match fence {
                Some(open) if f.starts_with(open) => None,
                None => Some(f),
                keep => keep,
            };
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let trimmed = line.trim_start();
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if hashes == 0 || hashes > 6 || !trimmed[hashes..].starts_with(' ') {
            continue;
        }
        let title = trimmed[hashes..].trim().replace('`', "");
        let base = slug(&title);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

fn slug(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().next().unwrap_or(c)),
            _ => None,
        })
        .collect()
}

/// The fence that opens or closes a fenced code block, if `line` is one.
fn fence_marker(line: &str) -> Option<&str> {
    let t = line.trim_start();
    ["```", "~~~"].into_iter().find(|f| t.starts_with(f)).map(|_| {
        let c = t.as_bytes()[0];
        &t[..t.bytes().take_while(|&b| b == c).count()]
    })
}

/// The links of a line (code spans already blanked): `(offset, target)`.
fn links(outside: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = outside[from..].find("](") {
        let start = from + pos + 2;
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in outside[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(start + i);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let target = outside[start..end].split_whitespace().next().unwrap_or("");
        out.push((start, target.trim_matches(|c| c == '<' || c == '>').to_string()));
        from = end;
    }
    // Reference definitions: `[name]: target`.
    let t = outside.trim_start();
    if t.starts_with('[')
        && let Some(close) = t.find("]:")
    {
        let target = t[close + 2..].split_whitespace().next().unwrap_or("");
        out.push((0, target.to_string()));
    }
    out
}

/// Joins `rel` onto the directory of `file`, resolving `.` and `..`; `None` if it climbs
/// out of the repository.
fn resolve(file: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Words that stand for "any name" in a path (`pagers/NAME/src/main.rs`).
const PLACEHOLDERS: [&str; 7] = ["NAME", "FILE", "DIR", "N", "NN", "K", "X"];

/// File extensions that make a word a file path even without a top-level directory.
const SOURCE_EXTENSIONS: [&str; 10] = ["rs", "ld", "toml", "sh", "md", "json", "svg", "dts", "S", "c"];

/// What a code-span word refers to, if it looks like a reference at all.
#[derive(Debug, PartialEq, Eq)]
enum Reference<'a> {
    /// A repository path (`kernel/src/boot.rs`, `pagers/numademo/`).
    Path(&'a str),
    /// A bare Rust file name (`ipc.rs`).
    FileName(&'a str),
    /// `path/file.rs::a::b`: items that must occur in the file.
    FileItems(&'a str, Vec<&'a str>),
    /// `Type::member::...`.
    TypeItems(&'a str, Vec<&'a str>),
    /// `module::...::item`.
    ModuleItems(Vec<&'a str>),
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Crates outside the tree whose paths are not checked.
const EXTERNAL_CRATES: [&str; 12] = [
    "core",
    "alloc",
    "std",
    "embedded_hal",
    "embedded_io",
    "aarch64_cpu",
    "tock_registers",
    "spin",
    "fdt",
    "buddy_system_allocator",
    "qemu_plugin",
    "mdbook",
];

fn classify<'a>(word: &'a str, index: &Index<'_>) -> Option<Reference<'a>> {
    let word = word.trim_end_matches("()");
    if word.starts_with('/') || word.starts_with("target/") || word.starts_with('~') || word.contains("://") {
        return None;
    }
    if let Some((path, items)) = word.split_once("::")
        && path.contains('/')
    {
        let items: Vec<&str> = items.split("::").collect();
        return items.iter().all(|i| is_ident(i)).then_some(Reference::FileItems(path, items));
    }
    if word.contains("::") {
        let segs: Vec<&str> = word.split("::").collect();
        if !segs.iter().all(|s| is_ident(s)) || EXTERNAL_CRATES.contains(&segs[0]) {
            return None;
        }
        if matches!(segs[0], "crate" | "self" | "super" | "Self") {
            return None;
        }
        let first_upper = segs[0].starts_with(|c: char| c.is_ascii_uppercase());
        return Some(if first_upper {
            Reference::TypeItems(segs[0], segs[1..].to_vec())
        } else {
            Reference::ModuleItems(segs)
        });
    }
    let path_chars = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if !path_chars(word) || word.contains("//") {
        return None;
    }
    let ext = word.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.contains('/'));
    let has_ext = ext.is_some_and(|e| SOURCE_EXTENSIONS.contains(&e));
    if word.contains('/') {
        let first = word.split('/').next().unwrap_or("");
        let placeholder = word.split('/').any(|seg| {
            let stem = seg.split('.').next().unwrap_or(seg);
            PLACEHOLDERS.contains(&stem)
        });
        if placeholder || word.starts_with("..") {
            return None;
        }
        return (index.top.contains(first) || has_ext).then_some(Reference::Path(word));
    }
    (has_ext && ext.is_some_and(|e| matches!(e, "rs" | "ld" | "sh"))).then_some(Reference::FileName(word))
}

/// Expands `a::b::{c, d}` into `a::b::c` and `a::b::d`.
fn expand_braces(span: &str) -> Vec<String> {
    if let (Some(open), true) = (span.find("::{"), span.ends_with('}')) {
        let head = &span[..open];
        return span[open + 3..span.len() - 1].split(',').map(|i| format!("{head}::{}", i.trim())).collect();
    }
    span.split_whitespace().map(str::to_string).collect()
}

/// Checks one reference; `Err` says why it is broken.
fn check_reference(index: &Index<'_>, r: &Reference<'_>) -> Result<(), String> {
    let tree = index.tree;
    match r {
        Reference::Path(p) => {
            if tree.exists(p) {
                Ok(())
            } else {
                Err(format!("`{p}`: no such file or directory"))
            }
        }
        Reference::FileName(name) => {
            if tree.paths().any(|p| p.rsplit('/').next() == Some(*name)) {
                Ok(())
            } else {
                Err(format!("`{name}`: no file of that name"))
            }
        }
        Reference::FileItems(path, items) => {
            let text = tree.text(path).ok_or_else(|| format!("`{path}`: no such file"))?;
            match items.iter().find(|i| !has_identifier(text, i)) {
                Some(missing) => Err(format!("`{path}` has no `{missing}`")),
                None => Ok(()),
            }
        }
        Reference::TypeItems(ty, items) => {
            let files = index.type_files(ty);
            if files.is_empty() {
                return Err(format!("`{ty}`: no type of that name in the tree"));
            }
            let found = files
                .iter()
                .any(|f| tree.text(f).is_some_and(|t| items.iter().all(|i| has_identifier(t, i))));
            if found {
                Ok(())
            } else {
                Err(format!("`{ty}::{}`: not found beside `{ty}` ({})", items.join("::"), files.join(", ")))
            }
        }
        Reference::ModuleItems(segs) => {
            for k in (1..=segs.len()).rev() {
                let files = index.module_files(&segs[..k]);
                if files.is_empty() {
                    continue;
                }
                let items = &segs[k..];
                let found = files
                    .iter()
                    .any(|f| tree.text(f).is_some_and(|t| items.iter().all(|i| has_identifier(t, i))));
                // `platform::Board::from_fdt`: a type the module re-exports, with its member
                // wherever the type is declared or implemented.
                let via_type = || {
                    items.first().is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))
                        && check_reference(index, &Reference::TypeItems(items[0], items[1..].to_vec()))
                            .is_ok()
                };
                return if found || via_type() {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}`: `{}` not found in {}",
                        segs.join("::"),
                        items.join("::"),
                        files.join(", ")
                    ))
                };
            }
            Err(format!("`{}`: no module `{}` in the tree", segs.join("::"), segs[0]))
        }
    }
}

/// The code spans and quoted phrases in the parentheses that follow offset `after` of
/// `line` (`` `file.rs` (`item`, "Heading") ``), if the parentheses open right there.
fn parenthesised(line: &str, after: usize, spans: &[(usize, &str)]) -> (Vec<String>, Vec<String>) {
    let rest = &line[after..];
    let Some(inner_start) = rest.strip_prefix(" (").map(|_| after + 2) else {
        return (Vec::new(), Vec::new());
    };
    let mut depth = 0usize;
    let mut end = line.len();
    let mut in_code = false;
    for (i, c) in line[inner_start..].char_indices() {
        match c {
            '`' => in_code = !in_code,
            '(' if !in_code => depth += 1,
            ')' if !in_code && depth == 0 => {
                end = inner_start + i;
                break;
            }
            ')' if !in_code => depth -= 1,
            _ => {}
        }
    }
    let items = spans
        .iter()
        .filter(|(o, _)| *o > inner_start && *o < end)
        .flat_map(|(_, s)| expand_braces(s))
        .filter(|s| s.split("::").all(is_ident))
        .collect();
    let (_, outside) = split_code_spans(&line[inner_start..end]);
    let quotes = outside.split('"').skip(1).step_by(2).map(str::to_string).collect();
    (items, quotes)
}

fn check_file(index: &Index<'_>, file: &str, text: &str, out: &mut Outcome) {
    let tree = index.tree;
    let in_book = file.starts_with(&format!("{BOOK_SRC}/"));
    let mut fence: Option<String> = None;
    let mut boot_list = false;
    let report = |line: usize, what: String, out: &mut Outcome| {
        out.findings.push(Finding { file: file.to_string(), line, what })
    };
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(f) = fence_marker(line) {
            fence = match fence {
                Some(open) if f.starts_with(open.as_str()) => None,
                None => Some(f.to_string()),
                keep => keep,
            };
            continue;
        }
        if fence.is_some() {
            boot_list = false;
            continue;
        }
        let (spans, outside) = split_code_spans(line);
        // Links.
        for (_, target) in links(&outside) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            out.checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() { Some(file.to_string()) } else { resolve(file, path) };
            let Some(resolved) = resolved else {
                report(n, format!("link `{target}` leaves the repository"), out);
                continue;
            };
            if !tree.exists(&resolved) {
                report(n, format!("link `{target}`: no such file ({resolved})"), out);
                continue;
            }
            if in_book && !resolved.starts_with(&format!("{BOOK_SRC}/")) {
                report(
                    n,
                    format!(
                        "link `{target}` leaves {BOOK_SRC}/ (dead in the rendered book): name the file in a code span"
                    ),
                    out,
                );
                continue;
            }
            if !anchor.is_empty() && resolved.ends_with(".md") {
                let has = tree.text(&resolved).is_some_and(|t| anchors(t).contains(anchor));
                if !has {
                    report(n, format!("link `{target}`: {resolved} has no heading `#{anchor}`"), out);
                }
            }
        }
        // `{{#include path}}` (mdBook): the file must exist.
        for part in outside.split("{{#include ").skip(1) {
            let path = part.split(['}', ':', ' ']).next().unwrap_or("");
            out.checked += 1;
            if !resolve(file, path).is_some_and(|p| tree.exists(&p)) {
                report(n, format!("{{{{#include {path}}}}}: no such file"), out);
            }
        }
        // Boot tests named after "boot test(s)": each must be in the matrix.
        for name in boot_test_names(line, &spans, &mut boot_list) {
            out.checked += 1;
            let known = index.boot_tests.contains(name.trim_end_matches('*'))
                || name.strip_suffix('*').is_some_and(|p| index.boot_tests.iter().any(|t| t.starts_with(p)));
            if !known {
                report(n, format!("boot test `{name}` is not in {}", BOOT_TESTS.join(" or ")), out);
            }
        }
        // Code spans.
        for (offset, span) in &spans {
            let words = expand_braces(span);
            let mut file_path = None;
            for word in &words {
                let word = word.trim_matches(|c: char| ",;:()'\"".contains(c));
                let Some(r) = classify(word, index) else { continue };
                out.checked += 1;
                if let Err(why) = check_reference(index, &r) {
                    report(n, why, out);
                } else if let (Reference::Path(p), 1) = (&r, words.len()) {
                    file_path = Some(p.to_string());
                }
            }
            // Items in parentheses right after a file path must occur in that file.
            let Some(path) = file_path.filter(|p| tree.text(p).is_some()) else { continue };
            let after = offset + span.len() + line[offset + span.len()..].find('`').map_or(0, |i| i + 1);
            let (items, quotes) = parenthesised(line, after, &spans);
            let text = tree.text(&path).unwrap_or("");
            for item in items {
                out.checked += 1;
                if let Some(missing) = item.split("::").find(|i| !has_identifier(text, i)) {
                    report(n, format!("`{path}` has no `{missing}` (named in parentheses after it)"), out);
                }
            }
            for quote in quotes {
                out.checked += 1;
                if !text.contains(&quote) {
                    report(n, format!("`{path}` has no \"{quote}\" (named in parentheses after it)"), out);
                }
            }
        }
    }
}

/// Every chapter of the book must be reachable: listed in `SUMMARY.md` or included by a
/// chapter that is.
fn check_summary(tree: &Tree, out: &mut Outcome) {
    let summary_path = format!("{BOOK_SRC}/SUMMARY.md");
    let Some(summary) = tree.text(&summary_path) else { return };
    let mut used = BTreeSet::new();
    for line in summary.lines() {
        let (_, outside) = split_code_spans(line);
        for (_, target) in links(&outside) {
            if let Some(p) = resolve(&summary_path, target.split('#').next().unwrap_or("")) {
                used.insert(p);
            }
        }
    }
    for chapter in used.clone() {
        if let Some(text) = tree.text(&chapter) {
            for part in text.split("{{#include ").skip(1) {
                let path = part.split(['}', ':', ' ']).next().unwrap_or("");
                if let Some(p) = resolve(&chapter, path) {
                    used.insert(p);
                }
            }
        }
    }
    let prefix = format!("{BOOK_SRC}/");
    for md in tree.markdown() {
        if md.starts_with(&prefix) && md != summary_path && !used.contains(md) {
            out.checked += 1;
            out.findings.push(Finding {
                file: md.to_string(),
                line: 1,
                what: format!("not in {summary_path}: mdBook leaves it out of the book"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        Tree::new(files.iter().map(|(p, t)| (p.to_string(), Some(t.to_string()))))
    }

    fn rust_tree(extra: &[(&str, &str)]) -> Vec<(&'static str, &'static str)> {
        let mut files = vec![
            ("Cargo.toml", "[workspace]\n"),
            ("kernel/Cargo.toml", "[package]\nname = \"kernel\"\n"),
            ("kernel/src/lib.rs", "pub mod l4;\npub mod mm;\n"),
            (
                "kernel/src/l4/mod.rs",
                "pub struct Kernel;\nimpl Kernel {\n    pub fn move_thread(&self) {}\n}\n",
            ),
            ("kernel/src/l4/ipc.rs", "impl Kernel {\n    fn receive(&self) {}\n}\npub fn notify() {}\n"),
            ("kernel/src/mm/table.rs", "pub fn replicate() {}\n//! # Design\n"),
            ("kernel/uefi-loader/Cargo.toml", "[package]\nname = \"uefi-loader\"\n"),
            ("kernel/uefi-loader/src/main.rs", "fn efi_main() {}\n"),
            ("docs/src/SUMMARY.md", "# Summary\n\n[Boot](boot.md)\n"),
        ];
        files.extend(extra.iter().map(|(p, t)| {
            let p: &'static str = Box::leak(p.to_string().into_boxed_str());
            let t: &'static str = Box::leak(t.to_string().into_boxed_str());
            (p, t)
        }));
        files
    }

    fn findings(files: &[(&str, &str)]) -> Vec<String> {
        let files = rust_tree(files);
        check(&tree(&files)).findings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn existing_paths_and_items_pass() {
        let doc = "See `kernel/src/l4/ipc.rs`, `kernel/src/mm/table.rs::replicate`, `Kernel::move_thread`,\n\
                   `Kernel::receive`, `mm::table::replicate`, `l4::ipc::notify`, `kernel::l4`, `uefi_loader`,\n\
                   `ipc.rs`, `kernel/src/l4/` and `kernel/src/l4/mod.rs` (`Kernel`, `move_thread`).\n";
        assert_eq!(findings(&[("docs/src/boot.md", doc)]), Vec::<String>::new());
    }

    #[test]
    fn a_missing_file_is_found_with_its_line() {
        let doc = "line one\n`kernel/src/l4/gone.rs` is gone\n";
        assert_eq!(
            findings(&[("docs/src/boot.md", doc)]),
            ["docs/src/boot.md:2: `kernel/src/l4/gone.rs`: no such file or directory"]
        );
    }

    #[test]
    fn a_renamed_item_is_found() {
        let doc = "`kernel/src/mm/table.rs::replicate_all` and `Kernel::migrate` and `mm::table::copy`\n";
        let f = findings(&[("docs/src/boot.md", doc)]);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("has no `replicate_all`"), "{f:?}");
        assert!(f[1].contains("`Kernel::migrate`: not found"), "{f:?}");
        assert!(f[2].contains("`copy` not found in kernel/src/mm/table.rs"), "{f:?}");
    }

    #[test]
    fn unknown_types_modules_and_file_names_are_found() {
        let doc = "`Scheduler::pick`, `sched::pick`, `sched.rs`\n";
        let f = findings(&[("docs/src/boot.md", doc)]);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("no type of that name"), "{f:?}");
        assert!(f[1].contains("no module `sched`"), "{f:?}");
        assert!(f[2].contains("no file of that name"), "{f:?}");
    }

    #[test]
    fn items_in_parentheses_after_a_file_must_be_in_it() {
        let doc = "`kernel/src/l4/mod.rs` (`move_thread`, `delete_thread`) and `kernel/src/mm/table.rs` (\"Design\", \"Usage\")\n";
        let f = findings(&[("docs/src/boot.md", doc)]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("has no `delete_thread`"), "{f:?}");
        assert!(f[1].contains("has no \"Usage\""), "{f:?}");
    }

    #[test]
    fn braces_expand_into_items() {
        let doc = "`l4::ipc::{notify, receive}` and `l4::ipc::{notify, send}`\n";
        let f = findings(&[("docs/src/boot.md", doc)]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("`send` not found"), "{f:?}");
    }

    #[test]
    fn links_must_reach_files_and_headings() {
        let book = "# Boot\n\n## The first instructions\n\n[ok](#the-first-instructions) [bad](#nowhere)\n\
                    [chapter](boot.md#boot) [missing](mm.md) [out](../../kernel/src/lib.rs)\n";
        let readme = "[book](docs/src/boot.md#the-first-instructions) [code](kernel/src/lib.rs) \
                      [gone](docs/src/gone.md) [web](https://example.org/x)\n";
        let f = findings(&[("docs/src/boot.md", book), ("README.md", readme)]);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f[0].starts_with("README.md:1: link `docs/src/gone.md`: no such file"), "{f:?}");
        assert!(f[1].starts_with("docs/src/boot.md:5: link `#nowhere`"), "{f:?}");
        assert!(f[2].starts_with("docs/src/boot.md:6: link `mm.md`: no such file"), "{f:?}");
        assert!(f[3].contains("leaves docs/src/"), "{f:?}");
    }

    #[test]
    fn code_blocks_build_output_device_tree_paths_and_placeholders_are_not_checked() {
        let doc = "```sh\nscripts/gone --flag kernel/src/gone.rs\n```\n\
                   `target/initrd.cpio`, `/chosen/bootargs`, `pagers/NAME/src/main.rs`, `code-local=L/T`,\n\
                   `report: kmem tables=ON/TOTAL`, `core::fmt::Write`, `f.dtb`\n";
        assert_eq!(findings(&[("docs/src/boot.md", doc)]), Vec::<String>::new());
    }

    #[test]
    fn a_chapter_missing_from_the_summary_is_found() {
        let f = findings(&[
            ("docs/src/boot.md", "# Boot\n{{#include results/table.md}}\n"),
            ("docs/src/results/table.md", "| a |\n"),
            ("docs/src/orphan.md", "# Orphan\n"),
        ]);
        assert_eq!(f, ["docs/src/orphan.md:1: not in docs/src/SUMMARY.md: mdBook leaves it out of the book"]);
    }

    #[test]
    fn a_missing_include_is_found() {
        let f = findings(&[("docs/src/boot.md", "{{#include results/gone.md}}\n")]);
        assert_eq!(f, ["docs/src/boot.md:1: {{#include results/gone.md}}: no such file"]);
    }

    #[test]
    fn boot_tests_must_be_in_the_matrix() {
        let matrix = "BootTest::new(\"numa-2x2\", ..); BootTest::new(\"numademo-4-nodes\", ..); [\"l4test\"]";
        let doc = "boot tests `numa-2x2` (two nodes), `l4test` and\n`numa-3x3`; boot test `numademo*`, `bad-elf-*`,\n\
                   every boot test requires `report: boot`, boot test `uboot`: x `not-a-test`\n";
        let f = findings(&[
            (BOOT_TESTS[0], matrix),
            (BOOT_TESTS[1], "\"bad-elf-magic\""),
            ("docs/src/boot.md", doc),
        ]);
        assert_eq!(
            f,
            [
                "docs/src/boot.md:2: boot test `numa-3x3` is not in tests/src/boot.rs or tests/src/failures.rs",
                "docs/src/boot.md:3: boot test `uboot` is not in tests/src/boot.rs or tests/src/failures.rs"
            ]
        );
    }

    #[test]
    fn anchors_follow_mdbook() {
        let a = anchors("# The L4 core\n## `report:` lines\n## Again\n## Again\n```\n# not a heading\n```\n");
        let want: BTreeSet<String> =
            ["the-l4-core", "report-lines", "again", "again-1"].into_iter().map(String::from).collect();
        assert_eq!(a, want);
    }

    #[test]
    fn code_spans_split_from_text() {
        let (spans, outside) = split_code_spans("a `b` c ``d ` e`` [x](y)");
        assert_eq!(spans, [(3, "b"), (10, "d ` e")]);
        assert!(outside.starts_with("a     c"), "{outside:?}");
        assert_eq!(links(&outside), [(outside.find("y)").unwrap(), "y".to_string()),]);
    }

    #[test]
    fn package_names_come_from_the_package_section() {
        assert_eq!(package_name("[package]\nname = \"uefi-loader\"\n"), Some("uefi-loader".to_string()));
        assert_eq!(package_name("[workspace]\nname = \"x\"\n"), None);
    }
}
