//! The result files of the CLI's measuring commands as Rust types, written by `native` and read
//! by the study report ([`crate::report`]), so both sides share one definition of each file:
//!
//! - `hypersphere geometry --json`: an array of [`GeometryResult`] (one per model);
//! - `hypersphere corrupt-eval --json`: one [`CorruptionReport`];
//! - the top-5 lists of `hypersphere attack --json` (and of the page): [`Prediction`].
//!
//! The eval files are [`crate::evaluate::EvalReport`] (one model) and
//! [`crate::evaluate::ComparisonTable`] (`eval --models`), beside the code that computes them.
//! These types live here rather than in `geometry/` and `corruptions/` because they are file
//! contracts, not what those rooms compute: they carry the command's bookkeeping (the model's
//! path, image counts, seed, `native` or `cifar10c:<dir>`), and the report reads all of them.
//!
//! Writing is exact; reading is lenient, so older files and hand-written ones still load:
//! a field the report does not show may be missing (it reads as empty, zero or `None`), and a
//! float that is NaN, which serde_json writes as `null` (the distance matrix of a class with
//! one image), reads back as NaN.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::attacks::{AttackKind, AttackSpec, Norm, Objective};
use crate::corruptions::Fidelity;
use crate::evaluate::AttackResult;
use crate::geometry::ClassSeparation;
use crate::models::ModelConfig;

/// The geometry of one model's features (one entry of `hypersphere geometry --json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeometryResult {
    /// The model file as given on the command line.
    pub model: String,
    /// Test images measured (0 when the file does not say).
    #[serde(default)]
    pub images: usize,
    /// Inter/intra-class cosine distances, their ratio and the per-class matrix.
    #[serde(deserialize_with = "lenient_separation")]
    pub separation: ClassSeparation,
    /// Alignment of two SimCLR views of every image (alpha = 2).
    #[serde(deserialize_with = "f64_or_nan")]
    pub alignment: f64,
    /// Uniformity of the clean images' features (t = 2).
    #[serde(deserialize_with = "f64_or_nan")]
    pub uniformity: f64,
    /// The t-SNE picture, when asked for.
    #[serde(default)]
    pub tsne: Option<TsnePicture>,
}

/// 2-D t-SNE coordinates of a subsample with its labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TsnePicture {
    /// One point per image.
    pub points: Vec<[f32; 2]>,
    /// The class of each point.
    pub labels: Vec<usize>,
    /// Class names, by label.
    #[serde(default)]
    pub class_names: Vec<String>,
}

/// `hypersphere corrupt-eval --json`: accuracies as fractions, severities in the order given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorruptionReport {
    /// The dataset whose test split gave the clean images.
    #[serde(default)]
    pub data: String,
    /// `native` (corrupted here) or `cifar10c:<dir>` (the published files).
    #[serde(default)]
    pub source: String,
    /// Images per corrupted set.
    #[serde(default)]
    pub images: usize,
    /// Seed of the subset and of the random corruptions.
    #[serde(default)]
    pub seed: u64,
    /// The severities evaluated, in order.
    #[serde(default)]
    pub severities: Vec<u8>,
    /// One entry per model, in the order given.
    pub models: Vec<ModelCorruptions>,
}

impl CorruptionReport {
    /// One report of the models of `reports`, in their order: the reports of models evaluated
    /// one at a time on the same images (`reproduce` evaluates each run as soon as it is
    /// trained). The corrupted images depend only on the data, limit, severity and seed, so the
    /// result is the report of one `corrupt-eval` of all the models; reports of other images
    /// (data, source, images, seed or severities differ) are an error.
    pub fn combine(reports: Vec<CorruptionReport>) -> crate::Result<CorruptionReport> {
        let mut reports = reports.into_iter();
        let Some(mut all) = reports.next() else {
            return Err(crate::Error::Data("no corruption report to combine".into()));
        };
        for r in reports {
            if (&r.data, &r.source, r.images, r.seed, &r.severities) != (&all.data, &all.source, all.images, all.seed, &all.severities) {
                let model = r.models.first().map(|m| m.model.as_str()).unwrap_or("?");
                return Err(crate::Error::Data(format!(
                    "the corruption results of {model} are of other images ({} {}, {} images, seed {}, severities {:?}) than the first ({} {}, {} images, seed {}, severities {:?})",
                    r.data, r.source, r.images, r.seed, r.severities, all.data, all.source, all.images, all.seed, all.severities
                )));
            }
            all.models.extend(r.models);
        }
        Ok(all)
    }
}

