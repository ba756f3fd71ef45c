//! `hypersphere`: train, attack and evaluate models for the reproduction of Gupta et al. (AAAI
//! 2023), "Contrastive Self-Supervised Learning Leads to Higher Adversarial Susceptibility".
//! A thin shell over `hypersphere-core`: argument parsing, files, devices and progress bars.

mod cmd;
mod device;
mod model_files;
mod progress;
mod run_folder;

use clap::{Parser, Subcommand};

/// Train, attack and evaluate image classifiers; reproduce the paper's robustness tables.
#[derive(Parser)]
#[command(name = "hypersphere", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small model and print its robustness table (the main job; procedural data by default).
    Quickstart(cmd::quickstart::Args),
    /// Train with cross-entropy, SupCon or SimCLR (+ FNC / A-FNC); checkpointed, resumable run folder.
    Train(cmd::train::Args),
    /// Train a linear classifier on a frozen contrastive encoder (or, with --mode adversarial|trades, robust linear evaluation / TRADES fine-tuning); writes the evaluable model.
    LinearEval(cmd::linear_eval::Args),
    /// Evaluate a model clean and under attacks; prints a table and optionally writes JSON.
    Eval(cmd::eval::Args),
    /// Attack one image file and write the adversarial PNG (the web page's computation, natively).
    Attack(cmd::attack::Args),
    /// Serve the web page on localhost (the repository root, or dist/).
    Serve(cmd::serve::Args),
    /// Class separation, alignment and uniformity of models' features (the paper's Figure 2).
    Geometry(cmd::geometry::Args),
    /// Accuracy under the 15 CIFAR-10-C corruptions and relative drop per corruption (the paper's Figure 3).
    CorruptEval(cmd::corrupt_eval::Args),
    /// The whole study: train the paper's six settings, attack them, geometry, corruptions, report.
    Reproduce(cmd::reproduce::Args),
    /// Gather a study folder (runs, evaluations, geometry) into an HTML page and Markdown with plots.
    Report(cmd::report::Args),
    /// Datasets: `data fetch cifar10|cifar100|cifar10-c` downloads, verifies and unpacks one.
    Data(cmd::data::Args),
    /// Measure training-step and PGD throughput on a device.
    Bench(cmd::bench::Args),
    /// Measure contrastive training steps: SimCLR, SimCLR + A-FNC and SupCon, and the A-FNC overhead.
    BenchContrastive(cmd::bench_contrastive::Args),
}

/// Keeps freed tensor buffers in the heap for reuse instead of returning them to the kernel.
///
/// glibc serves allocations above its mmap threshold (at most 32 MiB by default) with fresh
/// pages and unmaps them on free, so each large tensor a CPU step allocates (a ResNet-18
/// activation at batch 128 is 32 MiB, its im2col buffers more) costs page faults and the
/// kernel's zeroing of every page: about a fifth of a Flex training step in `perf`. Raising the
/// mmap and trim thresholds lets the heap reuse them: the ResNet-18 (width 64, batch 128)
/// training step went from 34.4 to 42.8 images/s on the 2-core machine (same binary, glibc
/// 2.36, set through `GLIBC_TUNABLES`, `hypersphere bench --rows ce-step`). The cost is that the
/// process keeps its peak heap until it exits. Other C libraries keep their defaults.
fn retain_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first in main, before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn main() {
    retain_large_allocations();
    // Burn creates a few tensors on `Device::default()` whatever device a run uses (a resumed
    // optimizer's state, which moves to its parameter's device at the next step). With CUDA
    // compiled in, that default is CUDA, which panics on machines without an NVIDIA driver;
    // Flex is always there. A BURN_DEVICE the user set is kept.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the first statement of main, before any thread is started.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Quickstart(args) => cmd::quickstart::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::LinearEval(args) => cmd::linear_eval::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Attack(args) => cmd::attack::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Geometry(args) => cmd::geometry::run(args),
        Command::CorruptEval(args) => cmd::corrupt_eval::run(args),
        Command::Reproduce(args) => cmd::reproduce::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Data(args) => cmd::data::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::BenchContrastive(args) => cmd::bench_contrastive::run(args),
    };
    if let Err(err) = result {
        // A stop at the budget is no failure: its own line and exit code (75).
        if let Some(spent) = err.downcast_ref::<hypersphere_core::train::BudgetSpent>() {
            println!("{spent}");
            std::process::exit(hypersphere_core::train::budget::EXIT_CODE);
        }
        // One line: the cause chain joined, and control characters from file names or other
        // input (a carriage return, a terminal escape) shown escaped.
        eprintln!("error: {}", hypersphere_core::error::one_line(&format!("{err:#}").replace('\n', " ")));
        std::process::exit(1);
    }
}
