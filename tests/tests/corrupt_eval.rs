//! `hypersphere corrupt-eval` end to end: a small trained model loses accuracy under the
//! CIFAR-10-C corruptions, the JSON holds every corruption and severity, the published-file
//! path reads `.npy` files, and bad arguments fail with one clear line.

mod common;

use common::{assert_success, assert_user_error, run, scratch};
use serde_json::Value;

/// A `.npy` file of `uint8` with `shape` (format 1.0, as `np.save` writes it).
fn npy(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
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
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["source"], "native");
    assert_eq!(report["severities"], serde_json::json!([1, 2, 3, 4, 5]));
    let m = &report["models"][0];
    let clean = m["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.2, "the model must beat chance (0.1) clearly: {clean}");
    let corruptions = m["corruptions"].as_array().unwrap();
    assert_eq!(corruptions.len(), 15);
    let mut not_above = 0;
    for c in corruptions {
        let acc: Vec<f64> = c["accuracy"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let drop: Vec<f64> = c["relative_drop"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!((acc.len(), drop.len()), (5, 5), "{c}");
        for (a, d) in acc.iter().zip(&drop) {
            assert!((0.0..=1.0).contains(a));
            assert!((d - (clean - a) / clean).abs() < 1e-9);
        }
        let mean_drop = c["mean_relative_drop"].as_f64().unwrap();
        assert!((mean_drop - drop.iter().sum::<f64>() / 5.0).abs() < 1e-9);
        if acc[4] <= clean + 1e-9 {
            not_above += 1;
        }
    }
    // Severity 5 of a corruption should not help a model; allow a few ties or lucky flips.
    assert!(not_above >= 12, "only {not_above} of 15 corruptions do not raise accuracy at severity 5");
    assert!(m["mean_relative_drop"].as_f64().unwrap() > 0.05, "{m}");

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
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json2).unwrap()).unwrap();
    assert!(report["source"].as_str().unwrap().starts_with("cifar10c:"));
    assert_eq!(report["images"], 20);
    assert_eq!(report["models"][0]["corruptions"][0]["accuracy"].as_array().unwrap().len(), 2);
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
