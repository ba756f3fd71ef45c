//! `--budget` (issue 17): a run stopped by its wall-time budget exits with code 75 and one line
//! "stopped at budget after epoch E step S; run the same command again to continue", leaves a
//! complete (mid-epoch) checkpoint, and the same command run again continues it; after as many
//! windows as it takes, the numbers and the weights equal those of an uninterrupted run (CPU,
//! same seed: bit for bit).
//!
//! Deterministic stopping points use the test hook `HYPERSPHERE_TEST_BUDGET_STEPS=N` (the
//! budget of each process runs out after N training steps); one test uses a real time budget.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::{assert_success, assert_user_error, binary, metric_numbers, numbers, run, s, scratch};
use serde_json::Value;

const STEP_HOOK: &str = "HYPERSPHERE_TEST_BUDGET_STEPS";
const EXIT_BUDGET: i32 = 75;

/// The timed test holds this for writing, every other test for reading: the runs it times then
/// do not share the cores with this binary's other training processes (a window overran by
/// 1.5 s in CI while they ran beside it).
static CORES: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    CORES.read().unwrap_or_else(|e| e.into_inner())
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string()
}

/// Parses "stopped at budget after epoch E step S; run the same command again to continue".
fn stop_position(line: &str) -> (usize, usize) {
    let rest = line.strip_prefix("stopped at budget after epoch ").unwrap_or_else(|| panic!("not a budget stop line: {line}"));
    let (epoch, rest) = rest.split_once(" step ").unwrap();
    let (step, rest) = rest.split_once(';').unwrap();
    assert!(rest.starts_with(" run the same command again to continue"), "{line}");
    (epoch.parse().unwrap(), step.split_whitespace().next().unwrap().parse().unwrap())
}

/// The run's checkpoint is complete: `checkpoint.json` names a folder with the optimizer
/// state, and a mid-epoch one holds `partial.json` naming the same step.
fn checkpoint_is_complete(dir: &Path) -> (u64, u64) {
    let c: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap()).unwrap();
    let (epoch, step) = (c["epoch"].as_u64().unwrap(), c["step"].as_u64().unwrap_or(0));
    let folder = if step == 0 { format!("epoch-{epoch}") } else { format!("epoch-{}-step-{step}", epoch + 1) };
    let folder = dir.join("checkpoints").join(folder);
    assert!(folder.join("optimizer.bpk").is_file(), "{} is incomplete", folder.display());
    if step > 0 {
        let p: Value = serde_json::from_str(&std::fs::read_to_string(folder.join("partial.json")).unwrap()).unwrap();
        assert_eq!((p["epoch"].as_u64(), p["steps_done"].as_u64()), (Some(epoch + 1), Some(step)));
    }
    let others: Vec<_> = std::fs::read_dir(dir.join("checkpoints")).unwrap().flatten().map(|e| e.path()).filter(|p| *p != folder).collect();
    assert!(others.is_empty(), "older checkpoint folders left: {others:?}");
    (epoch, step)
}

/// Runs `args` with the step hook at `steps` until it succeeds: every other exit must be a
/// budget stop (code 75, the one line) leaving a complete checkpoint, and each stop must be
/// further on than the last. Between windows the run's root copies of its weights are removed,
/// as `scripts/gpu-check.sh` leaves them out of a study's pack: a resume reads the checkpoint
/// folder only. Returns the positions it stopped at.
fn run_in_windows(args: &[String], out: &Path, steps: usize) -> Vec<(usize, usize)> {
    let mut stops = Vec::new();
    for _ in 0..40 {
        let o = Command::new(binary()).args(args).env(STEP_HOOK, steps.to_string()).output().unwrap();
        if o.status.success() {
            return stops;
        }
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        let at = stop_position(&last_line(&o));
        assert!(stops.last().is_none_or(|&last| at > last), "no progress: {stops:?} then {at:?}");
        stops.push(at);
        checkpoint_is_complete(out);
        for f in ["model.bpk", "model.json", "encoder.bpk", "encoder.json"] {
            let _ = std::fs::remove_file(out.join(f));
        }
    }
    panic!("not finished after 40 windows: {stops:?}");
}

