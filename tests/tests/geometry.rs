//! `hypersphere geometry` end to end: training separates classes, so a trained model's
//! inter/intra-class distance ratio beats the same network before training.

mod common;

use common::{assert_success, assert_user_error, run, scratch};
use hypersphere_core::results::GeometryResult;

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
    // Read as the type the study report reads.
    let results: Vec<GeometryResult> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].model, trained.join("model.bpk").display().to_string());
    let ratio = |i: usize| results[i].separation.ratio;
    assert!(ratio(0) > ratio(1), "trained {} vs untrained {}", ratio(0), ratio(1));
    assert!(ratio(0) > 1.0);
    let s = &results[0].separation;
    assert_eq!((s.matrix.len(), s.counts.len(), s.counts.iter().sum::<usize>()), (10, 10, 200));
    assert!(s.matrix.iter().all(|row| row.len() == 10 && row.iter().all(|d| d.is_finite())));
    for r in &results {
        assert_eq!(r.images, 200);
        let u = r.uniformity;
        assert!(u <= 0.0 && u > -4.0, "uniformity of unit vectors lies in [-4, 0]: {u}");
        assert!(r.alignment >= 0.0);
        // the t-SNE picture (default 1000 points, so every one of the 200 images), one label each
        let tsne = r.tsne.as_ref().expect("a t-SNE picture by default");
        assert_eq!((tsne.points.len(), tsne.labels.len(), tsne.class_names.len()), (200, 200, 10));
    }
    assert_user_error(&run(&["geometry", "--models", "nothing.bpk", "--data", "procedural:20", "--device", "flex"]), "does not exist");
    let _ = std::fs::remove_dir_all(&dir);
}
