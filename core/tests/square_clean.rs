//! Square attacks only the images the model classifies correctly and returns the others
//! unchanged, as fra31's AutoAttack (`SquareAttack.perturb`) and torchattacks' `Square` do, so
//! robust accuracy never exceeds clean accuracy, sample by sample.
//!
//! The model is an untrained, seeded small CNN (clean accuracy far below 100%: the agreement
//! fixture of `torchattacks_agreement.rs` is 100% clean-correct, which is why it could not catch
//! this). The labels are built so that the premise is certain: for every image whose prediction
//! Square's random start changes, the label is the prediction *at the start*, so that image is
//! misclassified clean but "fixed" by the start. The start depends only on the seed and the batch
//! shape (never on the labels), so it is read off a one-query Square run whose labels are the
//! clean predictions (every image clean-correct, so every image gets the start).
//!
//! Before the fix, Square chose the samples to attack from the margin *after* the start: with one
//! query it returned the start for every image, so each re-labelled image came back classified
//! correctly (robust, though wrong on its clean image) and both assertions failed; with more
//! queries, a re-labelled image stayed wherever the search left it, not at its clean image.

use std::sync::OnceLock;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::attacks::{Attack, AttackSpec, Square};
use hypersphere_core::data::batch::gather;
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::metrics::predictions;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};

const N: usize = 64;
const SEED: u64 = 11;

/// The seeded untrained model, built once: the tests run on parallel threads that share the
/// device's random generator, so seeding and initialising per test would race.
fn model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let device = Device::flex();
        device.seed(3);
        Classifier::new(ModelConfig { width: 8, ..ModelConfig::new(Arch::SmallCnn, 10) }, &device).unwrap()
    })
}

fn predicted(model: &Classifier, x: Tensor<4>) -> Vec<i64> {
    predictions(model.forward(x)).into_data().convert::<i64>().try_into_vec::<i64>().unwrap()
}

fn pixels(x: Tensor<4>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn square(spec: &str, queries: usize) -> Square {
    Square::new(format!("{spec}:{queries}").parse::<AttackSpec>().unwrap())
}

fn check(spec: &str) {
    let device = Device::flex();
    let model = model();
    let set = generate(&ProceduralConfig { images: N, seed: 21, ..Default::default() });
    let (x, _) = gather(&set, &(0..N).collect::<Vec<_>>(), &device);
    let clean = predicted(model, x.clone());
    let clean_labels = Tensor::<1, Int>::from_data(TensorData::new(clean.clone(), [N]), &device);
    let start = square(spec, 1).perturb(model, x.clone(), clean_labels, SEED);
    let at_start = predicted(model, start);
    let labels: Vec<i64> = clean.iter().zip(&at_start).map(|(&c, &s)| if s != c { s } else { c }).collect();
    let rescued = labels.iter().zip(&clean).filter(|(l, c)| l != c).count();
    assert!(rescued > 0, "{spec}: the premise needs an image the random start re-labels (none of {N})");
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [N]), &device);
    let clean_pixels = pixels(x.clone());
    let per_image = clean_pixels.len() / N;
    for queries in [1, 30] {
        let adv = square(spec, queries).perturb(model, x.clone(), y.clone(), SEED);
        let adv_pixels = pixels(adv.clone());
        let robust = predicted(model, adv);
        let (mut clean_correct, mut robust_correct) = (0, 0);
        for i in 0..N {
            let ok_clean = clean[i] == labels[i];
            let ok_adv = robust[i] == labels[i];
            clean_correct += ok_clean as usize;
            robust_correct += ok_adv as usize;
            assert!(!ok_adv || ok_clean, "{spec} ({queries} queries): image {i} is robust but misclassified clean");
            if !ok_clean {
                let range = i * per_image..(i + 1) * per_image;
                assert!(
                    adv_pixels[range.clone()] == clean_pixels[range],
                    "{spec} ({queries} queries): clean-misclassified image {i} was changed"
                );
            }
        }
        assert!(robust_correct <= clean_correct, "{spec} ({queries} queries): robust {robust_correct} > clean {clean_correct}");
        eprintln!("{spec}, {queries} queries: {rescued} re-labelled images, clean {clean_correct}/{N}, robust {robust_correct}/{N}");
    }
}

#[test]
fn square_linf_returns_clean_misclassified_images_unchanged() {
    check("square:linf:0.5");
}

#[test]
fn square_l2_returns_clean_misclassified_images_unchanged() {
    check("square:l2:16");
}
