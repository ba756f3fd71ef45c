//! Runs fuzz targets: seeds first, then mutated inputs, each under three guards:
//! - **no panic**: every input runs inside `catch_unwind` (the panic message and place are kept);
//! - **bounded memory**: a counting global allocator measures each input's peak of live bytes
//!   (over [`Limits::memory`] is a failure) and refuses any single request above
//!   [`HARD_ALLOCATION`] (the input is saved first, then the process aborts: such a request
//!   means a size read from the file was trusted);
//! - **bounded time**: an input slower than [`Limits::slow`] is a failure, and a watchdog saves
//!   and stops the run when one runs past [`Limits::hang`] (a hang cannot be interrupted).
//!
//! Every error a target returns must be one line (no line breaks or other control
//! characters) and not empty. Failing inputs are saved under the finds folder with the reason;
//! copy them to `tests/fuzz/found/<target>/` to replay them in every run. Inputs that give an
//! error message not seen before join the working corpus (a cheap stand-in for coverage).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::mutate::Rng;

/// The most bytes one allocation may ask for; a larger request aborts the run.
pub const HARD_ALLOCATION: usize = 2 << 30;

/// A fuzz target: what it feeds, from which seeds, and how it mutates them.
pub struct Target {
    pub name: &'static str,
    /// Seed inputs (valid files and the hostile corpus).
    pub seeds: Vec<Vec<u8>>,
    /// Mutated inputs in the CI smoke run.
    pub smoke: usize,
    /// Makes a new input from one of the corpus (the rest of the corpus is the second argument).
    pub mutate: Box<dyn Fn(&mut Rng, &[u8], &[Vec<u8>]) -> Vec<u8>>,
    /// Feeds one input; `Err` carries the error message a user would read. A target checks
    /// its own invariants on success by panicking.
    pub run: Box<dyn Fn(&[u8]) -> Result<(), String>>,
}

/// Per-input bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub memory: usize,
    pub slow: Duration,
    pub hang: Duration,
}

/// How long and how hard to fuzz (from the environment; see README "Fuzzing").
pub struct Plan {
    pub seed: u64,
    /// Per target: run for this long (the long run) instead of the smoke iterations.
    pub seconds: Option<f64>,
    pub iterations: Option<usize>,
    pub only: Option<Vec<String>>,
    pub finds: PathBuf,
    pub limits: Limits,
}

impl Plan {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let seconds = var("HYPERSPHERE_FUZZ_SECONDS").map(|s| s.parse().expect("HYPERSPHERE_FUZZ_SECONDS is a number"));
        let seed = var("HYPERSPHERE_FUZZ_SEED").map(|s| s.parse().expect("HYPERSPHERE_FUZZ_SEED is an integer")).unwrap_or(13);
        Self {
            seed,
            seconds,
            iterations: var("HYPERSPHERE_FUZZ_ITERATIONS").map(|s| s.parse().expect("HYPERSPHERE_FUZZ_ITERATIONS is an integer")),
            only: var("HYPERSPHERE_FUZZ_TARGETS").map(|s| s.split(',').map(|t| t.trim().to_string()).collect()),
            finds: var("HYPERSPHERE_FUZZ_FINDS").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-finds")),
            limits: Limits { memory: 1200 << 20, slow: Duration::from_secs(15), hang: Duration::from_secs(60) },
        }
    }
}

// ---- the counting allocator ----------------------------------------------------------------

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The input being run, for the allocator's last words (pointer and length).
static CURRENT_PTR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);
/// Opened before fuzzing: where the allocator writes the input behind an oversized request.
static OVERSIZED_FILE: OnceLock<std::fs::File> = OnceLock::new();

/// The system allocator, counting live bytes and refusing absurd single requests.
pub struct Counting;

impl Counting {
    fn refuse(size: usize) {
        if let Some(mut file) = OVERSIZED_FILE.get() {
            let (ptr, len) = (CURRENT_PTR.load(Ordering::SeqCst), CURRENT_LEN.load(Ordering::SeqCst));
            if !ptr.is_null() {
                // SAFETY: the harness publishes the input only while it runs it (and the run is
                // on this thread or one it started), so the bytes are alive.
                let _ = file.write_all(unsafe { std::slice::from_raw_parts(ptr, len) });
            }
        }
        let _ = std::io::stderr().write_all(b"\nfuzz: an input asked for one allocation of more than 2 GiB (a size taken from the file unchecked); the input is in the finds folder as oversized-allocation.bin\n");
        let _ = size;
    }

