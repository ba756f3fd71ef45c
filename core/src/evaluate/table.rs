//! Rendering evaluation results: one model's report as Markdown, and several models side by side
//! in the paper's layout (Table 1 / Table 4: accuracy with relative drop, "gap closed" in both
//! readings, only where there is a gap: [`super::stats::GapClosed`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::EvalReport;
use super::stats::{AttackStats, GapClosed, Z95, gap_cell};

/// The name a model file goes by in tables (`hypersphere eval --models PATH`, the study
/// report's columns): its file stem, or the name of its folder when the file is `model.*` (a
/// run folder's `model.bpk`): `runs/x/simclr/model.bpk` -> `simclr`, `weights/rn18.pt` -> `rn18`.
pub fn model_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    match (stem.as_str(), path.parent().and_then(|p| p.file_name())) {
        ("model", Some(dir)) => dir.to_string_lossy().into_owned(),
        _ => stem,
    }
}

impl EvalReport {
    /// The report as a Markdown table: one row per attack, accuracy (%) and relative drop.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "| attack | eps | steps | accuracy (%) | P_drop (%) | seconds |\n|---|---|---|---|---|---|\n| clean | - | - | {:.2} | - | - |\n",
            100.0 * self.clean_accuracy
        );
        for r in &self.attacks {
            out += &format!(
                "| {} | {:.4} ({:.1}/255) | {} | {:.2} | {:.1} | {:.1} |\n",
                r.spec,
                r.eps,
                r.eps * 255.0,
                r.steps,
                100.0 * r.accuracy,
                100.0 * r.p_drop,
                r.seconds
            );
        }
        out
    }
}

/// One model's row of a [`ComparisonTable`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRow {
    /// The model's name (as given on the command line).
    pub model: String,
    /// Its evaluation.
    pub report: EvalReport,
    /// `(acc - acc_low) / (acc_high - acc_low)` per attack (the paper's Table 4 "gap closed",
    /// low = SimCLR, high = SupCon); absent without reference rows, `null` where `acc_high -
    /// acc_low` does not exceed 1.96 standard errors (binomial, [`super::stats`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_closed: Option<Vec<Option<f64>>>,
    /// The same from relative drops, `(drop_low - drop) / (drop_low - drop_high)`, `null` where
    /// that gap is within its uncertainty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_closed_relative: Option<Vec<Option<f64>>>,
}

/// Several models on the same images and seeds, in the paper's layout: rows = models, columns =
/// clean and each attack, cells = accuracy with the relative drop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComparisonTable {
    /// The attack columns, in order.
    #[serde(default)]
    pub attacks: Vec<String>,
    /// The reference rows of the "gap closed" columns (low, high), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_reference: Option<(String, String)>,
    /// One row per model.
    pub rows: Vec<ModelRow>,
}

impl ComparisonTable {
    /// Builds the table; with `reference = Some((low, high))` (model names present in `rows`)
    /// every row gets its gap closed per attack, in both readings, where there is a gap
    /// ([`GapClosed`] at 95%).
    pub fn new(rows: Vec<(String, EvalReport)>, reference: Option<(String, String)>) -> crate::Result<Self> {
        let attacks = rows.first().map(|(_, r)| r.attacks.iter().map(|a| a.spec.clone()).collect()).unwrap_or_default();
        let find = |name: &str| {
            rows.iter()
                .find(|(m, _)| m == name)
                .map(|(_, r)| r.clone())
                .ok_or_else(|| crate::Error::Attack(format!("gap reference '{name}' is not one of the models")))
        };
        let refs = match &reference {
            Some((low, high)) => Some((find(low)?, find(high)?)),
            None => None,
        };
        let rows = rows
            .iter()
            .map(|(model, report)| {
                // matched by spec; `None` where a reference lacks the attack
                let gaps: Option<Vec<Option<GapClosed>>> = refs.as_ref().map(|(low, high)| {
                    report
                        .attacks
                        .iter()
                        .map(|a| {
                            let of = |r: &EvalReport| AttackStats::of(&[r], &a.spec);
                            Some(GapClosed::new(&of(report)?, &of(low)?, &of(high)?, Z95))
                        })
                        .collect()
                });
                ModelRow {
                    model: model.clone(),
                    report: report.clone(),
                    gap_closed: gaps.as_ref().map(|g| g.iter().map(|g| g.and_then(|g| g.raw)).collect()),
                    gap_closed_relative: gaps.as_ref().map(|g| g.iter().map(|g| g.and_then(|g| g.relative)).collect()),
                }
            })
            .collect();
        Ok(Self { attacks, gap_reference: reference, rows })
    }

    /// Markdown: `| model | clean | attack... |` with cells `acc (-drop%)`, plus `gap closed`
    /// columns (`raw / relative`, or `n/a (no gap)`) when reference rows were given.
    pub fn to_markdown(&self) -> String {
        let gap = self.gap_reference.is_some();
        let mut head = vec!["model".to_string(), "clean".to_string()];
        head.extend(self.attacks.iter().cloned());
        if gap {
            head.extend(self.attacks.iter().map(|a| format!("gap closed {a}")));
        }
        let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
        for row in &self.rows {
            let mut cells = vec![row.model.clone(), format!("{:.2}", 100.0 * row.report.clean_accuracy)];
            cells.extend(row.report.attacks.iter().map(|a| format!("{:.2} (-{:.1}%)", 100.0 * a.accuracy, 100.0 * a.p_drop)));
            if let Some(g) = &row.gap_closed {
                let relative = row.gap_closed_relative.clone().unwrap_or_default();
                cells.extend(g.iter().enumerate().map(|(i, raw)| gap_cell(*raw, relative.get(i).copied().flatten())));
            }
            out += &format!("| {} |\n", cells.join(" | "));
        }
        if gap {
            out += "\nGap closed: raw accuracy / relative drop (the paper's printed values match neither exactly); \
                    shown only where the reference gap exceeds 1.96 binomial standard errors, else n/a.\n";
        }
        out
    }