/// One model's results under the corruptions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCorruptions {
    /// The model file as given on the command line.
    pub model: String,
    /// Clean top-1 accuracy.
    pub clean_accuracy: f64,
    /// Mean over corruptions of their mean relative drop.
    pub mean_relative_drop: f64,
    /// One entry per corruption, in the order evaluated.
    pub corruptions: Vec<CorruptionResult>,
}

/// One corruption's results for one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorruptionResult {
    /// The CIFAR-10-C name (`gaussian_noise`, ...).
    pub corruption: String,
    /// How closely the corruption follows CIFAR-10-C (`exact` for the published files).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_by_name")]
    pub fidelity: Option<Fidelity>,
    /// Accuracy per severity (in the order of `severities`).
    #[serde(default)]
    pub accuracy: Vec<f64>,
    /// `(clean - accuracy) / clean` per severity.
    #[serde(default)]
    pub relative_drop: Vec<f64>,
    /// Mean of `accuracy`.
    #[serde(default)]
    pub mean_accuracy: f64,
    /// Mean of `relative_drop`.
    pub mean_relative_drop: f64,
}

/// One entry of a top-k list (`hypersphere attack --json`, the page's classify and attack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Class index.
    pub label: usize,
    /// Class name (from the model's config, `class N` without names).
    pub name: String,
    /// Softmax probability.
    pub probability: f32,
}

/// The `k` most probable classes of one image's softmax `probabilities`, most probable first,
/// named after `config`'s classes.
pub fn top_predictions(probabilities: &[f32], k: usize, config: &ModelConfig) -> Vec<Prediction> {
    crate::metrics::top_k(probabilities, k)
        .into_iter()
        .map(|label| Prediction { label, name: config.class_name(label), probability: probabilities[label] })
        .collect()
}

/// A float written as a number, or as `null` when it was NaN.
struct F64OrNan(f64);

impl<'de> Deserialize<'de> for F64OrNan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(F64OrNan(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
    }
}

fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    F64OrNan::deserialize(d).map(|v| v.0)
}

/// [`ClassSeparation`] as written (NaN as `null`), or with only the three numbers the report
/// shows (hand-written files).
fn lenient_separation<'de, D: Deserializer<'de>>(d: D) -> Result<ClassSeparation, D::Error> {
    #[derive(Deserialize)]
    struct Written {
        // (`deserialize_with`, so that a missing number is an error, not NaN)
        #[serde(deserialize_with = "f64_or_nan")]
        inter: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        intra: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        ratio: f64,
        #[serde(default)]
        matrix: Vec<Vec<F64OrNan>>,
        #[serde(default)]
        counts: Vec<usize>,
    }
    let w = Written::deserialize(d)?;
    Ok(ClassSeparation {
        inter: w.inter,
        intra: w.intra,
        ratio: w.ratio,
        matrix: w.matrix.into_iter().map(|row| row.into_iter().map(|v| v.0).collect()).collect(),
        counts: w.counts,
    })
}

/// Enums that core writes by name (their `Serialize`) but that do not derive `Deserialize`
/// (they live in rooms this module does not own): read back by matching the written name
/// against every variant's serialisation, so the two can never disagree.
/// TODO(owners of attacks/ and corruptions/): derive `Deserialize` on `AttackKind`, `Norm`,
/// `Objective` and `Fidelity`, then drop `Named`, `ByName` and `optional_by_name`.
trait Named: Sized + Copy + Serialize + 'static {
    /// What the name is of, for error messages.
    const WHAT: &'static str;
    /// Every variant.
    const ALL: &'static [Self];
}

