//! End-to-end tests of `hypersphere linear-eval --mode adversarial|trades` (issue 14): on a tiny
//! SimCLR encoder and procedural data both modes run, write an evaluable model and record the
//! mode with its settings in linear_eval.json; bad settings get one-line errors.

mod common;

use std::path::Path;

use common::{assert_success, assert_user_error, run, s, scratch};
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn close(value: &Value, want: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - want).abs() < 1e-6)
}

#[test]
fn adversarial_and_trades_modes_run_and_record_their_settings() {
    let dir = scratch("robust-linear");
    let encoder_run = dir.join("simclr");
    assert_success(&run(&[
        "train", "--method", "simclr", "--data", "procedural:120", "--arch", "small-cnn", "--width", "4", "--epochs", "1", "--batch-size",
        "40", "--lr", "0.3", "--warmup-epochs", "0", "--no-linear-eval", "--device", "flex", "--out", &s(&encoder_run),
    ]));
    let small = ["--epochs", "1", "--batch-size", "20", "--train-limit", "40", "--test-limit", "20", "--device", "flex"];
    let (run_dir, encoder) = (s(&encoder_run), s(&encoder_run.join("encoder.bpk")));
    let (run_dir, encoder) = (run_dir.as_str(), encoder.as_str());

    // TRADES on the run folder, default budget but 2 steps.
    let out = run(&[&["linear-eval", "--run", run_dir, "--mode", "trades", "--attack-steps", "2"][..], &small[..]].concat());
    assert_success(&out);
    let file = json(&encoder_run.join("linear_eval.json"));
    let mode = &file["config"]["mode"];
    assert_eq!(mode["kind"], "trades", "{file}");
    assert!(close(&mode["attack"]["eps"], 8.0 / 255.0) && close(&mode["attack"]["step"], 2.0 / 255.0), "{mode}");
    assert_eq!((mode["attack"]["steps"].as_u64(), mode["beta"].as_f64()), (Some(2), Some(6.0)), "{mode}");
    assert_eq!(file["report"]["test_images"], 20);
    assert!(String::from_utf8_lossy(&out.stderr).contains("linear evaluation (trades)"));
    assert!(encoder_run.join("model.bpk").exists());

    // Adversarial linear evaluation of an encoder file, every setting given.
    let adv = dir.join("adversarial");
    let adv_dir = s(&adv);
    let out = run(&[
        &["linear-eval", "--encoder", encoder, "--data", "procedural:120", "--out", adv_dir.as_str()][..],
        &["--mode", "adversarial", "--attack-eps", "4/255", "--attack-step", "0.004", "--attack-steps", "3"][..],
        &small[..],
    ]
    .concat());
    assert_success(&out);
    let file = json(&adv.join("linear_eval.json"));
    let mode = &file["config"]["mode"];
    assert_eq!(mode["kind"], "adversarial", "{file}");
    assert!(close(&mode["attack"]["eps"], 4.0 / 255.0) && close(&mode["attack"]["step"], 0.004), "{mode}");
    assert_eq!(mode["attack"]["steps"].as_u64(), Some(3));
    assert!(mode.get("beta").is_none(), "no TRADES beta in adversarial mode: {mode}");
    // The model it wrote is the evaluable one.
    let eval = dir.join("eval.json");
    assert_success(&run(&[
        "eval", "--weights", &s(&adv.join("model.bpk")), "--data", "procedural:120", "--limit", "20", "--attack", "pgd:linf:4/255:3",
        "--device", "flex", "--json", &s(&eval),
    ]));
    assert_eq!(json(&eval)["images"], 20);

    // The default mode is recorded as standard.
    let standard = dir.join("standard");
    let standard_dir = s(&standard);
    assert_success(&run(&[
        &["linear-eval", "--encoder", encoder, "--data", "procedural:120", "--out", standard_dir.as_str()][..],
        &small[..],
    ]
    .concat()));
    assert_eq!(json(&standard.join("linear_eval.json"))["config"]["mode"]["kind"], "standard");

    // Bad settings: one line, exit code 1, before any training.
    let base = ["linear-eval", "--run", run_dir, "--device", "flex"];
    for (extra, needle) in [
        (&["--mode", "foo"][..], "unknown linear evaluation mode 'foo'"),
        (&["--mode", "adversarial", "--attack-steps", "0"][..], "steps must be between 1"),
        (&["--mode", "trades", "--attack-eps", "2"][..], "eps must be in [0, 1]"),
        (&["--mode", "trades", "--attack-eps", "x/255"][..], "--attack-eps"),
        (&["--mode", "trades", "--trades-beta", "nan"][..], "beta"),
        (&["--mode", "adversarial", "--trades-beta", "3"][..], "--trades-beta needs --mode trades"),
        (&["--attack-eps", "8/255"][..], "need --mode adversarial or trades"),
    ] {
        assert_user_error(&run(&[&base[..], extra].concat()), needle);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
