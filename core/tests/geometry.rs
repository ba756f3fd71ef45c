//! Geometry metrics against NumPy (scripts/make_geometry_fixtures.py: full float64 distance
//! matrices, no blocking) on 1,030 random features, to 1e-5.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use hypersphere_core::geometry::{alignment, class_separation, uniformity};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: {a} vs {b}");
}

#[test]
fn separation_alignment_and_uniformity_match_numpy() {
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(common::fixture("geometry.json")).expect("run scripts/make_geometry_fixtures.py")).unwrap();
    let device = Device::flex();
    let d = fixture["dim"].as_u64().unwrap() as usize;
    let classes = fixture["classes"].as_u64().unwrap() as usize;
    let labels: Vec<usize> = fixture["labels"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect();
    let n = labels.len();
    let tensor = |key: &str| Tensor::<2>::from_data(TensorData::new(floats(&fixture[key]), [n, d]), &device);
    let s = class_separation(tensor("features"), &labels, classes, &device).unwrap();
    close(s.inter, fixture["inter"].as_f64().unwrap(), "inter");
    close(s.intra, fixture["intra"].as_f64().unwrap(), "intra");
    close(s.ratio, fixture["ratio"].as_f64().unwrap(), "ratio");
    for a in 0..classes {
        for b in 0..classes {
            close(s.matrix[a][b], fixture["matrix"][a][b].as_f64().unwrap(), &format!("matrix[{a}][{b}]"));
        }
    }
    close(alignment(tensor("features"), tensor("views"), 2.0), fixture["alignment"].as_f64().unwrap(), "alignment");
    close(uniformity(tensor("features"), 2.0), fixture["uniformity"].as_f64().unwrap(), "uniformity");
}
