//! Tidy checks of the house rules that a reader would otherwise have to check by hand:
//! the crate dependency rules of ARCHITECTURE.md, the formula tags of `docs/derivation.md`, and
//! patterns banned from library code.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(root().join("crates")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// The names of the normal (not dev) dependencies declared in a Cargo.toml.
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]"
                || line.starts_with("[target.") && line.ends_with(".dependencies]");
            continue;
        }
        if let Some((name, _)) = line.split_once('=').filter(|_| in_deps) {
            let name = name.trim().split('.').next().unwrap_or_default().to_owned();
            if !name.is_empty() && !name.starts_with('#') {
                deps.insert(name);
            }
        }
    }
    deps
}

/// Whether the `[dependencies]` line of `name` in a Cargo.toml says `optional = true`.
fn is_optional(manifest: &str, name: &str) -> bool {
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && line.split('=').next().is_some_and(|n| n.trim() == name) {
            return line.contains("optional = true");
        }
    }
    false
}

#[test]
fn unsafe_code_lives_in_one_module() {
    // The workspace's only `unsafe` library code: `vzeroupper`, `XGETBV` and `CPUID` in
    // nn-linalg's upper_state module (see ARCHITECTURE.md). Tests may opt out (the counting
    // allocator), library sources may not.
    let allowed = root().join("crates/nn-linalg/src/upper_state.rs");
    let mut files = Vec::new();
    for dir in crates() {
        rust_files(&dir.join("src"), &mut files);
    }
    rust_files(&root().join("src"), &mut files);
    for f in files {
        let text = read(&f);
        let has_unsafe = text.lines().any(|l| {
            let code = l.split("//").next().unwrap_or_default();
            code.contains("unsafe ") || code.contains("unsafe_code") && code.contains("allow")
        });
        assert_eq!(has_unsafe, f == allowed, "{}: unsafe code outside upper_state.rs", f.display());
    }
}

#[test]
fn only_nn_linalg_depends_on_faer() {
    for dir in crates() {
        let deps = normal_dependencies(&read(&dir.join("Cargo.toml")));
        let is_linalg = dir.ends_with("nn-linalg");
        assert_eq!(
            deps.contains("faer"),
            is_linalg,
            "{}: faer belongs to nn-linalg only",
            dir.display()
        );
        for src in {
            let mut v = Vec::new();
            rust_files(&dir.join("src"), &mut v);
            v
        } {
            if !is_linalg {
                assert!(!read(&src).contains("faer::"), "{} names faer", src.display());
            }
        }
    }
    assert!(!normal_dependencies(&read(&root().join("Cargo.toml"))).contains("faer"));
}

#[test]
fn dependency_direction_is_one_way() {
    // Which of our crates each crate may depend on (ARCHITECTURE.md, "Code map").
    let allowed: &[(&str, &[&str])] = &[
        ("nn-linalg", &[]),
        ("nn-core", &["nn-linalg"]),
        ("nn-train", &["nn-linalg", "nn-core"]),
        ("nn-io", &["nn-linalg", "nn-core", "nn-train"]),
        ("nn-dist", &["nn-linalg", "nn-core", "nn-train"]),
        ("nn-py", &["nn-linalg", "nn-core", "nn-train", "nn-io"]),
    ];
    for dir in crates() {
        let name = dir.file_name().unwrap().to_str().unwrap();
        let deps = normal_dependencies(&read(&dir.join("Cargo.toml")));
        let (_, ok) = allowed
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in the tidy table"));
        for dep in deps.iter().filter(|d| d.starts_with("nn-")) {
            assert!(ok.contains(&dep.as_str()), "{name} must not depend on {dep}");
        }
        // rayon: nn-train needs it, and nn-py (a leaf that has nn-train anyway) builds a pool of
        // its own for `predict`; nn-linalg and nn-core may offer it behind an opt-in feature.
        let manifest = read(&dir.join("Cargo.toml"));
        match name {
            "nn-train" | "nn-py" => {}
            "nn-linalg" | "nn-core" => assert!(
                !deps.contains("rayon") || is_optional(&manifest, "rayon"),
                "{name}: rayon only as an optional dependency"
            ),
            _ => assert!(!deps.contains("rayon"), "{name}: must not depend on rayon"),
        }
        if name == "nn-core" {
            for banned in ["serde", "bincode"] {
                assert!(!deps.contains(banned), "nn-core must not depend on {banned}");
            }
        }
    }
}