impl Named for AttackKind {
    const WHAT: &'static str = "attack";
    const ALL: &'static [Self] = &[
        AttackKind::Fgsm,
        AttackKind::Pgd,
        AttackKind::ApgdCe,
        AttackKind::ApgdDlr,
        AttackKind::ApgdT,
        AttackKind::Fab,
        AttackKind::FabT,
        AttackKind::Square,
        AttackKind::AutoAttack,
    ];
}

impl Named for Norm {
    const WHAT: &'static str = "norm";
    const ALL: &'static [Self] = &[Norm::Linf, Norm::L2, Norm::L1];
}

impl Named for Objective {
    const WHAT: &'static str = "loss";
    const ALL: &'static [Self] = &[Objective::Ce, Objective::CeTargeted, Objective::Dlr, Objective::DlrTargeted, Objective::Cw];
}

impl Named for Fidelity {
    const WHAT: &'static str = "fidelity";
    const ALL: &'static [Self] = &[Fidelity::Exact, Fidelity::Reimplemented, Fidelity::Approximate];
}

/// Does not compile when one of the enums gains a variant: list it in `ALL` above too.
#[allow(dead_code)]
fn every_variant_is_listed(k: AttackKind, n: Norm, o: Objective, f: Fidelity) {
    use AttackKind as A;
    match k {
        A::Fgsm | A::Pgd | A::ApgdCe | A::ApgdDlr | A::ApgdT | A::Fab | A::FabT | A::Square | A::AutoAttack => {}
    }
    match n {
        Norm::Linf | Norm::L2 | Norm::L1 => {}
    }
    match o {
        Objective::Ce | Objective::CeTargeted | Objective::Dlr | Objective::DlrTargeted | Objective::Cw => {}
    }
    match f {
        Fidelity::Exact | Fidelity::Reimplemented | Fidelity::Approximate => {}
    }
}

/// A [`Named`] value read from its name.
struct ByName<T>(T);

impl<'de, T: Named> Deserialize<'de> for ByName<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        T::ALL
            .iter()
            .copied()
            .find(|v| serde_json::to_value(v).ok().as_ref().and_then(|j| j.as_str()) == Some(text.as_str()))
            .map(ByName)
            .ok_or_else(|| D::Error::custom(format!("unknown {} '{text}'", T::WHAT)))
    }
}

fn optional_by_name<'de, D: Deserializer<'de>, T: Named>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<ByName<T>>::deserialize(d)?.map(|v| v.0))
}

/// An [`AttackResult`] as found in a file: everything its spec determines (family, norm, steps,
/// loss, AutoAttack's components) may be missing (older files) and is then taken from the spec.
#[derive(Deserialize)]
pub(crate) struct AttackResultFile {
    spec: String,
    attack: Option<ByName<AttackKind>>,
    norm: Option<ByName<Norm>>,
    eps: f32,
    steps: Option<usize>,
    loss: Option<ByName<Objective>>,
    accuracy: f64,
    p_drop: f64,
    #[serde(default)]
    seconds: f64,
    components: Option<Vec<ByName<AttackKind>>>,
    #[serde(default)]
    accuracy_after: Vec<f64>,
}

impl TryFrom<AttackResultFile> for AttackResult {
    type Error = crate::Error;

