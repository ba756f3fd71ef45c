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