fn train_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--data", "procedural:120", "--arch", "small-cnn", "--width", "4", "--batch-size", "30", "--lr", "0.05", "--device", "flex", "--out", &s(out)]
        .map(String::from)
        .to_vec();
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

/// The tensor data of a burnpack file: everything after its header (10 bytes, the metadata
/// length at bytes 6..10) and CBOR metadata, from the next 256-byte boundary. The metadata
/// holds parameter ids, which are drawn afresh by every process.
fn weights(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let metadata = u32::from_le_bytes(bytes[6..10].try_into().unwrap()) as usize;
    bytes[(10 + metadata).div_ceil(256) * 256..].to_vec()
}

#[test]
fn cross_entropy_stopped_at_chosen_steps_ends_with_the_same_weights() {
    let _shared = shared();
    let dir = scratch("budget-ce");
    let (straight, windows) = (dir.join("straight"), dir.join("windows"));
    let extra = ["--epochs", "3"];
    assert_success(&Command::new(binary()).args(train_args(&straight, &extra)).output().unwrap());
    // 120 procedural images in batches of 30: 4 steps per epoch; 3 steps per window stop inside
    // epochs 1, 2 and 3 and once after the last step of epoch 3, before its test pass.
    let stops = run_in_windows(&train_args(&windows, &extra), &windows, 3);
    assert_eq!(stops, [(1, 3), (2, 2), (3, 1), (3, 4)]);
    assert_eq!(metric_numbers(&windows), metric_numbers(&straight));
    assert_eq!(metric_numbers(&straight).len(), 3);
    assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "the final weights differ");
    // A finished run without its root copy (a window that stopped before `reproduce` marked it
    // done): the same command writes it again from the last checkpoint, the same weights.
    std::fs::remove_file(windows.join("model.bpk")).unwrap();
    assert_success(&Command::new(binary()).args(train_args(&windows, &extra)).output().unwrap());
    assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "the rewritten root copy differs");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn contrastive_stopped_at_chosen_steps_ends_with_the_same_numbers() {
    let _shared = shared();
    let dir = scratch("budget-simclr");
    let (straight, windows) = (dir.join("straight"), dir.join("windows"));
    // A-FNC (its threshold moves per step), the kNN monitor, then linear evaluation.
    let extra = ["--method", "simclr", "--fnc", "adaptive:0.99:0.7", "--epochs", "2", "--knn-k", "5", "--linear-epochs", "3"];
    assert_success(&Command::new(binary()).args(train_args(&straight, &extra)).output().unwrap());
    // Two steps per window: inside each epoch and after each epoch's last step, before its
    // kNN pass.
    let stops = run_in_windows(&train_args(&windows, &extra), &windows, 2);
    assert_eq!(stops, [(1, 2), (1, 4), (2, 2), (2, 4)]);
    assert_eq!(metric_numbers(&windows), metric_numbers(&straight));
    assert!(metric_numbers(&straight)[1]["rho"].is_number(), "A-FNC logs rho");
    let linear = |d: &Path| numbers(&serde_json::from_str::<Value>(&std::fs::read_to_string(d.join("linear_eval.json")).unwrap()).unwrap());
    assert_eq!(linear(&windows), linear(&straight));
    assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "the final weights differ");
    let _ = std::fs::remove_dir_all(&dir);
}

