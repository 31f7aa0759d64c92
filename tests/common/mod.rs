//! Helpers shared by the integration tests: fixture paths and library runs.
#![allow(
    dead_code, // each test binary uses a different subset
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod traffic;
#[allow(unused_imports)]
pub(crate) use traffic::*;

use std::path::{Path, PathBuf};

use chaudit::{analyze, Analysis, Config};

/// The repository root (tests run with it as the working directory of `chaudit`).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a fixture relative to the repository root.
pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Column names of a headerless export, from its `<scenario>.TabSeparated.columns` file.
pub(crate) fn columns_of(tsv: &str) -> Vec<String> {
    let cols = tsv.replace(".TabSeparated.tsv", ".TabSeparated.columns");
    String::from_utf8(fixture(&cols))
        .unwrap()
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Analyzes one fixture with the default configuration (plus column order for TabSeparated).
pub(crate) fn analyze_fixture(rel: &str) -> Analysis {
    let mut config = Config::default();
    if rel.ends_with(".TabSeparated.tsv") {
        config.columns = Some(columns_of(rel));
    }
    let bytes = fixture(rel);
    analyze(config, &[(rel, &bytes)]).unwrap()
}

/// Every file in a fixture directory with one of the export extensions, sorted.
pub(crate) fn exports_in(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("tsv" | "csv" | "jsonl" | "txt")
            )
        })
        .map(|p| rel(&p))
        .collect();
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