    fn try_from(f: AttackResultFile) -> crate::Result<Self> {
        // `components` is only written for AutoAttack (it is skipped when empty).
        let auto_without_components = f.components.is_none() && f.attack.as_ref().is_none_or(|v| v.0 == AttackKind::AutoAttack);
        let complete = f.attack.is_some() && f.norm.is_some() && f.steps.is_some() && f.loss.is_some() && !auto_without_components;
        let parsed: Option<AttackSpec> = if complete { None } else { Some(f.spec.parse()?) };
        let spec = || parsed.as_ref().expect("the spec is parsed whenever a field is missing");
        Ok(AttackResult {
            attack: f.attack.map_or_else(|| spec().kind, |v| v.0),
            norm: f.norm.map_or_else(|| spec().norm, |v| v.0),
            steps: f.steps.unwrap_or_else(|| spec().steps),
            loss: f.loss.map_or_else(|| spec().loss, |v| v.0),
            components: match f.components {
                Some(c) => c.into_iter().map(|v| v.0).collect(),
                None if auto_without_components => spec().components.clone(),
                None => Vec::new(),
            },
            eps: f.eps,
            accuracy: f.accuracy,
            p_drop: f.p_drop,
            seconds: f.seconds,
            accuracy_after: f.accuracy_after,
            spec: f.spec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{ComparisonTable, EvalReport};

    #[test]
    fn eval_reports_round_trip_and_older_files_fill_in_from_the_spec() {
        let full = r#"{"images": 10, "runtime": {"device": "CPU", "backend": "flex", "compiler": "none", "precision": "f32", "software": true},
            "normalization": null, "clean_accuracy": 0.5, "attacks": [
            {"spec": "autoattack:linf:8/255", "attack": "autoattack", "norm": "linf", "eps": 0.03137255, "steps": 100, "loss": "ce",
             "accuracy": 0.1, "p_drop": 0.8, "seconds": 2.5, "components": ["apgd-ce", "square"], "accuracy_after": [0.2, 0.1]}]}"#;
        let report: EvalReport = serde_json::from_str(full).unwrap();
        assert_eq!(report.runtime.as_ref().unwrap().backend, "flex");
        let a = &report.attacks[0];
        assert_eq!((a.attack, a.norm, a.steps, a.loss), (AttackKind::AutoAttack, Norm::Linf, 100, Objective::Ce));
        assert_eq!(a.components, vec![AttackKind::ApgdCe, AttackKind::Square]);
        // Writing it again gives the same JSON.
        let again: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(again, serde_json::from_str::<serde_json::Value>(full).unwrap());

        // A file from before `runtime`, `normalization`, `loss` and `seconds`, and a hand-written
        // one with only what the report shows: the rest comes from the spec.
        let old = r#"{"images": 10, "clean_accuracy": 0.5, "attacks": [
            {"spec": "pgd:l2:0.5:20:dlr", "eps": 0.5, "accuracy": 0.25, "p_drop": 0.5}]}"#;
        let report: EvalReport = serde_json::from_str(old).unwrap();
        assert!(report.runtime.is_none() && report.normalization.is_none());
        let a = &report.attacks[0];
        assert_eq!((a.attack, a.norm, a.steps, a.loss, a.seconds), (AttackKind::Pgd, Norm::L2, 20, Objective::Dlr, 0.0));
        assert!(!serde_json::to_string(&report).unwrap().contains("runtime"), "an unknown runtime stays unwritten");

        // A complete entry is taken as written: its spec is not parsed again.
        let complete = r#"{"images": 1, "clean_accuracy": 1.0, "attacks": [{"spec": "fgsm as run in 2025", "attack": "fgsm", "norm": "linf",
            "eps": 0.1, "steps": 1, "loss": "ce", "accuracy": 0.5, "p_drop": 0.5}]}"#;
        assert_eq!(serde_json::from_str::<EvalReport>(complete).unwrap().attacks[0].attack, AttackKind::Fgsm);

        // What is wrong is still refused, with the reason.
        let bad_kind = old.replace(r#""eps""#, r#""attack": "pgdd", "eps""#);
        assert!(serde_json::from_str::<EvalReport>(&bad_kind).unwrap_err().to_string().contains("unknown attack 'pgdd'"));
        let bad_spec = old.replace("pgd:l2:0.5:20:dlr", "pgd:l7:0.5");
        assert!(serde_json::from_str::<EvalReport>(&bad_spec).is_err());
        let table = format!(r#"{{"attacks": ["pgd:l2:0.5:20:dlr"], "rows": [{{"model": "a", "report": {old}}}]}}"#);
        let table: ComparisonTable = serde_json::from_str(&table).unwrap();
        assert!(table.gap_reference.is_none() && table.rows[0].gap_closed.is_none());
        assert_eq!(table.rows[0].report.attacks[0].steps, 20);
    }

    #[test]
    fn geometry_reads_nan_written_as_null_and_corruptions_read_their_fidelity() {
        let g = GeometryResult {
            model: "m".into(),
            images: 3,
            separation: ClassSeparation { inter: 0.5, intra: f64::NAN, ratio: f64::NAN, matrix: vec![vec![f64::NAN, 0.5]], counts: vec![1, 2] },
            alignment: 0.25,
            uniformity: -1.5,
            tsne: None,
        };
        let text = serde_json::to_string(&g).unwrap();
        assert!(text.contains(r#""intra":null"#) && text.contains(r#""tsne":null"#), "{text}");
        let back: GeometryResult = serde_json::from_str(&text).unwrap();
        assert!(back.separation.intra.is_nan() && back.separation.matrix[0][0].is_nan());
        assert_eq!((back.separation.inter, back.separation.matrix[0][1], back.separation.counts.clone()), (0.5, 0.5, vec![1, 2]));
        assert_eq!(back.images, 3);
        assert!(serde_json::from_str::<GeometryResult>(r#"{"model": "m", "separation": {"inter": 1}, "alignment": 0, "uniformity": 0}"#).is_err());

        let c = CorruptionResult {
            corruption: "frost".into(),
            fidelity: Some(Fidelity::Approximate),
            accuracy: vec![0.5],
            relative_drop: vec![0.1],
            mean_accuracy: 0.5,
            mean_relative_drop: 0.1,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""fidelity":"approximate""#), "{text}");
        assert_eq!(serde_json::from_str::<CorruptionResult>(&text).unwrap().fidelity, Some(Fidelity::Approximate));
        assert!(serde_json::from_str::<CorruptionResult>(&text.replace("approximate", "rough")).unwrap_err().to_string().contains("unknown fidelity 'rough'"));
        let bare: CorruptionResult = serde_json::from_str(r#"{"corruption": "fog", "mean_relative_drop": 0.2}"#).unwrap();
        assert_eq!((bare.fidelity, bare.accuracy.len()), (None, 0));
    }

    #[test]
    fn corruption_reports_of_the_same_images_combine_in_order_and_others_are_refused() {
        let model = |name: &str, drop: f64| ModelCorruptions { model: name.into(), clean_accuracy: 0.5, mean_relative_drop: drop, corruptions: vec![] };
        let report = |models: Vec<ModelCorruptions>| CorruptionReport { data: "procedural:100".into(), source: "native".into(), images: 100, seed: 0, severities: vec![1, 3], models };
        let all = CorruptionReport::combine(vec![report(vec![model("a", 0.1)]), report(vec![model("b", 0.2), model("c", 0.3)])]).unwrap();
        assert_eq!(all.models.iter().map(|m| (m.model.as_str(), m.mean_relative_drop)).collect::<Vec<_>>(), [("a", 0.1), ("b", 0.2), ("c", 0.3)]);
        assert_eq!((all.images, all.severities.as_slice()), (100, &[1u8, 3][..]));
        let mut other = report(vec![model("d", 0.4)]);
        other.severities = vec![1, 2];
        let err = CorruptionReport::combine(vec![report(vec![model("a", 0.1)]), other]).unwrap_err().to_string();
        assert!(err.contains("of d are of other images") && err.contains("[1, 2]"), "{err}");
        let mut other = report(vec![model("e", 0.4)]);
        other.seed = 1;
        assert!(CorruptionReport::combine(vec![report(vec![]), other]).is_err());
        assert!(CorruptionReport::combine(vec![]).is_err());
    }

    #[test]
    fn top_predictions_are_named_and_sorted() {
        let mut config = ModelConfig::new(crate::models::Arch::SmallCnn, 3);
        config.class_names = vec!["cat".into(), "dog".into()];
        let p = top_predictions(&[0.2, 0.1, 0.7], 2, &config);
        assert_eq!(p, vec![
            Prediction { label: 2, name: "class 2".into(), probability: 0.7 },
            Prediction { label: 0, name: "cat".into(), probability: 0.2 },
        ]);
    }
}