    /// CSV, one line per (model, column): `model,attack,images,accuracy,p_drop,gap_closed,
    /// gap_closed_relative` (fractions; `clean` lines have an empty drop; empty gap closed where
    /// there is no gap).
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
        let mut out = String::from("model,attack,images,accuracy,p_drop,gap_closed,gap_closed_relative\n");
        let value = |g: &Option<Vec<Option<f64>>>, i: usize| g.as_ref().and_then(|g| g.get(i).copied().flatten()).map_or(String::new(), |v| format!("{v:.6}"));
        for row in &self.rows {
            out += &format!("{},clean,{},{:.6},,,\n", quote(&row.model), row.report.images, row.report.clean_accuracy);
            for (i, a) in row.report.attacks.iter().enumerate() {
                let (raw, relative) = (value(&row.gap_closed, i), value(&row.gap_closed_relative, i));
                out += &format!("{},{},{},{:.6},{:.6},{raw},{relative}\n", quote(&row.model), quote(&a.spec), row.report.images, a.accuracy, a.p_drop);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attacks::AttackSpec;
    use crate::evaluate::AttackResult;
    use crate::metrics::relative_drop;
    use burn::tensor::Device;

    fn report(clean: f64, accs: &[f64]) -> EvalReport {
        let spec: AttackSpec = "pgd:linf:8/255".parse().unwrap();
        EvalReport {
            images: 10,
            runtime: Some(crate::runtime::RuntimeInfo::of(&Device::flex())),
            normalization: None,
            clean_accuracy: clean,
            attacks: accs
                .iter()
                .map(|&a| AttackResult {
                    spec: spec.spec.clone(),
                    attack: spec.kind,
                    norm: spec.norm,
                    eps: spec.eps,
                    steps: spec.steps,
                    loss: spec.loss,
                    accuracy: a,
                    p_drop: relative_drop(clean, a),
                    seconds: 0.0,
                    components: vec![],
                    accuracy_after: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn comparison_table_gap_closed_markdown_and_csv() {
        let rows = vec![
            ("simclr".to_string(), report(0.8, &[0.1])),
            ("supcon".to_string(), report(0.9, &[0.5])),
            ("afnc".to_string(), report(0.85, &[0.2])),
        ];
        let t = ComparisonTable::new(rows.clone(), Some(("simclr".into(), "supcon".into()))).unwrap();
        let g: Vec<f64> = t.rows.iter().map(|r| r.gap_closed.as_ref().unwrap()[0].unwrap()).collect();
        assert!((g[0] - 0.0).abs() < 1e-12 && (g[1] - 1.0).abs() < 1e-12 && (g[2] - 0.25).abs() < 1e-12, "{g:?}");
        let md = t.to_markdown();
        // relative: drops 0.875 (SimCLR), 0.4444 (SupCon), 0.7647: (0.875 - 0.7647) / (0.875 - 0.4444)
        let relative = (0.875 - (1.0 - 0.2 / 0.85)) / (0.875 - (1.0 - 0.5 / 0.9));
        assert!((t.rows[2].gap_closed_relative.as_ref().unwrap()[0].unwrap() - relative).abs() < 1e-12);
        assert!(md.contains("| afnc | 85.00 | 20.00 (-76.5%) | 25.0% / 25.6% |"), "{md}");
        let csv = t.to_csv();
        assert!(csv.lines().any(|l| l == format!("afnc,pgd:linf:8/255,10,0.200000,0.764706,0.250000,{relative:.6}")), "{csv}");
        assert_eq!(csv.lines().count(), 1 + 3 * 2);
        assert!(ComparisonTable::new(rows, Some(("x".into(), "supcon".into()))).is_err());
        // SupCon 5 points above SimCLR on 10 images is no gap: no value, "n/a (no gap)"
        // (formerly (0.8 - 0.3) / 0.05 = "1000.0%")
        let rows = vec![("simclr".to_string(), report(0.8, &[0.3])), ("supcon".to_string(), report(0.8, &[0.35])), ("ce".to_string(), report(0.9, &[0.8]))];
        let t = ComparisonTable::new(rows, Some(("simclr".into(), "supcon".into()))).unwrap();
        assert!(t.rows.iter().all(|r| r.gap_closed.as_ref().unwrap()[0].is_none() && r.gap_closed_relative.as_ref().unwrap()[0].is_none()));
        let md = t.to_markdown();
        assert!(md.contains("| ce | 90.00 | 80.00 (-11.1%) | n/a (no gap) |") && !md.contains("00.0%"), "{md}");
        assert!(t.to_csv().lines().any(|l| l == "ce,pgd:linf:8/255,10,0.800000,0.111111,,"), "{}", t.to_csv());
    }

    #[test]
    fn models_are_named_after_their_file_or_run_folder() {
        let name = |p: &str| model_name(Path::new(p));
        assert_eq!(name("runs/study/simclr/model.bpk"), "simclr");
        assert_eq!(name("runs/study/simclr/model.pt"), "simclr");
        assert_eq!(name("weights/rn18.pt"), "rn18");
        assert_eq!(name("model.bpk"), "model");
        assert_eq!(name("rn18"), "rn18");
    }
}
