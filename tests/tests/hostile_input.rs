//! The hostile-input corpus (issue 13): the real CLI on broken, odd and malicious files.
//!
//! The files come from `scripts/make_hostile_corpus.py` (committed under `tests/hostile/`);
//! layouts git cannot hold (symlink loops, FIFOs, unreadable files, empty folders, NaN weights)
//! are built here. Every case runs the binary under a 60 s limit (killed otherwise: a failure)
//! and an 8 GiB address-space limit (`ulimit -v`), and must either succeed (odd but valid input)
//! or exit with code 1 and a last stderr line `error: ...` naming the file and the problem; no
//! case may panic, print a backtrace, leave an output file behind when it fails, or run code
//! from a pickle. Each test gathers the failing cases of its group and reports them together.

mod common;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, fixture, run, s, scratch};
use serde_json::Value;

const TIME_LIMIT: Duration = Duration::from_secs(60);
/// Address-space limit of every case, in KiB (8 GiB).
const MEMORY_KIB: u64 = 8 << 20;

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile").join(rel)
}

/// What a case must do.
enum Expect {
    /// Exit 0.
    Success,
    /// Exit 1 with a last line `error: ...` holding every needle.
    Error(Vec<String>),
}

struct Case {
    name: String,
    args: Vec<String>,
    expect: Expect,
    env: Vec<(String, String)>,
    /// Paths that must not exist afterwards (outputs of a failed run, pickle markers, escapes).
    absent: Vec<PathBuf>,
    /// Paths that must exist afterwards (outputs of a successful run).
    present: Vec<PathBuf>,
}

impl Case {
    fn new(name: &str, args: &[&str], expect: Expect) -> Self {
        Self { name: name.into(), args: args.iter().map(|s| s.to_string()).collect(), expect, env: vec![], absent: vec![], present: vec![] }
    }
    fn absent(mut self, p: impl Into<PathBuf>) -> Self {
        self.absent.push(p.into());
        self
    }
    fn present(mut self, p: impl Into<PathBuf>) -> Self {
        self.present.push(p.into());
        self
    }
    fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

fn error(needles: &[&str]) -> Expect {
    Expect::Error(needles.iter().map(|s| s.to_string()).collect())
}

/// Runs the binary with `args` under the time and memory limits.
fn run_bounded(args: &[String], env: &[(String, String)]) -> Result<(Option<i32>, String, Duration), String> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\"")).arg(binary()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("RUST_BACKTRACE").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let text = reader.join().unwrap();
            return Ok((status.code(), text, start.elapsed()));
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {} s (killed)", TIME_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks one case; `Err` explains what went wrong.
fn check(case: &Case) -> Result<(), String> {
    let (code, stderr, elapsed) = run_bounded(&case.args, &case.env)?;
    let tail = stderr.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" / ");
    if stderr.contains("panicked") || stderr.contains("stack backtrace") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("panic: {tail}"));
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    match &case.expect {
        Expect::Success if code != Some(0) => return Err(format!("expected success, exit {code:?}: {tail}")),
        Expect::Success => {}
        Expect::Error(needles) => {
            if code != Some(1) {
                return Err(format!("expected exit 1, got {code:?} (a signal when None): {tail}"));
            }
            if !last.starts_with("error: ") {
                return Err(format!("last stderr line is not an error line: {tail}"));
            }
            for n in needles {
                if !last.contains(n.as_str()) {
                    return Err(format!("'{n}' not in: {last}"));
                }
            }
        }
    }
    for p in &case.absent {
        if p.exists() || p.symlink_metadata().is_ok() {
            return Err(format!("{} exists afterwards ({last})", p.display()));
        }
    }
    for p in &case.present {
        if !p.exists() {
            return Err(format!("{} was not written ({last})", p.display()));
        }
    }
    eprintln!("ok   {:<40} {:>5.1} s  {}", case.name, elapsed.as_secs_f64(), last);
    Ok(())
}

