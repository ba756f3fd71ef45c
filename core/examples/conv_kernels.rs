//! Times our CPU convolution's three kernels (forward, input gradient, weight gradient) on each
//! distinct convolution of the CIFAR ResNet-18 (width 64) at one batch size, and prints a table
//! of milliseconds per call (median) and GFLOP/s (2·B·c_out·K·P per kernel), then the totals
//! per training step (each layer counted as often as the network has it).
//!
//! cargo run --release -p hypersphere-core --features cpu-conv --example conv_kernels -- [BATCH] [ITERS] [LAYER]
//!
//! LAYER: only the layers whose name contains it (e.g. `64->64`), for profiling one.
//! `docs/bench-conv-kernels-cpu.txt` is this program's output (`-- 128 5`).
use std::time::Instant;

use hypersphere_core::models::cpu_conv::kernels::{self, ConvGeometry};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let filter = std::env::args().nth(3).unwrap_or_default();
    let args: Vec<usize> = std::env::args().skip(1).take(2).map(|a| a.parse().expect("BATCH and ITERS are numbers")).collect();
    let batch = args.first().copied().unwrap_or(128);
    let iters = args.get(1).copied().unwrap_or(5);
    // (name, count in the network, c_in, size, c_out, kernel, stride, padding)
    let layers = [
        ("stem 3->64 32x32", 1, 3, 32, 64, 3, 1, 1),
        ("64->64 32x32", 4, 64, 32, 64, 3, 1, 1),
        ("64->128 s2", 1, 64, 32, 128, 3, 2, 1),
        ("sc 64->128 1x1 s2", 1, 64, 32, 128, 1, 2, 0),
        ("128->128 16x16", 3, 128, 16, 128, 3, 1, 1),
        ("128->256 s2", 1, 128, 16, 256, 3, 2, 1),
        ("sc 128->256 1x1 s2", 1, 128, 16, 256, 1, 2, 0),
        ("256->256 8x8", 3, 256, 8, 256, 3, 1, 1),
        ("256->512 s2", 1, 256, 8, 512, 3, 2, 1),
        ("sc 256->512 1x1 s2", 1, 256, 8, 512, 1, 2, 0),
        ("512->512 4x4", 3, 512, 4, 512, 3, 1, 1),
    ];
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| info.lines().find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())));
    let command: Vec<String> = std::env::args().skip(1).collect();
    println!("conv_kernels {} on {} ({} threads, release build)", command.join(" "), cpu.as_deref().unwrap_or("an unnamed CPU"), rayon::current_num_threads());
    println!("batch {batch}, median of {iters} after 1 warm-up");
    println!("| layer | x | forward ms | GFLOP/s | input grad ms | GFLOP/s | weight grad ms | GFLOP/s |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut totals = [0.0f64; 3];
    for (name, count, c_in, size, c_out, k, s, p) in layers.into_iter().filter(|l| l.0.contains(filter.as_str())) {
        let geo = ConvGeometry { batch, c_in, height: size, width: size, c_out, kernel: [k, k], stride: [s, s], padding: [p, p] };
        let x: Vec<f32> = (0..geo.input_len()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..geo.weight_len()).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let dy: Vec<f32> = (0..geo.output_len()).map(|i| ((i * 15485863) % 1000) as f32 / 1000.0 - 0.5).collect();
        let flop = 2.0 * (batch * c_out * geo.patch_len() * geo.pixels()) as f64;
        let time = |f: &dyn Fn() -> Vec<f32>| {
            std::hint::black_box(f());
            median((0..iters).map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64()
            }).collect())
        };
        let t = [time(&|| kernels::forward(&geo, &x, &w, None)), time(&|| kernels::grad_input(&geo, &w, &dy)), time(&|| kernels::grad_weight(&geo, &x, &dy))];
        for (total, t) in totals.iter_mut().zip(t) {
            *total += t * count as f64;
        }
        println!("| {name} | {count} | {:.1} | {:.0} | {:.1} | {:.0} | {:.1} | {:.0} |", t[0] * 1e3, flop / t[0] / 1e9, t[1] * 1e3, flop / t[1] / 1e9, t[2] * 1e3, flop / t[2] / 1e9);
    }
    println!("\nper training step (x counted): forward {:.0} ms, input gradient {:.0} ms, weight gradient {:.0} ms, all {:.0} ms", totals[0] * 1e3, totals[1] * 1e3, totals[2] * 1e3, totals.iter().sum::<f64>() * 1e3);
}
