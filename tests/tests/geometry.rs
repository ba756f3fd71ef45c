//! `hypersphere geometry` end to end: training separates classes, so a trained model's
//! inter/intra-class distance ratio beats the same network before training.

mod common;

use common::{assert_success, assert_user_error, run, scratch};
use serde_json::Value;

#[test]
fn training_raises_the_class_separation_ratio() {
    let dir = scratch("geometry");
    let base = ["train", "--data", "procedural:600", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--device", "flex"];
    let (trained, untrained) = (dir.join("trained"), dir.join("untrained"));
    assert_success(&run(&[&base[..], &["--epochs", "4", "--lr", "0.05", "--out", trained.to_str().unwrap()]].concat()));
    assert_success(&run(&[&base[..], &["--epochs", "1", "--lr", "0", "--out", untrained.to_str().unwrap()]].concat()));
    let json = dir.join("geometry.json");
    let models = format!("{},{}", trained.join("model.bpk").display(), untrained.join("model.bpk").display());
    let out = run(&["geometry", "--models", &models, "--data", "procedural:200", "--device", "flex", "--json", json.to_str().unwrap()]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| ratio (inter/intra) |"), "{stdout}");
    let results: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results.len(), 2);
    let ratio = |i: usize| results[i]["separation"]["ratio"].as_f64().unwrap();
    assert!(ratio(0) > ratio(1), "trained {} vs untrained {}", ratio(0), ratio(1));
    assert!(ratio(0) > 1.0);
    let matrix = results[0]["separation"]["matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), 10);
    for r in &results {
        let u = r["uniformity"].as_f64().unwrap();
        assert!(u <= 0.0 && u > -4.0, "uniformity of unit vectors lies in [-4, 0]: {u}");
        assert!(r["alignment"].as_f64().unwrap() >= 0.0);
    }
    assert_user_error(&run(&["geometry", "--models", "nothing.bpk", "--data", "procedural:20", "--device", "flex"]), "does not exist");
    let _ = std::fs::remove_dir_all(&dir);
}