    fn grew(size: usize) {
        let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_ALLOCATION {
            Self::refuse(layout.size());
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_ALLOCATION {
            Self::refuse(layout.size());
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_ALLOCATION {
            Self::refuse(new_size);
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Self::grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

// ---- running inputs ------------------------------------------------------------------------

/// The input the watchdog watches.
struct Running {
    target: &'static str,
    input: Arc<Vec<u8>>,
    since: Instant,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);
/// The last panic's message and place (the hook keeps it instead of printing it).
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// What went wrong with one input.
fn verdict(result: std::thread::Result<Result<(), String>>, elapsed: Duration, peak: usize, limits: &Limits) -> Result<Option<String>, String> {
    let outcome = match result {
        Err(payload) => {
            let message = PANIC.lock().unwrap().take().unwrap_or_else(|| {
                payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
            });
            return Err(format!("panic: {message}"));
        }
        Ok(Ok(())) => None,
        Ok(Err(message)) => {
            if message.trim().is_empty() {
                return Err("an empty error message".into());
            }
            if let Some(c) = message.chars().find(|c| c.is_control()) {
                return Err(format!("the error message is not one line (it holds {c:?}): {message:?}"));
            }
            Some(message)
        }
    };
    if elapsed > limits.slow {
        return Err(format!("took {:.1} s (limit {} s)", elapsed.as_secs_f64(), limits.slow.as_secs()));
    }
    if peak > limits.memory {
        return Err(format!("held {} MiB at once (limit {} MiB)", peak >> 20, limits.memory >> 20));
    }
    Ok(outcome)
}

/// Runs one input under the guards; `Ok(Some(message))` is a clean error.
fn execute(target: &Target, input: Arc<Vec<u8>>, limits: &Limits) -> Result<Option<String>, String> {
    *RUNNING.lock().unwrap() = Some(Running { target: target.name, input: input.clone(), since: Instant::now() });
    CURRENT_PTR.store(input.as_ptr() as *mut u8, Ordering::SeqCst);
    CURRENT_LEN.store(input.len(), Ordering::SeqCst);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
    let elapsed = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    CURRENT_PTR.store(std::ptr::null_mut(), Ordering::SeqCst);
    CURRENT_LEN.store(0, Ordering::SeqCst);
    *RUNNING.lock().unwrap() = None;
    verdict(result, elapsed, peak, limits)
}

fn hash(bytes: &[u8]) -> u64 {
    // FNV-1a: stable names for saved inputs.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn save(dir: &Path, target: &str, input: &[u8], why: &str) -> PathBuf {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:016x}.bin", hash(input)));
    std::fs::write(&path, input).unwrap();
    std::fs::write(path.with_extension("txt"), format!("{why}\n")).unwrap();
    path
}

/// An error message with its numbers and quoted parts removed: "the same kind of error".
fn shape_of(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if !quoted && !c.is_ascii_digit() {
            out.push(c);
        }
    }
    out
}

/// One fuzz run at a time per process (the allocator's counters and the watchdog are global).
static ONE_RUN: Mutex<()> = Mutex::new(());

/// Fuzzes every target of `targets` that the plan selects; panics listing every failure.
pub fn run_all(targets: Vec<Target>, replay: &Path, plan: &Plan) {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&plan.finds).unwrap();
    let _ = OVERSIZED_FILE.set(std::fs::File::create(plan.finds.join("oversized-allocation.bin")).unwrap());
    let hang = plan.limits.hang;
    let finds = plan.finds.clone();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let guard = RUNNING.lock().unwrap();
            if let Some(r) = guard.as_ref().filter(|r| r.since.elapsed() > hang) {
                let path = save(&finds, r.target, &r.input, &format!("still running after {} s", hang.as_secs()));
                eprintln!("\nfuzz: {}: an input ran for more than {} s (saved to {}); stopping", r.target, hang.as_secs(), path.display());
                std::process::exit(2);
            }
        }
    });
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        *PANIC.lock().unwrap() = Some(format!("{message}{place}"));
    }));

    let mut failures: Vec<String> = Vec::new();
    eprintln!("fuzz: seed {}, finds in {}", plan.seed, plan.finds.display());
    for target in &targets {
        if plan.only.as_ref().is_some_and(|o| !o.iter().any(|n| n == target.name)) {
            continue;
        }
        // Each target its own sequence: a run of one target repeats its part of a full run.
        let mut rng = Rng::new(plan.seed ^ hash(target.name.as_bytes()));
        let started = Instant::now();
        let mut seen_failures: BTreeSet<String> = BTreeSet::new();
        let mut report = |input: &[u8], why: String, failures: &mut Vec<String>| {
            if seen_failures.insert(shape_of(&why)) {
                let path = save(&plan.finds, target.name, input, &why);
                failures.push(format!("{}: {why} (input: {})", target.name, path.display()));
            }
        };
        // The seeds and the saved regressions first: each must pass.
        let mut corpus: Vec<Vec<u8>> = target.seeds.clone();
        let mut replayed = 0;
        if let Ok(dir) = std::fs::read_dir(replay.join(target.name)) {
            let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "bin")).collect();
            files.sort();
            for f in files {
                corpus.push(std::fs::read(&f).unwrap());
                replayed += 1;
            }
        }
        let mut messages: BTreeMap<String, usize> = BTreeMap::new();
        let mut clean_errors = 0usize;
        for input in corpus.clone() {
            match execute(target, Arc::new(input.clone()), &plan.limits) {
                Ok(Some(m)) => {
                    clean_errors += 1;
                    *messages.entry(shape_of(&m)).or_default() += 1;
                }
                Ok(None) => {}
                Err(why) => report(&input, why, &mut failures),
            }
        }
        let iterations = plan.iterations.unwrap_or(if plan.seconds.is_some() { usize::MAX } else { target.smoke });
        let deadline = plan.seconds.map(|s| started + Duration::from_secs_f64(s));
        let mut done = 0usize;
        while done < iterations && deadline.is_none_or(|d| Instant::now() < d) {
            let parent = rng.below(corpus.len());
            let input = (target.mutate)(&mut rng, &corpus[parent], &corpus);
            done += 1;
            match execute(target, Arc::new(input.clone()), &plan.limits) {
                Ok(Some(m)) => {
                    clean_errors += 1;
                    let shape = shape_of(&m);
                    let n = messages.entry(shape).or_default();
                    *n += 1;
                    // A new kind of error: this input reached somewhere new; keep it.
                    if *n == 1 && corpus.len() < 2000 {
                        corpus.push(input);
                    }
                }
                Ok(None) => {
                    if rng.chance(0.05) && corpus.len() < 2000 {
                        corpus.push(input);
                    }
                }
                Err(why) => report(&input, why, &mut failures),
            }
        }
        eprintln!(
            "fuzz: {:<20} {:>8} inputs ({} seeds, {} saved regressions) in {:>6.1} s: {} clean errors of {} kinds, corpus {}",
            target.name,
            done,
            target.seeds.len(),
            replayed,
            started.elapsed().as_secs_f64(),
            clean_errors,
            messages.len(),
            corpus.len()
        );
    }
    std::panic::set_hook(default_hook);
    assert!(failures.is_empty(), "{} fuzz failures:\n{}", failures.len(), failures.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guards catch what they promise: a panic, a message over two lines, an input that
    /// holds too much memory, a slow one; a clean error passes.
    #[test]
    fn guards_catch_panics_long_messages_memory_and_time() {
        let target = Target {
            name: "self-test",
            seeds: vec![b"fine".to_vec(), b"error".to_vec(), b"panic".to_vec(), b"lines".to_vec(), b"memory".to_vec(), b"slow".to_vec()],
            smoke: 0,
            mutate: Box::new(|_, input, _| input.to_vec()),
            run: Box::new(|input| match input {
                b"error" => Err("data: a clean one-line error".into()),
                b"panic" => panic!("index out of bounds"),
                b"lines" => Err("first\nsecond".into()),
                b"memory" => {
                    let v: Vec<u8> = Vec::with_capacity(300 << 20);
                    std::hint::black_box(&v);
                    Ok(())
                }
                b"slow" => {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                }
                _ => Ok(()),
            }),
        };
        let finds = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-self-test");
        let _ = std::fs::remove_dir_all(&finds);
        let plan = Plan {
            seed: 1,
            seconds: None,
            iterations: Some(0),
            only: None,
            finds: finds.clone(),
            limits: Limits { memory: 200 << 20, slow: Duration::from_millis(200), hang: Duration::from_secs(60) },
        };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| run_all(vec![target], &finds.join("no-regressions"), &plan)));
        let message = result.expect_err("the run fails").downcast::<String>().map(|s| *s).unwrap_or_default();
        assert!(message.starts_with("4 fuzz failures"), "{message}");
        for needle in ["panic: index out of bounds at", "not one line", "took 0.3 s"] {
            assert!(message.contains(needle), "'{needle}' not in {message}");
        }
        // The allocation counter is process-wide: other tests' threads allocate and free while
        // the 300 MiB input runs, so the peak is 300 MiB give or take a few.
        let held: usize = message
            .split("held ")
            .nth(1)
            .and_then(|rest| rest.split(" MiB at once (limit 200 MiB)").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no 'held N MiB at once (limit 200 MiB)' in {message}"));
        assert!((280..=320).contains(&held), "held {held} MiB, expected about 300: {message}");
        assert!(!message.contains("clean one-line"), "{message}");
    }
}