#[test]
fn only_nn_dist_names_mpi_and_only_as_an_option() {
    for dir in crates() {
        let manifest = read(&dir.join("Cargo.toml"));
        let is_dist = dir.ends_with("nn-dist");
        assert_eq!(
            normal_dependencies(&manifest).contains("mpi"),
            is_dist,
            "{}: MPI belongs to nn-dist only",
            dir.display()
        );
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for src in files {
            let text = read(&src);
            if !is_dist {
                assert!(!text.contains("mpi::"), "{} names mpi", src.display());
            }
        }
        if is_dist {
            // Opt-in: the default build needs neither an MPI library nor libclang.
            let line = manifest.lines().find(|l| l.starts_with("mpi = {")).unwrap();
            assert!(line.contains("optional = true"), "nn-dist's mpi dependency must be optional");
            assert!(manifest.contains("default = []"), "nn-dist's default features must be empty");
        }
    }
    let root = read(&root().join("Cargo.toml"));
    assert!(!normal_dependencies(&root).contains("mpi"));
    let facade = root.lines().find(|l| l.starts_with("nn-dist = { workspace")).unwrap();
    assert!(facade.contains("optional = true"), "the facade's nn-dist must be optional");
}

/// The `[section]` of a manifest, as its lines up to the next section.
fn section<'a>(manifest: &'a str, name: &str) -> Vec<&'a str> {
    manifest
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != name)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn only_nn_py_names_python_and_the_workspace_builds_without_it() {
    for dir in crates() {
        let deps = normal_dependencies(&read(&dir.join("Cargo.toml")));
        if dir.ends_with("nn-py") {
            continue;
        }
        for python in ["pyo3", "numpy"] {
            assert!(!deps.contains(python), "{}: only nn-py depends on {python}", dir.display());
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = read(&f);
            assert!(
                !text.contains("pyo3") && !text.contains("numpy::"),
                "{} names Python",
                f.display()
            );
        }
    }
    let root_manifest = read(&root().join("Cargo.toml"));
    let root_deps = normal_dependencies(&root_manifest);
    assert!(!root_deps.contains("pyo3") && !root_deps.contains("numpy"));
    // `cargo test --workspace` must not need a Python interpreter: nn-py is excluded from the
    // workspace and has one of its own, with the same lints.
    let members = section(&root_manifest, "[workspace]").join(" ");
    assert!(!members.split("exclude").next().unwrap_or_default().contains("nn-py"));
    assert!(members.contains(r#""crates/nn-py""#), "the workspace must exclude crates/nn-py");
    let py = read(&root().join("crates/nn-py/Cargo.toml"));
    assert!(py.lines().any(|l| l.trim() == "[workspace]"), "nn-py needs its own [workspace]");
    for (ours, theirs) in [
        ("[lints.rust]", "[workspace.lints.rust]"),
        ("[lints.clippy]", "[workspace.lints.clippy]"),
        ("[lints.rustdoc]", "[workspace.lints.rustdoc]"),
    ] {
        let expected = section(&root_manifest, theirs);
        let mut found = section(&py, ours);
        // The library forbids unsafe code outright; the workspace only denies it (see its note).
        found.retain(|l| *l != r#"unsafe_code = "forbid""#);
        let expected: Vec<_> =
            expected.into_iter().filter(|l| !l.starts_with("unsafe_code")).collect();
        assert_eq!(found, expected, "crates/nn-py's {ours} must repeat the workspace's {theirs}");
    }
}

/// Formula tags (`F2`, `B3`, ...) in a text, with ranges such as `L1–L3` expanded.
fn tags(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = BTreeSet::new();
    for i in 0..chars.len().saturating_sub(1) {
        let c = chars[i];
        let boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if boundary
            && "FBLR".contains(c)
            && chars[i + 1].is_ascii_digit()
            && chars.get(i + 2).is_none_or(|n| !n.is_alphanumeric())
        {
            out.insert(format!("{c}{}", chars[i + 1]));
            // A range: `L1–L3` or `L1-L3`.
            let is_range =
                matches!(chars.get(i + 2), Some('–' | '-')) && chars.get(i + 3) == Some(&c);
            if let (true, Some(a), Some(b)) =
                (is_range, chars[i + 1].to_digit(10), chars.get(i + 4).and_then(|d| d.to_digit(10)))
            {
                for d in a..=b {
                    out.insert(format!("{c}{d}"));
                }
            }
        }
    }
    out
}

#[test]
fn every_formula_tag_is_implemented_and_every_cited_tag_exists() {
    let doc = read(&root().join("docs/derivation.md"));
    let defined: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .filter_map(|l| l.split_whitespace().next().map(|t| t.trim_end_matches(':').to_owned()))
        .filter(|t| tags(t).len() == 1 && t.len() == 2)
        .collect();
    let expected: BTreeSet<String> = ["F1", "F2", "F3", "B1", "B2", "B3", "L1", "L2", "L3", "R1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(defined, expected, "tags defined in docs/derivation.md");
    let mut files = Vec::new();
    rust_files(&root().join("crates/nn-core/src"), &mut files);
    let cited: BTreeSet<String> = files.iter().flat_map(|f| tags(&read(f))).collect();
    for tag in &defined {
        assert!(cited.contains(tag), "{tag} is never cited in crates/nn-core/src");
    }
    for tag in &cited {
        assert!(
            defined.contains(tag),
            "{tag} is cited in crates/nn-core/src but not defined in docs/derivation.md"
        );
    }
}

#[test]
fn library_code_prints_nothing_and_uses_no_ragged_matrices() {
    for dir in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = read(&f);
            for banned in [
                "println!",
                "eprintln!",
                "print!(",
                "dbg!(",
                "Vec<Vec<f",
                "thread_rng",
                "todo!(",
                "unimplemented!(",
            ] {
                assert!(!text.contains(banned), "{} contains {banned}", f.display());
            }
        }
    }
}

#[test]
fn the_hot_path_uses_no_allocating_faer_operators() {
    // The forward and backward passes: only `gemm_into` and in-place loops.
    let text = read(&root().join("crates/nn-core/src/network.rs"));
    let start = text.find("pub fn forward_into").unwrap();
    let end = text.find("pub fn predict_proba").unwrap();
    let hot = &text[start..end];
    for banned in
        [".to_owned()", "Mat::zeros", "Mat::from_fn", "vec!", "Vec::new", ".clone()", ".collect"]
    {
        assert!(!hot.contains(banned), "forward/backward contains {banned}");
    }
}

#[test]
fn tag_scanner_finds_tags_and_ranges() {
    let t = tags("(F2) and B3, L1–L3, not F22 or XF1");
    let v: Vec<&str> = t.iter().map(String::as_str).collect();
    assert_eq!(v, ["B3", "F2", "L1", "L2", "L3"]);
}

/// The targets of the Markdown links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(&rest[..end]);
        }
    }
    targets
}

