//! The direction of dependencies, checked: `main`/`cli` → `startup` → `http` → `authority`
//! (operations) → `store` → the domain (`accounts`, `tokens`, `keys`, `clock`, `net`). A test
//! reads every source file and refuses a reference against that direction; the places that do
//! not follow it yet are listed by name in [`NOT_YET`], and the test fails when one of them is
//! fixed without being struck off, so the list only shrinks. `docs/architecture.md` explains
//! the layers.

/// What the domain may not name: it is pure.
#[cfg(test)]
const DOMAIN: &[&str] = &[
    "crate::http",
    "crate::authority",
    "crate::startup",
    "crate::cli",
    "crate::store",
    "actix_web",
    "diesel",
];

/// What each part of the code may not name (`crate::…` modules, or external crates).
#[cfg(test)]
const RULES: &[(&str, &[&str])] = &[
    ("src/accounts/", DOMAIN),
    ("src/tokens/", DOMAIN),
    ("src/keys/", DOMAIN),
    ("src/clock.rs", &["crate::", "actix_web", "diesel"]),
    ("src/net.rs", &["crate::", "actix_web", "diesel"]),
    ("src/scope.rs", &["crate::", "actix_web", "diesel"]),
    ("src/store/", &["crate::http", "crate::authority", "crate::startup", "crate::cli", "actix_web"]),
    ("src/authority/", &["crate::http", "crate::startup", "crate::cli", "actix_web"]),
    ("src/http/", &["crate::startup", "crate::cli", "crate::store", "diesel"]),
    ("src/cli.rs", &["crate::http", "crate::store", "diesel"]),
    ("src/cli/", &["crate::http", "crate::store", "diesel"]),
];

/// References against the direction that remain, as `file: name`. Each is work left for the
/// operations-layer issue; strike a line off when its reference is gone.
#[cfg(test)]
const NOT_YET: &[&str] = &[];

/// Pairs of top-level modules that still name each other; every other pair depends one way
/// at most. Strike a pair off when it is untangled.
#[cfg(test)]
const NOT_YET_CIRCLES: &[&str] = &[];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The code of a file without its test module (tests may reach anywhere).
    fn code_of(text: &str) -> &str {
        text.find("#[cfg(test)]\nmod tests").map_or(text, |at| &text[..at])
    }

    /// Every source file's top-level module and its code without tests.
    fn modules() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        files
            .into_iter()
            .filter_map(|file| {
                let name = file.strip_prefix(&root).ok()?.display().to_string();
                let top = name.split('/').next()?.trim_end_matches(".rs").to_owned();
                let text = std::fs::read_to_string(&file).ok()?;
                let skip = ["main", "lib", "layers"].contains(&top.as_str());
                (!skip).then(|| (top, code_of(&text).to_owned()))
            })
            .collect()
    }

    #[test]
    fn no_two_top_level_modules_name_each_other() {
        let mut names: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (top, code) in modules() {
            let named = names.entry(top.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let module: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if module != top {
                    named.insert(module);
                }
            }
        }
        let mut circles = BTreeSet::new();
        for (a, named) in &names {
            for b in named.iter().filter(|b| *b > a) {
                if names.get(b).is_some_and(|back| back.contains(a)) {
                    circles.insert(format!("{a} <-> {b}"));
                }
            }
        }
        let allowed: BTreeSet<String> = NOT_YET_CIRCLES.iter().map(|s| (*s).to_owned()).collect();
        let new: Vec<_> = circles.difference(&allowed).collect();
        let fixed: Vec<_> = allowed.difference(&circles).collect();
        assert!(new.is_empty(), "modules naming each other (see docs/architecture.md): {new:#?}");
        assert!(
            fixed.is_empty(),
            "untangled, so strike them off NOT_YET_CIRCLES in src/layers.rs: {fixed:#?}"
        );
    }

    #[test]
    fn dependencies_run_one_way() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        let mut found = BTreeSet::new();
        for file in files {
            let name = file.strip_prefix(root).unwrap().display().to_string();
            let text = std::fs::read_to_string(&file).unwrap();
            let code = code_of(&text);
            for (_, forbidden) in RULES.iter().filter(|(place, _)| name.starts_with(place)) {
                for word in forbidden.iter() {
                    // `crate::` alone forbids every module; `crate::x` must not be `crate::xy`.
                    let named = code.match_indices(word).any(|(at, _)| {
                        word.ends_with("::")
                            || !code[at + word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if named {
                        found.insert(format!("{name}: {word}"));
                    }
                }
            }
        }
        let allowed: BTreeSet<String> = NOT_YET.iter().map(|s| (*s).to_owned()).collect();
        let new: Vec<_> = found.difference(&allowed).collect();
        let fixed: Vec<_> = allowed.difference(&found).collect();
        assert!(new.is_empty(), "references against the direction (see docs/architecture.md): {new:#?}");
        assert!(fixed.is_empty(), "fixed, so strike them off NOT_YET in src/layers.rs: {fixed:#?}");
    }
}
