//! Helpers shared by the end-to-end tests: the built binary, scratch folders, error checks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hypersphere` binary built next to this test (same profile and target directory).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join(format!("hypersphere{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} not built: run `cargo test --workspace`", bin.display());
    bin
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

pub fn fixture(name: &str) -> String {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run through cargo test")).join("../core/tests/fixtures").join(name).display().to_string()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hs-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a clean failure: exit code 1, one `error:` line mentioning `needle`, no panic.
pub fn assert_user_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let line = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line in: {stderr}"));
    assert!(line.contains(needle), "'{needle}' not in: {line}");
}

pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The cells of the row (of a Markdown report) `| label | ...` of the table under `## heading`.
pub fn row(md: &str, heading: &str, label: &str) -> Vec<String> {
    let section = md.split(&format!("## {heading}\n")).nth(1).unwrap_or_else(|| panic!("no section '{heading}' in:\n{md}"));
    let section = section.split("\n## ").next().unwrap();
    let line = section
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row '{label}' under '{heading}':\n{section}"));
    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The lines of a run's `metrics.jsonl`.
pub fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    let path = dir.join("metrics.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: damaged line {l}: {e}", path.display())))
        .collect()
}

/// `value` without what legitimately differs between two runs of the same computation:
/// timings and the device line.
pub fn numbers(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !(k.contains("second") || k.contains("time") || *k == "runtime" || *k == "device"))
                .map(|(k, v)| (k.clone(), numbers(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(numbers).collect()),
        v => v.clone(),
    }
}

/// [`metrics`] without timings ([`numbers`] of every line).
pub fn metric_numbers(dir: &Path) -> Vec<serde_json::Value> {
    metrics(dir).iter().map(numbers).collect()
}