/// IFND stopped inside epochs whose pseudo-labels were computed at their start: the mid-epoch
/// checkpoint carries them (`ifnd.json`), and the resumed epoch trains with them rather than
/// clustering the weights of its middle, so the numbers (IFND's acceptance and precision too)
/// and the weights equal an uninterrupted run's.
#[test]
fn ifnd_stopped_inside_epochs_resumes_with_the_epochs_pseudo_labels() {
    let _shared = shared();
    let dir = scratch("budget-ifnd");
    let (straight, windows) = (dir.join("straight"), dir.join("windows"));
    // Pseudo-labels computed at the start of epochs 2 and 3 (`every=1`).
    let extra = ["--method", "simclr", "--fnc", "ifnd:3,6:every=1", "--epochs", "3", "--knn-k", "5", "--linear-epochs", "2"];
    assert_success(&Command::new(binary()).args(train_args(&straight, &extra)).output().unwrap());
    let args = train_args(&windows, &extra);
    let mut stops = Vec::new();
    for _ in 0..40 {
        let o = Command::new(binary()).args(&args).env(STEP_HOOK, "3").output().unwrap();
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        let at = stop_position(&last_line(&o));
        let (epoch, step) = checkpoint_is_complete(&windows);
        // Inside epoch 2 or 3: the pseudo-labels of that epoch's start are saved beside it.
        if step > 0 && epoch >= 1 {
            let folder = windows.join("checkpoints").join(format!("epoch-{}-step-{step}", epoch + 1));
            let state: Value = serde_json::from_str(&std::fs::read_to_string(folder.join("ifnd.json")).unwrap()).unwrap();
            assert_eq!(state["epoch"].as_u64(), Some(epoch + 1), "{}", folder.display());
        }
        stops.push(at);
    }
    assert_eq!(stops, [(1, 3), (2, 2), (3, 1), (3, 4)]);
    let m = metric_numbers(&windows);
    assert_eq!(m, metric_numbers(&straight));
    assert!(m[1]["ifnd"]["recomputed"].as_bool() == Some(true) && m[1]["ifnd"]["precision"].is_number(), "{m:?}");
    assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "the final weights differ");
    let _ = std::fs::remove_dir_all(&dir);
}

