//! `hypersphere corrupt-eval` end to end: a small trained model loses accuracy under the
//! CIFAR-10-C corruptions, the JSON holds every corruption and severity, the published-file
//! path reads `.npy` files, and bad arguments fail with one clear line.

mod common;

use common::{assert_success, assert_user_error, run, scratch};
use hypersphere_core::corruptions::Fidelity;
use hypersphere_core::corruptions::cifar10c::npy_u8_bytes as npy;
use hypersphere_core::results::CorruptionReport;

/// The `--json` file, read as the type the study report reads.
fn read_report(path: &std::path::Path) -> CorruptionReport {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn corrupt_eval_reports_drops_for_every_corruption_and_severity() {
    let dir = scratch("corrupt-eval");
    let model = dir.join("model");
    assert_success(&run(&[
        "train", "--data", "procedural:600", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--device", "flex", "--epochs", "4", "--lr", "0.05",
        "--out", model.to_str().unwrap(),
    ]));
    let weights = model.join("model.bpk");
    let json = dir.join("corrupt.json");
    let out = run(&["corrupt-eval", "--models", weights.to_str().unwrap(), "--data", "procedural:200", "--device", "flex", "--json", json.to_str().unwrap()]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| clean accuracy |") && stdout.contains("| gaussian_noise |") && stdout.contains("| frost* |") && stdout.contains("| motion_blur |"), "{stdout}");
    let report = read_report(&json);
    assert_eq!(report.source, "native");
    assert_eq!((report.data.as_str(), report.images, report.seed), ("procedural:200", 200, 0));
    assert_eq!(report.severities, [1, 2, 3, 4, 5]);
    let m = &report.models[0];
    assert_eq!(m.model, weights.display().to_string());
    let clean = m.clean_accuracy;
    assert!(clean > 0.2, "the model must beat chance (0.1) clearly: {clean}");
    assert_eq!(m.corruptions.len(), 15);
    let mut not_above = 0;
    for c in &m.corruptions {
        let (acc, drop) = (&c.accuracy, &c.relative_drop);
        assert_eq!((acc.len(), drop.len()), (5, 5), "{c:?}");
        for (a, d) in acc.iter().zip(drop) {
            assert!((0.0..=1.0).contains(a));
            assert!((d - (clean - a) / clean).abs() < 1e-9);
        }
        assert!((c.mean_accuracy - acc.iter().sum::<f64>() / 5.0).abs() < 1e-9);
        assert!((c.mean_relative_drop - drop.iter().sum::<f64>() / 5.0).abs() < 1e-9);
        let approximate = ["frost", "jpeg_compression"].contains(&c.corruption.as_str());
        assert_eq!(c.fidelity.is_some_and(|f| f == Fidelity::Approximate), approximate, "{c:?}");
        if acc[4] <= clean + 1e-9 {
            not_above += 1;
        }
    }
    // Severity 5 of a corruption should not help a model; allow a few ties or lucky flips.
    assert!(not_above >= 12, "only {not_above} of 15 corruptions do not raise accuracy at severity 5");
    assert!(m.mean_relative_drop > 0.05, "{m:?}");

    // The published-file path: a fake CIFAR-10-C folder with one corruption (5 x 20 images).
    let c10c = dir.join("CIFAR-10-C");
    std::fs::create_dir_all(&c10c).unwrap();
    let (n, size) = (20usize, 32 * 32 * 3);
    let pixels: Vec<u8> = (0..5 * n * size).map(|i| ((i * 7919) % 251) as u8).collect();
    std::fs::write(c10c.join("fog.npy"), npy(&[5 * n, 32, 32, 3], &pixels)).unwrap();
    let labels: Vec<u8> = (0..5 * n).map(|i| (i % 10) as u8).collect();
    std::fs::write(c10c.join("labels.npy"), npy(&[5 * n], &labels)).unwrap();
    let json2 = dir.join("c10c.json");
    let out = run(&[
        "corrupt-eval", "--models", weights.to_str().unwrap(), "--data", "procedural:100", "--device", "flex", "--corruptions", "fog", "--severities", "1,5",
        "--cifar10c", c10c.to_str().unwrap(), "--json", json2.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = read_report(&json2);
    assert!(report.source.starts_with("cifar10c:"), "{}", report.source);
    assert_eq!(report.images, 20);
    let fog = &report.models[0].corruptions[0];
    assert_eq!((fog.corruption.as_str(), fog.accuracy.len(), fog.fidelity), ("fog", 2, Some(Fidelity::Exact)));
    assert_user_error(
        &run(&["corrupt-eval", "--models", weights.to_str().unwrap(), "--data", "procedural:20", "--device", "flex", "--corruptions", "snow", "--cifar10c", c10c.to_str().unwrap()]),
        "snow.npy not found",
    );

    // Errors: one line each.
    let w = weights.to_str().unwrap();
    assert_user_error(&run(&["corrupt-eval", "--models", w, "--data", "procedural:20", "--corruptions", "fog,speckle"]), "valid names: gaussian_noise");
    assert_user_error(&run(&["corrupt-eval", "--models", w, "--data", "procedural:20", "--severities", "1,6"]), "severity 6 is outside 1..5");
    assert_user_error(&run(&["corrupt-eval", "--models", w, "--data", "procedural:20", "--severities", "0"]), "outside 1..5");
    assert_user_error(&run(&["corrupt-eval", "--models", "nothing.bpk", "--data", "procedural:20"]), "does not exist");
    let _ = std::fs::remove_dir_all(&dir);
}
