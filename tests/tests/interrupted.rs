//! Interrupted work loses nothing (issue 13): `train`, `eval --resume`, `corrupt-eval` and
//! `reproduce` are stopped at several moments, including halfway through a checkpoint or
//! result write, then run again; the final numbers must equal those of an uninterrupted run
//! (CPU, same seed: the code is deterministic there, so equality is exact), and no file may be
//! left half-written under its final name.
//!
//! Stops during a write use the test hook `HYPERSPHERE_TEST_EXIT_AT=NAME[@N]`
//! (`native/src/model_files.rs`): the N-th atomic write of a file named NAME writes half of its
//! temporary file and exits with code 86, which is what a kill at that moment leaves. Other
//! stops are real kills (SIGKILL) at a moment read from the files the run writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, binary, fixture, metric_numbers, numbers, run, s, scratch};
use serde_json::Value;

const HOOK: &str = "HYPERSPHERE_TEST_EXIT_AT";
const HOOK_EXIT: i32 = 86;

/// Runs `args` with the hook set to `at`; it must stop there (exit 86).
fn stop_at(args: &[String], at: &str) {
    let out = Command::new(binary()).args(args).env(HOOK, at).output().unwrap();
    assert_eq!(out.status.code(), Some(HOOK_EXIT), "the run did not stop at {at}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts `args` and kills it (SIGKILL) once `ready()` holds (or after 120 s).
fn kill_when(args: &[String], ready: impl Fn() -> bool) {
    let mut child = Command::new(binary()).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !ready() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not complete JSON: {e}", path.display()))
}

/// Every file under `dir` with a final name is complete: `.json` files parse, every line of a
/// `.jsonl` file but a last unterminated one parses, and `checkpoint.json` names a complete
/// checkpoint folder. Temporary files (`*.tmp`) are the only place a cut write may remain.
fn no_half_written_files(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".json") {
                read_json(&p);
            } else if name.ends_with(".jsonl") {
                let text = std::fs::read_to_string(&p).unwrap();
                let complete = text.rsplit_once('\n').map_or("", |(a, _)| a);
                for line in complete.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(serde_json::from_str::<Value>(line).is_ok(), "{}: damaged line {line}", p.display());
                }
            }
        }
    }
    for run in std::iter::once(dir.to_path_buf()).chain(std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path())) {
        if let Ok(text) = std::fs::read_to_string(run.join("checkpoint.json")) {
            let epoch = serde_json::from_str::<Value>(&text).unwrap()["epoch"].as_u64().unwrap();
            let folder = run.join("checkpoints").join(format!("epoch-{epoch}"));
            assert!(folder.join("optimizer.bpk").is_file(), "{} names an incomplete epoch", run.join("checkpoint.json").display());
        }
    }
}

fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "tmp") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn train_stopped_anywhere_resumes_to_the_same_numbers() {
    let dir = scratch("interrupted-train");
    let base = |out: &Path| -> Vec<String> {
        ["train", "--data", "procedural:120", "--arch", "small-cnn", "--width", "4", "--epochs", "3", "--batch-size", "30", "--lr", "0.05", "--device", "flex", "--out", &s(out)]
            .map(String::from)
            .to_vec()
    };
    let straight = dir.join("straight");
    assert_success(&run(&base(&straight).iter().map(String::as_str).collect::<Vec<_>>()));
    let expected = metric_numbers(&straight);
    assert_eq!(expected.len(), 3);
    // During the first write of all, during epoch 2's checkpoint (weights, optimizer state,
    // then the checkpoint.json naming it) and during the last copy of model.bpk.
    for at in ["config.json", "model.bpk@3", "optimizer.bpk@2", "checkpoint.json@2", "model.bpk@6"] {
        let out = dir.join(at.replace('@', "-"));
        stop_at(&base(&out), at);
        no_half_written_files(&out);
        let again = if out.join("checkpoint.json").exists() {
            vec!["train".to_string(), "--resume".into(), s(&out), "--device".into(), "flex".into()]
        } else {
            base(&out)
        };
        assert_success(&Command::new(binary()).args(&again).output().unwrap());
        assert_eq!(metric_numbers(&out), expected, "stopped at {at}");
        no_half_written_files(&out);
        assert_eq!(temporary_files(&out), Vec::<PathBuf>::new(), "stopped at {at}: temporary files left");
    }
    // A real kill in the middle of epoch 2 (after the first checkpoint).
    let out = dir.join("killed");
    kill_when(&base(&out), || out.join("checkpoint.json").exists());
    no_half_written_files(&out);
    assert_success(&run(&["train", "--resume", &s(&out), "--device", "flex"]));
    assert_eq!(metric_numbers(&out), expected, "killed after epoch 1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_resume_after_kills_gives_the_same_table() {
    let dir = scratch("interrupted-eval");
    let base = |name: &str| -> Vec<String> {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        [
            "eval", "--weights", &fixture("resnet18_w8.safetensors"), "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:60", "--batch-size", "15",
            "--attack", "fgsm:linf:4/255", "--attack", "pgd:linf:8/255:3", "--device", "flex", "--resume", &s(&d.join("cells.jsonl")), "--json", &s(&d.join("eval.json")),
        ]
        .map(String::from)
        .to_vec()
    };
    let straight = base("straight");
    assert_success(&Command::new(binary()).args(&straight).output().unwrap());
    let expected = numbers(&read_json(&dir.join("straight/eval.json")));
    let lines = |name: &str| std::fs::read_to_string(dir.join(name).join("cells.jsonl")).map_or(0, |t| t.lines().count());
    // Killed after 2 and after 7 of the 12 cells (4 batches x clean + 2 attacks), and stopped
    // halfway through writing the results file's header and the final JSON.
    for (name, how) in [("kill-2", 3usize), ("kill-7", 8), ("header", 0), ("json", 0)] {
        let args = base(name);
        match name {
            "header" => stop_at(&args, "cells.jsonl"),
            "json" => stop_at(&args, "eval.json"),
            _ => kill_when(&args, || lines(name) >= how),
        }
        assert!(!dir.join(name).join("eval.json").exists(), "{name}: a result file after a stop");
        no_half_written_files(&dir.join(name));
        // A kill in the middle of appending a cell leaves a cut line: simulate one.
        if name == "kill-2" {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(name).join("cells.jsonl")).unwrap();
            f.write_all(b"{\"model\":\"x\",\"wei").unwrap();
        }
        let out = Command::new(binary()).args(&args).output().unwrap();
        assert_success(&out);
        if name.starts_with("kill") {
            assert!(String::from_utf8_lossy(&out.stderr).contains("reused"), "{name}: nothing reused");
        }
        assert_eq!(numbers(&read_json(&dir.join(name).join("eval.json"))), expected, "{name}");
        assert_eq!(lines(name), 13, "{name}: header + 12 cells, the cut line removed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_eval_stopped_and_rerun_gives_the_same_report() {
    let dir = scratch("interrupted-corrupt");
    let args = |out: &Path| -> Vec<String> {
        [
            "corrupt-eval", "--models", &fixture("resnet18_w8.safetensors"), "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:40",
            "--corruptions", "gaussian_noise,contrast,jpeg_compression", "--severities", "1,5", "--device", "flex", "--json", &s(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let straight = dir.join("straight.json");
    assert_success(&Command::new(binary()).args(args(&straight)).output().unwrap());
    let expected = read_json(&straight);
    let out = dir.join("stopped.json");
    stop_at(&args(&out), "stopped.json");
    assert!(!out.exists(), "a half-written report under its final name");
    // Real kills early (loading), mid-way and late; a run that finished before its kill must
    // have written the complete report.
    for ms in [200u64, 1500, 4000] {
        let start = Instant::now();
        kill_when(&args(&out), || start.elapsed() > Duration::from_millis(ms));
        if out.exists() {
            assert_eq!(read_json(&out), expected, "killed after {ms} ms");
            std::fs::remove_file(&out).unwrap();
        }
    }
    assert_success(&Command::new(binary()).args(args(&out)).output().unwrap());
    assert_eq!(read_json(&out), expected);
    assert!(temporary_files(&dir).is_empty(), "temporary files left: {:?}", temporary_files(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reproduce_stopped_in_each_stage_finishes_with_the_same_results() {
    let dir = scratch("interrupted-reproduce");
    let args = |out: &Path| -> Vec<String> {
        [
            "reproduce", "--preset", "small", "--data", "procedural:100", "--out", &s(out), "--limit", "100", "--device", "flex", "--train-args",
            "--epochs 2 --arch small-cnn --width 4 --train-limit 60 --test-limit 20 --linear-epochs 1 --batch-size 20",
        ]
        .map(String::from)
        .to_vec()
    };
    // The numbers of the three result files, with the study folder's own path (which names
    // the models) replaced.
    let results = |out: &Path| -> Vec<Value> {
        ["eval.json", "geometry.json", "corruptions.json"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(out.join(f)).unwrap().replace(&s(out), "STUDY");
                numbers(&serde_json::from_str(&text).unwrap_or_else(|e| panic!("{f} is not complete JSON: {e}")))
            })
            .collect()
    };
    let straight = dir.join("straight");
    assert_success(&Command::new(binary()).args(args(&straight)).output().unwrap());
    let expected = results(&straight);
    let out = dir.join("stopped");
    // Stops in the first training run's second checkpoint, in reproduce's own record of the
    // fourth finished run, in the evaluation's results file and in the geometry result; each
    // time the same command continues.
    for at in ["checkpoint.json@2", "done@4", "eval.json", "geometry.json"] {
        let status = Command::new(binary()).args(args(&out)).env(HOOK, at).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(!status.success(), "the study was not stopped at {at}");
        no_half_written_files(&out);
    }
    assert_success(&Command::new(binary()).args(args(&out)).output().unwrap());
    assert_eq!(results(&out), expected);
    no_half_written_files(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