/// RoCL and ACL-DS (two BatchNorm sets) go through the same epochs as SimCLR: stopped inside
/// and at the end of epochs, they end with an uninterrupted run's numbers and weights (views,
/// the attack's random starts and both sets' running statistics restored).
#[test]
fn rocl_and_acl_stopped_at_chosen_steps_end_with_the_same_numbers() {
    let _shared = shared();
    let dir = scratch("budget-advcsl");
    for method in ["rocl", "acl"] {
        let (straight, windows) = (dir.join(format!("{method}-straight")), dir.join(format!("{method}-windows")));
        let extra = ["--method", method, "--epochs", "2", "--knn-k", "5", "--linear-epochs", "2"];
        assert_success(&Command::new(binary()).args(train_args(&straight, &extra)).output().unwrap());
        // Two steps per window: inside each epoch and after each epoch's last step.
        let stops = run_in_windows(&train_args(&windows, &extra), &windows, 2);
        assert_eq!(stops, [(1, 2), (1, 4), (2, 2), (2, 4)], "{method}");
        assert_eq!(metric_numbers(&windows), metric_numbers(&straight), "{method}");
        assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "{method}: the final weights differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_time_budget_stops_in_time_and_resumes_to_the_same_numbers() {
    let _alone = CORES.write().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("budget-time");
    let (straight, windows) = (dir.join("straight"), dir.join("windows"));
    let args = |out: &Path, epochs: usize, budget: Option<&str>| -> Vec<String> {
        let epochs = epochs.to_string();
        let mut a: Vec<String> = ["train", "--data", "procedural:600", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--epochs", &epochs, "--lr", "0.05", "--device", "flex", "--out", &s(out)]
            .map(String::from)
            .to_vec();
        if let Some(b) = budget {
            a.extend(["--budget".to_string(), b.to_string()]);
        }
        a
    };
    // The uninterrupted run must last several budget windows of at least 2.5 s: on a fast
    // machine 8 epochs take about a second, so the epochs double until it lasts 7.5 s.
    let (mut epochs, mut whole) = (8, Duration::ZERO);
    while epochs <= 256 {
        let _ = std::fs::remove_dir_all(&straight);
        let t = Instant::now();
        assert_success(&Command::new(binary()).args(args(&straight, epochs, None)).output().unwrap());
        whole = t.elapsed();
        if whole >= Duration::from_millis(7500) {
            break;
        }
        epochs *= 2;
    }
    let args = |out: &Path, budget: Option<&str>| args(out, epochs, budget);
    // Windows of a third of the uninterrupted run (at least 2.5 s: start-up plus the 1 s margin).
    let budget = (whole / 3).max(Duration::from_millis(2500));
    let text = format!("{:.1}s", budget.as_secs_f64());
    let mut stops = 0;
    for _ in 0..60 {
        let t = Instant::now();
        let o = Command::new(binary()).args(args(&windows, Some(&text))).output().unwrap();
        let took = t.elapsed();
        // The budget counts from the command's start; allow half a second for the process itself.
        assert!(took < budget + Duration::from_millis(500), "a window of {text} took {took:?}");
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        stop_position(&last_line(&o));
        if windows.join("checkpoint.json").exists() {
            checkpoint_is_complete(&windows);
        }
        stops += 1;
    }
    assert!(stops >= 1, "a run of {whole:?} ({epochs} epochs) was never stopped by a budget of {text}");
    eprintln!("a run of {whole:?} ({epochs} epochs) in windows of {text}: {stops} stops");
    assert_eq!(metric_numbers(&windows), metric_numbers(&straight), "after {stops} stops");
    assert!(weights(&windows.join("model.bpk")) == weights(&straight.join("model.bpk")), "the final weights differ");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reproduce_in_windows_gives_the_study_of_one_go() {
    let _shared = shared();
    let dir = scratch("budget-reproduce");
    let args = |out: &Path| -> Vec<String> {
        [
            "reproduce", "--preset", "small", "--data", "procedural:100", "--out", &s(out), "--limit", "100", "--device", "flex", "--train-args",
            "--epochs 1 --arch small-cnn --width 4 --train-limit 60 --test-limit 20 --linear-epochs 1 --batch-size 20",
        ]
        .map(String::from)
        .to_vec()
    };
    let results = |out: &Path| -> Vec<Value> {
        ["eval.json", "geometry.json", "corruptions.json"]
            .iter()
            .map(|f| numbers(&serde_json::from_str(&std::fs::read_to_string(out.join(f)).unwrap().replace(&s(out), "STUDY")).unwrap()))
            .collect()
    };
    let straight = dir.join("straight");
    assert_success(&Command::new(binary()).args(args(&straight)).output().unwrap());
    let out = dir.join("windows");
    let mut stops = Vec::new();
    for _ in 0..40 {
        let o = Command::new(binary()).args(args(&out)).env(STEP_HOOK, "2").output().unwrap();
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        let line = last_line(&o);
        assert!(line.starts_with("stopped at budget in train ") && line.ends_with("; run the same command again to continue"), "{line}");
        stops.push(line);
    }
    // Six settings of one epoch of 3 steps, 2 steps a window: every training stops at least once.
    assert!(stops.len() >= 6, "{stops:?}");
    assert_eq!(results(&out), results(&straight));
    // A budget too short to start anything stops before the first stage, with the same code.
    let o = Command::new(binary()).args(args(&dir.join("short"))).args(["--budget", "1s"]).output().unwrap();
    assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(last_line(&o), "stopped at budget before train ce; run the same command again to continue");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_budget_is_a_one_line_error() {
    let _shared = shared();
    let dir = scratch("budget-bad");
    assert_user_error(&run(&["train", "--data", "procedural:40", "--arch", "small-cnn", "--width", "4", "--epochs", "1", "--device", "flex", "--out", &s(&dir.join("x")), "--budget", "10x"]), "not a duration");
    assert_user_error(&run(&["reproduce", "--preset", "tiny", "--out", &s(&dir.join("y")), "--budget", "soon"]), "not a duration");
    // Table 2 keeps every finished evaluation instead: it refuses a budget.
    assert_user_error(&run(&["reproduce", "--table", "2", "--out", &s(&dir.join("z")), "--budget", "9m"]), "--budget belongs to the CIFAR study");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sizes of the files of a run's last checkpoint folder (`checkpoints/epoch-N`).
fn checkpoint_sizes(run: &Path, epoch: usize) -> (u64, u64) {
    let dir = run.join("checkpoints").join(format!("epoch-{epoch}"));
    let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display())).len();
    (size("model.bpk"), size("optimizer.bpk"))
}

#[test]
fn half_precision_checkpoints_halve_the_files_and_resume_within_noise() {
    let _shared = shared();
    let dir = scratch("budget-half");
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["train", "--data", "procedural:600", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--epochs", "4", "--lr", "0.05", "--device", "flex", "--out", &s(out)]
            .map(String::from)
            .to_vec();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let straight = dir.join("straight");
    assert_success(&Command::new(binary()).args(args(&straight, &[])).output().unwrap());
    let reference = metric_numbers(&straight);
    // The noise a half-precision resume must stay within: another training seed.
    let other = dir.join("seed-1");
    assert_success(&Command::new(binary()).args(args(&other, &["--seed", "1"])).output().unwrap());
    let seed_noise = metric_numbers(&other);
    let last = |m: &[Value], k: &str| m.last().unwrap()[k].as_f64().unwrap();
    let (f32_model, f32_optim) = checkpoint_sizes(&straight, 4);
    for precision in ["bf16", "f16"] {
        let out = dir.join(precision);
        // Stopped every 7 steps (12 steps per epoch): five resumes from half-precision state.
        let stops = run_in_windows(&args(&out, &["--checkpoint-precision", precision]), &out, 7);
        assert!(stops.len() >= 5, "{stops:?}");
        let m = metric_numbers(&out);
        assert_ne!(m, reference, "{precision}: the half-precision checkpoints changed nothing");
        let loss = (last(&m, "train_loss") - last(&reference, "train_loss")).abs();
        let acc = (last(&m, "test_accuracy") - last(&reference, "test_accuracy")).abs();
        let seed_loss = (last(&seed_noise, "train_loss") - last(&reference, "train_loss")).abs();
        let seed_acc = (last(&seed_noise, "test_accuracy") - last(&reference, "test_accuracy")).abs();
        eprintln!("{precision}: final train loss {loss:.5} and test accuracy {acc:.4} from the f32 run's (another seed: {seed_loss:.5}, {seed_acc:.4})");
        assert!(loss < 0.01 * last(&reference, "train_loss"), "{precision}: train loss moved by {loss}");
        assert!(acc <= 0.02, "{precision}: test accuracy moved by {acc}");
        assert!(loss < seed_loss, "{precision}: the train loss moved more than another seed moves it");
        // Half the bytes (plus the same file headers).
        let (model, optim) = checkpoint_sizes(&out, 4);
        for (half, full, what) in [(model, f32_model, "weights"), (optim, f32_optim, "optimizer state")] {
            let ratio = half as f64 / full as f64;
            assert!((0.45..0.6).contains(&ratio), "{precision} {what}: {half} bytes against {full}");
        }
        // The run's own model.bpk (what eval loads) stays f32.
        assert_eq!(std::fs::metadata(out.join("model.bpk")).unwrap().len(), std::fs::metadata(straight.join("model.bpk")).unwrap().len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `converge` study moves between GPU windows: `reproduce` stores its runs' checkpoints in
/// bf16 unless `--train-args` chooses, and a stopped run resumes with that choice.
#[test]
fn a_converge_study_keeps_bf16_checkpoints_unless_told_otherwise() {
    let _shared = shared();
    let dir = scratch("budget-converge");
    let study = |out: &Path, extra: &str| -> Output {
        let train = format!("--epochs 1 --arch small-cnn --width 4 --train-limit 60 --test-limit 20 --batch-size 20 {extra}");
        Command::new(binary())
            .args(["reproduce", "--preset", "converge", "--data", "procedural:100", "--out", &s(out), "--device", "flex", "--train-args", &train])
            .env(STEP_HOOK, "1")
            .output()
            .unwrap()
    };
    let recorded = |out: &Path| -> Value { serde_json::from_str::<Value>(&std::fs::read_to_string(out.join("ce").join("config.json")).unwrap()).unwrap()["checkpoint_precision"].clone() };
    for (extra, expected) in [("", "bf16"), ("--checkpoint-precision f32", "f32")] {
        let out = dir.join(expected);
        let o = study(&out, extra);
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(recorded(&out), expected);
        // Its plan is the converge recipe with the overrides.
        let config: Value = serde_json::from_str(&std::fs::read_to_string(out.join("ce").join("config.json")).unwrap()).unwrap();
        assert_eq!(config["plan"]["preset"], "ce@converge");
        // The next window resumes it, keeping the choice.
        let o = study(&out, extra);
        assert_eq!(o.status.code(), Some(EXIT_BUDGET), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("train ce (resuming)"), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(recorded(&out), expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