/// Every text file of the repository (sources, scripts, documents), outside build folders.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !["target", ".git", "runs", "__pycache__"].contains(&name.to_str().unwrap_or("")) {
                text_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| {
            ["md", "rs", "sh", "py", "toml", "txt"].contains(&e.to_str().unwrap_or(""))
        }) {
            out.push(path);
        }
    }
}

#[test]
fn documents_link_only_inside_the_repository() {
    // A clone holds this repository and nothing beside it: every link of the documents is a path
    // in it that exists (or an anchor), and no file names a folder outside it.
    let root = root().canonicalize().unwrap();
    let mut docs = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    docs.push(root.join("benches/peers/README.md"));
    for entry in fs::read_dir(root.join("docs")).unwrap().map(Result::unwrap) {
        if entry.path().extension().is_some_and(|e| e == "md") {
            docs.push(entry.path());
        }
    }
    for doc in &docs {
        let text = read(doc);
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() {
                continue;
            }
            assert!(
                !target.contains("://"),
                "{}: links outside the repository: {target}",
                doc.display()
            );
            let resolved = doc.parent().unwrap().join(path);
            let canonical = resolved.canonicalize().unwrap_or_else(|e| {
                panic!("{}: the link {target} leads nowhere: {e}", doc.display())
            });
            assert!(
                canonical.starts_with(&root),
                "{}: {target} is outside the repository",
                doc.display()
            );
        }
    }
    let mut files = Vec::new();
    text_files(&root, &mut files);
    for file in files {
        let text = read(&file);
        // Spelled in two parts, so that this file does not name them.
        for banned in [concat!("..", "/shared"), concat!("/wo", "rk/")] {
            assert!(
                !text.contains(banned),
                "{} names {banned}, which a clone does not have",
                file.display()
            );
        }
    }
}

#[test]
fn link_targets_are_found() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x), [b](#b) and f(x) [c](../c)"),
        ["docs/a.md#x", "#b", "../c"]
    );
}
