//! The paper's ImageNet experiment (Section 4.2): Table 2 (public checkpoints under FGSM, PGD-40
//! and AutoAttack at small budgets, accuracy with the relative drop) and Figure 3 (relative
//! accuracy drop under the 15 ImageNet-C corruptions at severity 1).
//!
//! The attack cells come from `hypersphere eval` reports ([`EvalReport`]) of each checkpoint on
//! the same validation images; the corruption cells from clean evaluations of each checkpoint on
//! `imagenet-c/<corruption>/<severity>/`. Relative drops are `(clean - acc) / clean`, the
//! paper's "↓ %" (Table 2) and Figure 3's y axis, each against the model's own clean accuracy on
//! the validation images.

use serde::{Deserialize, Serialize};

use super::{ComparisonTable, EvalReport};
use crate::corruptions::Corruption;
use crate::metrics::relative_drop;

/// Table 2's attacks and budgets as `--attack` specifications (pixel range [0, 1]; the paper
/// writes them on [0, 255]): FGSM at 0.25/255 and 1/255, PGD-40 l_inf at 0.25/255 and 1/255,
/// PGD-40 l2 at 0.5, standard AutoAttack l_inf at 0.25/255.
pub const TABLE2_ATTACKS: [&str; 4] = ["fgsm:linf:0.25/255,1/255", "pgd:linf:0.25/255,1/255:40", "pgd:l2:0.5:40", "autoattack:linf:0.25/255:standard"];

/// Figure 3 uses the lowest ImageNet-C severity ("the most relevant to our analysis").
pub const FIGURE3_SEVERITY: u8 = 1;

/// One model's accuracy on one corrupted copy of the validation images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionCell {
    /// ImageNet-C's folder name of the corruption (`gaussian_noise`, ...).
    pub corruption: String,
    /// Images evaluated.
    pub images: usize,
    /// Top-1 accuracy, in [0, 1].
    pub accuracy: f64,
    /// `(clean - accuracy) / clean`, clean = the model's accuracy on the validation images.
    pub relative_drop: f64,
}

/// One model's row of Figure 3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionRow {
    /// The model's name.
    pub model: String,
    /// Clean accuracy the drops are relative to.
    pub clean_accuracy: f64,
    /// One cell per corruption evaluated, in ImageNet-C's order.
    pub cells: Vec<CorruptionCell>,
    /// Mean relative drop over the cells.
    pub mean_relative_drop: f64,
}

impl CorruptionRow {
    /// The row of `model` from its clean accuracy and its `(corruption, report)` evaluations
    /// (reports without attacks: only their clean accuracy is read).
    pub fn new(model: &str, clean_accuracy: f64, evaluations: &[(Corruption, EvalReport)]) -> Self {
        let cells: Vec<CorruptionCell> = evaluations
            .iter()
            .map(|(c, r)| CorruptionCell {
                corruption: c.name().to_string(),
                images: r.images,
                accuracy: r.clean_accuracy,
                relative_drop: relative_drop(clean_accuracy, r.clean_accuracy),
            })
            .collect();
        let mean_relative_drop = if cells.is_empty() { 0.0 } else { cells.iter().map(|c| c.relative_drop).sum::<f64>() / cells.len() as f64 };
        Self { model: model.to_string(), clean_accuracy, cells, mean_relative_drop }
    }
}

/// Table 2 and Figure 3 for a set of checkpoints (what `reproduce --table 2` writes as
/// `table2.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageNetTable {
    /// Validation images every model was evaluated on.
    pub images: usize,
    /// Rows = models, columns = Table 2's attacks.
    pub attacks: ComparisonTable,
    /// ImageNet-C severity of `corruptions` (Figure 3: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// Figure 3's rows (empty without ImageNet-C).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<CorruptionRow>,
}

impl ImageNetTable {
    /// Markdown: Table 2 (cells `acc (-drop%)`), then, with corruptions, Figure 3's relative
    /// drops (%) per corruption and their mean.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("## Table 2: top-1 accuracy (%) under attack, relative drop in brackets ({} validation images)\n\n", self.images);
        out += &self.attacks.to_markdown();
        if let (Some(severity), Some(first)) = (self.severity, self.corruptions.first()) {
            out += &format!("\n## Figure 3: relative accuracy drop (%) under ImageNet-C, severity {severity}\n\n");
            let names: Vec<&str> = first.cells.iter().map(|c| c.corruption.as_str()).collect();
            out += &format!("| model | clean | {} | mean |\n|{}\n", names.join(" | "), "---|".repeat(names.len() + 3));
            for row in &self.corruptions {
                let cells: Vec<String> = row.cells.iter().map(|c| format!("{:.1}", 100.0 * c.relative_drop)).collect();
                out += &format!("| {} | {:.2} | {} | {:.1} |\n", row.model, 100.0 * row.clean_accuracy, cells.join(" | "), 100.0 * row.mean_relative_drop);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attacks::{AttackKind, AttackSpec, Norm};

    #[test]
    fn table2_attacks_are_the_papers_budgets() {
        let specs: Vec<AttackSpec> = TABLE2_ATTACKS.iter().flat_map(|t| AttackSpec::parse_list(t).unwrap()).collect();
        // (kind, norm, eps on the paper's [0, 255] scale for l_inf and as written for l2, steps)
        let got: Vec<(AttackKind, Norm, f32, usize)> = specs
            .iter()
            .map(|s| (s.kind, s.norm, if s.norm == Norm::Linf { (s.eps * 255.0 * 100.0).round() / 100.0 } else { s.eps }, s.steps))
            .collect();
        let want = [
            (AttackKind::Fgsm, Norm::Linf, 0.25, 1),
            (AttackKind::Fgsm, Norm::Linf, 1.0, 1),
            (AttackKind::Pgd, Norm::Linf, 0.25, 40),
            (AttackKind::Pgd, Norm::Linf, 1.0, 40),
            (AttackKind::Pgd, Norm::L2, 0.5, 40),
            (AttackKind::AutoAttack, Norm::Linf, 0.25, 100),
        ];
        assert_eq!(got, want);
        assert_eq!(specs[5].components, vec![AttackKind::ApgdCe, AttackKind::ApgdT, AttackKind::FabT, AttackKind::Square], "standard AutoAttack");
    }

    fn clean(acc: f64, images: usize) -> EvalReport {
        EvalReport { images, runtime: None, normalization: None, clean_accuracy: acc, attacks: vec![] }
    }

    #[test]
    fn corruption_rows_are_relative_to_the_models_own_clean_accuracy() {
        let row = CorruptionRow::new("simclr", 0.8, &[(Corruption::GaussianNoise, clean(0.4, 10)), (Corruption::Fog, clean(0.6, 10))]);
        assert_eq!(row.cells[0].corruption, "gaussian_noise");
        assert!((row.cells[0].relative_drop - 0.5).abs() < 1e-12);
        assert!((row.cells[1].relative_drop - 0.25).abs() < 1e-12);
        assert!((row.mean_relative_drop - 0.375).abs() < 1e-12);
        let table = ImageNetTable {
            images: 10,
            attacks: ComparisonTable::new(vec![("simclr".into(), clean(0.8, 10))], None).unwrap(),
            severity: Some(1),
            corruptions: vec![row],
        };
        let md = table.to_markdown();
        assert!(md.contains("| model | clean | gaussian_noise | fog | mean |"), "{md}");
        assert!(md.contains("| simclr | 80.00 | 50.0 | 25.0 | 37.5 |"), "{md}");
    }
}