/// Runs all cases (two at a time) and fails listing every case that failed.
fn run_cases(cases: Vec<Case>) {
    let n = cases.len();
    let cases = std::sync::Mutex::new(cases.into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(case) = cases.lock().unwrap().next() else { break };
                    if let Err(why) = check(&case) {
                        eprintln!("FAIL {}: {why}", case.name);
                        failures.lock().unwrap().push(format!("{}: {why}", case.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {n} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// The model every case evaluates with: the committed ResNet-18 width-8 state dict.
fn model_args() -> Vec<String> {
    ["--weights", &fixture("resnet18_w8.safetensors"), "--arch", "resnet18-cifar", "--width", "8", "--normalize", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A dataset `<dir>/test/a/{0,1}.png`, `<dir>/test/b/0.png` (copies of the corpus's good
/// image) and the same under `train/`.
fn dataset(dir: &Path) -> PathBuf {
    let good = std::fs::read(corpus("images/good.png")).unwrap();
    for split in ["train", "test"] {
        for f in ["a/0.png", "a/1.png", "b/0.png"] {
            write(&dir.join(split).join(f), &good);
        }
    }
    dir.to_path_buf()
}

/// `eval` of the fixture model on `data`, writing `<dir>/out.json`: succeeds or fails cleanly.
fn eval_case(name: &str, dir: &Path, data: &Path, expect: Expect) -> Case {
    let out = dir.join("out.json");
    let mut args = vec!["eval".to_string()];
    args.extend(model_args());
    args.extend(["--data", &s(data), "--device", "flex", "--batch-size", "16", "--json", &s(&out)].iter().map(|s| s.to_string()));
    let success = matches!(expect, Expect::Success);
    let mut case = Case { name: name.into(), args, expect, env: vec![], absent: vec![], present: vec![] };
    if success { case.present.push(out) } else { case.absent.push(out) }
    case
}

#[test]
fn broken_odd_and_bomb_images() {
    let root = scratch("hostile-images");
    let mut cases = Vec::new();
    let broken = [
        ("zero.png", "not a readable image"),
        ("truncated.png", "not a readable image"),
        ("header_only.png", "not a readable image"),
        ("truncated.jpg", "not a readable image"),
        ("garbage.jpg", "not a readable image"),
        ("text.png", "not a readable image"),
        ("bomb_ihdr.png", "too large"),
        ("bomb_40000_1bit.png", "too large"),
        ("huge_20000_rgb.png", "too large"),
        ("bomb_sof.jpg", "too large"),
        ("bomb_screen.gif", "too large"),
        ("bomb_header.bmp", "too large"),
        ("bomb_dims.tif", "not a readable image"),
    ];
    for (file, problem) in broken {
        let dir = root.join(file);
        std::fs::copy(corpus(&format!("images/{file}")), dataset(&dir).join("test/b").join(file)).unwrap();
        cases.push(eval_case(&format!("image {file}"), &dir, &dir, error(&[&format!("test/b/{file}"), problem])));
    }
    let valid = [
        "one_pixel.png", "line_20000x1.png", "big_20000_1bit.png", "gray16.png", "rgb16.png", "gray.png", "palette.png", "rgba.png",
        "gray_alpha.png", "onebit.png", "interlaced.png", "cmyk.jpg", "gray.jpg", "progressive.jpg", "animated.gif", "image.bmp",
        "image.tif", "image.webp",
    ];
    for file in valid {
        let dir = root.join(file);
        std::fs::copy(corpus(&format!("images/{file}")), dataset(&dir).join("test/b").join(file)).unwrap();
        cases.push(eval_case(&format!("image {file}"), &dir, &dir, Expect::Success));
    }
    // `attack` decodes its own image file.
    for (file, expect) in [("bomb_ihdr.png", error(&["bomb_ihdr.png", "too large"])), ("zero.png", error(&["zero.png", "not a readable image"]))] {
        let out = root.join(format!("attack-{file}.png"));
        let mut args = vec!["attack".to_string()];
        args.extend(model_args());
        args.extend(["--image", &s(&corpus(&format!("images/{file}"))), "--attack", "fgsm:linf:8/255", "--out", &s(&out), "--device", "flex"].map(String::from));
        cases.push(Case { name: format!("attack --image {file}"), args, expect, env: vec![], absent: vec![out], present: vec![] });
    }
    run_cases(cases);
    let _ = std::fs::remove_dir_all(&root);
}

#[cfg(unix)]
#[test]
fn hostile_folder_layouts() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let root = scratch("hostile-layouts");
    let mut cases = Vec::new();

    let dir = dataset(&root.join("empty-class"));
    std::fs::create_dir_all(dir.join("test/c")).unwrap();
    cases.push(eval_case("empty class folder", &dir, &dir, error(&["test/c", "no images"])));

    let dir = root.join("one-class");
    write(&dir.join("test/a/0.png"), &std::fs::read(corpus("images/good.png")).unwrap());
    write(&dir.join("train/a/0.png"), &std::fs::read(corpus("images/good.png")).unwrap());
    cases.push(eval_case("one-class split (eval)", &dir, &dir, Expect::Success));
    let out = root.join("one-class-run");
    cases.push(
        Case::new("one-class split (train)", &["train", "--data", &s(&dir), "--arch", "small-cnn", "--width", "4", "--epochs", "1", "--device", "flex", "--out", &s(&out)], error(&["one class"]))
            .absent(out.join("checkpoint.json")),
    );

    let dir = dataset(&root.join("case-classes"));
    std::fs::copy(corpus("images/good.png"), {
        std::fs::create_dir_all(dir.join("test/A")).unwrap();
        dir.join("test/A/0.png")
    })
    .unwrap();
    cases.push(eval_case("class names differing in case", &dir, &dir, error(&["'A'", "'a'", "case"])));

    let dir = dataset(&root.join("mismatched-classes"));
    write(&dir.join("train/c/0.png"), &std::fs::read(corpus("images/good.png")).unwrap());
    let out = root.join("mismatched-run");
    cases.push(
        Case::new("train/test classes differ", &["train", "--data", &s(&dir), "--arch", "small-cnn", "--width", "4", "--epochs", "1", "--device", "flex", "--out", &s(&out)], error(&["classes"]))
            .absent(out.join("checkpoint.json")),
    );

    let dir = dataset(&root.join("symlink-loop"));
    symlink("../..", dir.join("test/b/loop")).unwrap();
    cases.push(eval_case("symlink loop", &dir, &dir, error(&["test/b/loop", "symlink loop"])));

    let dir = dataset(&root.join("self-link"));
    symlink("self.png", dir.join("test/b/self.png")).unwrap();
    cases.push(eval_case("symlink to itself", &dir, &dir, error(&["test/b/self.png"])));

    let dir = dataset(&root.join("dangling"));
    symlink("/nonexistent/x.png", dir.join("test/b/dangling.png")).unwrap();
    cases.push(eval_case("dangling symlink", &dir, &dir, error(&["test/b/dangling.png"])));

    let dir = dataset(&root.join("fifo"));
    let made = Command::new("mkfifo").arg(dir.join("test/b/fifo.png")).status().is_ok_and(|s| s.success());
    assert!(made, "mkfifo failed");
    cases.push(eval_case("FIFO named like an image", &dir, &dir, error(&["test/b/fifo.png", "not a regular file"])));

    let dir = dataset(&root.join("stray-files"));
    for f in ["test/a/README.txt", "test/a/.DS_Store", "test/b/Thumbs.db", "test/notes.md", "LICENSE"] {
        write(&dir.join(f), b"not an image");
    }
    cases.push(eval_case("stray non-image files", &dir, &dir, Expect::Success));

    // Unreadable file: a user without the permission gets a clear error. Root reads every file
    // regardless of permissions, so there the case cannot be built and is skipped, saying so
    // (the FIFO above is the unreadable file that root cannot read either).
    let dir = dataset(&root.join("unreadable"));
    let secret = dir.join("test/b/secret.png");
    std::fs::copy(corpus("images/good.png"), &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&secret).is_ok() {
        eprintln!("skip unreadable file: this test runs as root, which reads files whatever their permissions");
    } else {
        cases.push(eval_case("unreadable file", &dir, &dir, error(&["test/b/secret.png", "ermission denied"])));
    }

    // A CIFAR binary directory with a cut record.
    let dir = root.join("cifar-cut");
    write(&dir.join("test_batch.bin"), &vec![1u8; 3073 * 2 + 100]);
    cases.push(eval_case("CIFAR binary cut short", &dir, &dir, error(&["test_batch.bin", "multiple of 3073"])));

    cases.push(Case::new("procedural:10^12", &["eval", "--weights", &fixture("resnet18_w8.safetensors"), "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:1000000000000", "--device", "flex"], error(&["procedural", "at most"])));
    run_cases(cases);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hostile_archives() {
    let root = scratch("hostile-archives");
    let escape_dot = std::env::temp_dir().join("hs-escape");
    let _ = std::fs::remove_dir_all(&escape_dot);
    let escape_abs = PathBuf::from("/tmp/hs-absolute-escape");
    let _ = std::fs::remove_dir_all(&escape_abs);
    let mut cases = Vec::new();
    let archives = [
        ("dotdot.tar.gz", error(&["dotdot.tar.gz", "unsafe path"])),
        ("absolute.tar.gz", error(&["absolute.tar.gz", "unsafe path"])),
        ("links.tar.gz", Expect::Success),
        ("gzip_bomb.tar.gz", error(&["gzip_bomb.tar.gz", "test/b/bomb.png", "larger than"])),
        ("lying_size.tar.gz", error(&["lying_size.tar.gz", "larger than"])),
        ("truncated.tar.gz", error(&["truncated.tar.gz"])),
        ("garbage.tar.gz", error(&["garbage.tar.gz"])),
        ("zero.tar.gz", error(&["zero.tar.gz"])),
        ("empty.tar.gz", error(&["empty.tar.gz", "no images"])),
    ];
    for (file, expect) in archives {
        let dir = root.join(file);
        std::fs::create_dir_all(&dir).unwrap();
        // Run from inside the case folder so a relative escape would land beside it.
        cases.push(eval_case(&format!("archive {file}"), &dir, &corpus(&format!("archives/{file}")), expect).absent(root.join("hs-escape")));
    }
    run_cases(cases);
    assert!(!escape_dot.exists() && !escape_abs.exists(), "an archive wrote outside its target");
    let _ = std::fs::remove_dir_all(&root);
}

/// The fixture state dict with one value of `fc.weight` replaced by `value`.
fn patched_weights(value: f32) -> Vec<u8> {
    let mut bytes = std::fs::read(fixture("resnet18_w8.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header["fc.weight"]["data_offsets"][0].as_u64().unwrap() as usize + 8 + n;
    bytes[start + 12..start + 16].copy_from_slice(&value.to_le_bytes());
    bytes
}

#[test]
fn hostile_weight_files() {
    let root = scratch("hostile-weights");
    let marker = root.join("pickle-ran");
    let mut cases = Vec::new();
    let files = [
        ("header_2_63.safetensors", "header_2_63.safetensors"),
        ("header_past_end.safetensors", "header_past_end.safetensors"),
        ("header_not_json.safetensors", "header_not_json.safetensors"),
        ("offsets_past_end.safetensors", "offsets_past_end.safetensors"),
        ("overlapping.safetensors", "overlapping.safetensors"),
        ("wrong_dtype_size.safetensors", "wrong_dtype_size.safetensors"),
        ("huge_shape.safetensors", "huge_shape.safetensors"),
        ("zero.safetensors", "zero.safetensors"),
        ("garbage.pt", "garbage.pt"),
        ("zero.pt", "zero.pt"),
        ("garbage.bpk", "garbage.bpk"),
        ("zero.bpk", "zero.bpk"),
        ("evil_raw.pt", "evil_raw.pt"),
        ("evil_zip.pt", "evil_zip.pt"),
        ("evil_state_dict.pt", "evil_state_dict.pt"),
    ];
    let weights_case = |name: String, weights: &Path, expect: Expect| {
        let out = root.join(format!("{name}.json"));
        let args: Vec<String> = ["eval", "--weights", &s(weights), "--arch", "resnet18-cifar", "--width", "8", "--normalize", "none", "--data", "procedural:20", "--device", "flex", "--json", &s(&out)]
            .map(String::from)
            .to_vec();
        Case { name, args, expect, env: vec![], absent: vec![out], present: vec![] }
    };
    for (file, needle) in files {
        cases.push(weights_case(format!("weights {file}"), &corpus(&format!("weights/{file}")), error(&[needle])).env("HS_MARKER", s(&marker)).absent(marker.clone()));
    }
    for (name, value) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
        let path = root.join(format!("{name}.safetensors"));
        write(&path, &patched_weights(value));
        cases.push(weights_case(format!("weights with {name}"), &path, error(&[&format!("{name}.safetensors"), "fc.weight", "NaN or infinite"])));
    }
    // A burnpack whose JSON sidecar is damaged.
    let dir = root.join("sidecar");
    write(&dir.join("model.bpk"), &std::fs::read(corpus("weights/garbage.bpk")).unwrap());
    write(&dir.join("model.json"), b"{\"arch\": ");
    cases.push(weights_case("damaged model.json".into(), &dir.join("model.bpk"), error(&["model.json", "not a model config"])));
    // geometry, corrupt-eval and linear-eval read weights too.
    let nan = root.join("nan.safetensors");
    let out = root.join("geometry.json");
    cases.push(
        Case::new("geometry with NaN weights", &["geometry", "--models", &s(&nan), "--arch", "resnet18-cifar", "--width", "8", "--normalize", "none", "--data", "procedural:20", "--tsne", "0", "--device", "flex", "--json", &s(&out)], error(&["nan.safetensors", "NaN or infinite"]))
            .absent(out),
    );
    let out = root.join("corrupt.json");
    cases.push(
        Case::new("corrupt-eval with a pickle", &["corrupt-eval", "--models", &s(&corpus("weights/evil_zip.pt")), "--arch", "resnet18-cifar", "--width", "8", "--normalize", "none", "--data", "procedural:20", "--corruptions", "gaussian_noise", "--severities", "1", "--device", "flex", "--json", &s(&out)], error(&["evil_zip.pt"]))
            .env("HS_MARKER", s(&marker))
            .absent(out)
            .absent(marker.clone()),
    );
    let out = root.join("linear");
    cases.push(
        Case::new("linear-eval of a garbage encoder", &["linear-eval", "--encoder", &s(&corpus("weights/garbage.bpk")), "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:20", "--device", "flex", "--out", &s(&out)], error(&["garbage.bpk"]))
            .absent(out.join("model.bpk")),
    );
    run_cases(cases);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hostile_cifar10c_npy_files() {
    let root = scratch("hostile-npy");
    let mut cases = Vec::new();
    let dirs = [
        ("good", None),
        ("wrong_rank", Some(vec!["gaussian_noise.npy", "expected [5 * n, H, W, 3]"])),
        ("float32", Some(vec!["gaussian_noise.npy", "<f4"])),
        ("big_endian", Some(vec!["gaussian_noise.npy", ">u2"])),
        ("fortran", Some(vec!["gaussian_noise.npy", "Fortran"])),
        ("shape_lies", Some(vec!["gaussian_noise.npy", "bytes"])),
        ("shape_overflow", Some(vec!["gaussian_noise.npy", "shape"])),
        ("truncated", Some(vec!["gaussian_noise.npy", "bytes"])),
        ("header_4gib", Some(vec!["gaussian_noise.npy", "header"])),
        ("not_npy", Some(vec!["gaussian_noise.npy", "not a .npy file"])),
        ("zero", Some(vec!["gaussian_noise.npy", "not a .npy file"])),
        ("no_labels", Some(vec!["labels.npy", "not found"])),
        ("labels_wrong_length", Some(vec!["labels.npy", "7 labels"])),
        ("labels_huge_value", Some(vec!["labels.npy", "label"])),
        ("labels_float", Some(vec!["labels.npy", "<f8"])),
    ];
    for (name, needles) in dirs {
        let out = root.join(format!("{name}.json"));
        let expect = match &needles {
            None => Expect::Success,
            Some(n) => error(&n.iter().map(|s| *s).collect::<Vec<_>>()),
        };
        let mut case = Case::new(
            &format!("cifar10c {name}"),
            &[
                "corrupt-eval", "--models", &fixture("resnet18_w8.safetensors"), "--arch", "resnet18-cifar", "--width", "8", "--normalize", "none", "--data", "procedural:10",
                "--cifar10c", &s(&corpus(&format!("npy/{name}"))), "--corruptions", "gaussian_noise", "--severities", "1,5", "--device", "flex", "--json", &s(&out),
            ],
            expect,
        );
        if needles.is_none() { case = case.present(out) } else { case = case.absent(out) }
        cases.push(case);
    }
    run_cases(cases);
    let _ = std::fs::remove_dir_all(&root);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { copy_dir(&p, &to.join(e.file_name())) } else { std::fs::copy(&p, to.join(e.file_name())).unwrap(); }
    }
}

#[test]
fn damaged_run_and_study_folders_and_absurd_specs() {
    let root = scratch("hostile-runs");
    let base = root.join("base");
    let out = run(&["train", "--data", "procedural:40", "--arch", "small-cnn", "--width", "4", "--epochs", "2", "--batch-size", "20", "--device", "flex", "--out", &s(&base)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut cases = Vec::new();
    let resume = |name: &str, damage: &dyn Fn(&Path), needles: &[&str]| {
        let dir = root.join(name);
        copy_dir(&base, &dir);
        damage(&dir);
        Case::new(&format!("train --resume: {name}"), &["train", "--resume", &s(&dir), "--device", "flex"], error(needles))
    };
    cases.push(resume("checkpoint names a missing epoch", &|d| write(&d.join("checkpoint.json"), b"{\"epoch\": 7}"), &["epoch-7", "does not exist"]));
    cases.push(resume("half-written checkpoint.json", &|d| write(&d.join("checkpoint.json"), b"{\"epo"), &["checkpoint.json", "damaged"]));
    cases.push(resume("half-written checkpoint weights", &|d| {
        let p = d.join("checkpoints/epoch-2/model.bpk");
        let b = std::fs::read(&p).unwrap();
        write(&p, &b[..b.len() / 2]);
    }, &["epoch-2/model.bpk"]));
    cases.push(resume("missing optimizer state", &|d| std::fs::remove_file(d.join("checkpoints/epoch-2/optimizer.bpk")).unwrap(), &["optimizer.bpk"]));
    cases.push(resume("garbage optimizer state", &|d| write(&d.join("checkpoints/epoch-2/optimizer.bpk"), b"garbage"), &["optimizer.bpk", "damaged"]));
    cases.push(resume("garbage config.json", &|d| write(&d.join("config.json"), b"\x00\x01garbage"), &["config.json", "damaged"]));

    // report: a study folder with damaged result files
    let study = |name: &str, file: &str, bytes: &[u8], needles: &[&str]| {
        let dir = root.join(name);
        copy_dir(&base, &dir.join("ce"));
        write(&dir.join(file), bytes);
        Case::new(&format!("report: {name}"), &["report", "--study", &s(&dir)], error(needles)).absent(dir.join("report/report.html"))
    };
    cases.push(study("garbage eval.json", "eval.json", b"[1, 2", &["eval.json"]));
    cases.push(study("geometry.json of the wrong type", "geometry.json", b"{\"models\": 3}", &["geometry.json"]));
    cases.push(study("corruptions.json empty", "corruptions.json", b"", &["corruptions.json"]));
    cases.push(study("damaged metrics line", "ce/metrics.jsonl", b"{\"epoch\": 1}\n{\"epoch\": 2, \"tr\n{\"epoch\": 3}\n", &["metrics.jsonl", "damaged"]));
    // A last line cut by a kill during the append is not a damaged file.
    let dir = root.join("metrics cut by a kill");
    copy_dir(&base, &dir.join("ce"));
    let text = std::fs::read_to_string(base.join("metrics.jsonl")).unwrap();
    write(&dir.join("ce/metrics.jsonl"), format!("{text}{{\"epoch\": 3, \"tra").as_bytes());
    cases.push(Case::new("report: metrics cut by a kill", &["report", "--study", &s(&dir)], Expect::Success).present(dir.join("report/report.html")));

    let w = fixture("resnet18_w8.safetensors");
    let eval_spec = |spec: &str, needles: &[&str]| {
        Case::new(&format!("eval --attack {spec}"), &["eval", "--weights", &w, "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:10", "--device", "flex", "--attack", spec], error(needles))
    };
    cases.push(eval_spec("pgd:linf:8/255:1000000000000", &["1000000000000", "STEPS"]));
    cases.push(eval_spec("pgd:linf:1e30:10", &["1e30", "eps"]));
    cases.push(eval_spec("pgd:l2:1e30:10", &["1e30", "eps"]));
    cases.push(eval_spec("square:linf:8/255:0", &["STEPS"]));
    cases.push(eval_spec("fgsm:linf:nan", &["eps"]));
    cases.push(eval_spec("pgd:linf:-1:10", &["eps"]));
    cases.push(eval_spec("autoattack:linf:8/255:apgd-ce@1000000000000", &["STEPS"]));
    cases.push(Case::new("corrupt-eval severity 9", &["corrupt-eval", "--models", &w, "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:10", "--severities", "9", "--device", "flex"], error(&["9"])));
    let study_out = root.join("study");
    cases.push(
        Case::new("reproduce on a broken dataset", &["reproduce", "--preset", "tiny", "--data", &s(&corpus("archives/garbage.tar.gz")), "--out", &s(&study_out), "--device", "flex"], error(&["train ce failed"]))
            .absent(study_out.join("ce/done"))
            .absent(study_out.join("ce/model.bpk")),
    );
    cases.push(Case::new("serve without index.html", &["serve", "--root", &s(&root.join("nowhere")), "--port", "0"], error(&["nowhere", "index.html"])));
    run_cases(cases);
    let _ = std::fs::remove_dir_all(&root);
}

/// `serve` answers hostile requests (escapes, encoded escapes, huge and garbage request lines,
/// other methods) and keeps serving.
#[test]
fn serve_survives_hostile_requests() {
    let root = scratch("hostile-serve");
    write(&root.join("index.html"), b"<p>page</p>");
    write(&root.join("..secret"), b"x");
    let mut child = Command::new(binary()).args(["serve", "--root", &s(&root), "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).unwrap().trim().trim_end_matches(|c| c != '/').trim_end_matches('/').split(' ').next().unwrap().to_string();
    let ask = |request: &[u8]| -> String {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).lines().next().unwrap_or("").to_string()
    };
    let passwd = "root:";
    for request in [
        b"GET /../../../../etc/passwd HTTP/1.0\r\n\r\n".to_vec(),
        b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.0\r\n\r\n".to_vec(),
        b"GET //etc/passwd HTTP/1.0\r\n\r\n".to_vec(),
        format!("GET /{} HTTP/1.0\r\n\r\n", "a/".repeat(50_000)).into_bytes(),
        b"\x00\x01\x02 garbage\r\n\r\n".to_vec(),
        b"POST /index.html HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
    ] {
        let status = ask(&request);
        assert!(!status.contains(" 200"), "{:?} was answered {status}", String::from_utf8_lossy(&request[..40.min(request.len())]));
        assert!(!status.contains(passwd));
    }
    // Answered at once, not left open (tiny_http never answered these; found by tests/tests/fuzz).
    for request in [b"GET /index.html HTTP/2.0\r\n\r\n".as_slice(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"] {
        let started = std::time::Instant::now();
        let status = ask(request);
        assert!(status.contains(" 505") && started.elapsed() < Duration::from_secs(5), "HTTP/2.0 answered '{status}' after {:?}", started.elapsed());
    }
    assert!(ask(b"GET /index.html HTTP/1.0\r\n\r\n").contains(" 200"), "the server stopped serving");
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
