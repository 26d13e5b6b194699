//! The library's modules import each other without a circle, and each layer only looks down:
//! the session model and the stores never reach for the backends, the handle or the
//! middleware. Read from the source, so a new `use` that breaks the layering fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path under `crate`, e.g. `["store", "memory"]`.
type ModPath = Vec<String>;

struct Source {
    /// Module path -> file text (without comments and unit tests).
    files: BTreeMap<ModPath, String>,
}

impl Source {
    fn read() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.insert(module_path(&root, &path), code_only(&path));
                }
            }
        }
        Source { files }
    }

    /// The file a path such as `store::memory::MemoryStore` names: its longest known module
    /// prefix, followed through that module's `pub use child::…` re-exports.
    fn resolve(&self, path: &[String]) -> Option<ModPath> {
        let mut known = (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| self.files.contains_key(p))?;
        if let Some(item) = path.get(known.len()) {
            if let Some(child) = self.reexport_source(&known, item) {
                known.push(child);
            }
        }
        Some(known)
    }

    /// Which child module `module` re-exports `item` from, if any.
    fn reexport_source(&self, module: &ModPath, item: &str) -> Option<String> {
        let text = &self.files[module];
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("pub use ") else {
                continue;
            };
            let rest = rest.strip_prefix("self::").unwrap_or(rest);
            let Some((child, items)) = rest.split_once("::") else {
                continue;
            };
            let names = items.trim_matches(|c| "{};".contains(c));
            if names.split(',').any(|n| n.trim() == item) {
                let mut p = module.clone();
                p.push(child.to_owned());
                if self.files.contains_key(&p) {
                    return Some(child.to_owned());
                }
            }
        }
        None
    }

    /// Every module each module uses (re-exports with `pub use` are a facade, not a use).
    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges = BTreeMap::new();
        for (module, text) in &self.files {
            let mut uses = BTreeSet::new();
            for path in paths_in(module, text) {
                if let Some(target) = self.resolve(&path) {
                    // A module may use its ancestors (the parent's shared types).
                    if &target != module && !module.starts_with(&target) {
                        uses.insert(target);
                    }
                }
            }
            edges.insert(module.clone(), uses);
        }
        edges
    }
}

fn module_path(root: &Path, file: &Path) -> ModPath {
    let rel: PathBuf = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The file's code: no comment lines, nothing from the unit tests on.
fn code_only(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `crate::…` and `super::…` paths a module's code names (outside `pub use`), made
/// absolute; `{a, b::c}` groups are expanded.
fn paths_in(module: &ModPath, text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut statements = Vec::new();
    // Whole `use` statements (they may span lines and hold groups)…
    for stmt in text.split(';') {
        let stmt = stmt.trim();
        if let Some(u) = stmt
            .strip_prefix("use ")
            .or_else(|| stmt.strip_prefix("pub(crate) use "))
        {
            statements.push(u.split_whitespace().collect::<String>());
        }
    }
    // …and paths written inline in code.
    for (i, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        let preceded = text[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded || text[..i].trim_end().ends_with("pub use") {
            continue;
        }
        let tail: String = text[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        statements.push(tail);
    }
    for stmt in statements {
        for path in expand(&stmt) {
            if let Some(abs) = absolute(module, &path) {
                out.push(abs);
            }
        }
    }
    out
}

/// `a::{b, c::{d}}` -> `a::b`, `a::c::d`.
fn expand(stmt: &str) -> Vec<String> {
    let Some(open) = stmt.find('{') else {
        return vec![stmt.to_owned()];
    };
    let prefix = &stmt[..open];
    let inner = &stmt[open + 1..stmt.rfind('}').unwrap_or(stmt.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

fn absolute(module: &ModPath, path: &str) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => Vec::new(),
        Some(&"super") => module.clone(),
        _ => return None,
    };
    segments.remove(0);
    if path.starts_with("super") {
        base.pop();
        while segments.first() == Some(&"super") {
            segments.remove(0);
            base.pop();
        }
    }
    base.extend(
        segments
            .into_iter()
            .filter(|s| *s != "self")
            .map(str::to_owned),
    );
    Some(base)
}

fn name(p: &ModPath) -> String {
    if p.is_empty() {
        "crate".to_owned()
    } else {
        p.join("::")
    }
}

#[test]
fn no_module_imports_another_in_a_circle() {
    let source = Source::read();
    assert!(source.files.len() > 40, "the source was read");
    let edges = source.edges();
    // Depth-first search; a back edge is a circle.
    fn visit(
        m: &ModPath,
        edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        on_path: &mut Vec<ModPath>,
        done: &mut BTreeSet<ModPath>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = on_path.iter().position(|p| p == m) {
            let circle: Vec<String> = on_path[at..].iter().chain([m]).map(name).collect();
            circles.push(circle.join(" -> "));
            return;
        }
        on_path.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, on_path, done, circles);
        }
        on_path.pop();
        done.insert(m.clone());
    }
    let (mut done, mut circles) = (BTreeSet::new(), Vec::new());
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn each_layer_only_looks_down() {
    let edges = Source::read().edges();
    // The foundations, lowest first: each may use only those before it.
    let foundations = ["time", "json", "signing", "cookie"];
    let upper = ["session", "store", "backend", "middleware"];
    let forbidden_above: Vec<Vec<&str>> = (0..foundations.len())
        .map(|i| foundations[i + 1..].iter().chain(&upper).copied().collect())
        .collect();
    let mut rules: Vec<(&[&str], &[&str])> = foundations
        .iter()
        .zip(&forbidden_above)
        .map(|(m, above)| (std::slice::from_ref(m), above.as_slice()))
        .collect();
    // The session model sits below the stores and the handle.
    let model = ["key", "codec", "config", "expiry", "lifetime", "limits"];
    let above_model: &[&str] = &["store", "backend", "middleware", "session::handle"];
    let model_paths: Vec<[&str; 2]> = model.iter().map(|m| ["session", m]).collect();
    rules.extend(model_paths.iter().map(|p| (p.as_slice(), above_model)));
    // What a module under the first path must never use.
    rules.extend_from_slice(&[
        (
            &["store"],
            &["backend", "middleware", "session::handle", "extract"],
        ),
        (&["backend"], &["middleware", "session::handle", "extract"]),
        (&["session", "handle"], &["middleware", "extract"]),
    ]);
    let mut broken = Vec::new();
    for (module, uses) in &edges {
        for (under, forbidden) in &rules {
            if !module.starts_with(&under.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
                continue;
            }
            for target in uses {
                let t = name(target);
                if forbidden
                    .iter()
                    .any(|f| t == *f || t.starts_with(&format!("{f}::")))
                {
                    broken.push(format!("{} uses {t}", name(module)));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}
