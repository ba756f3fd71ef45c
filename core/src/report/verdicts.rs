//! `## Verdicts`: for each ordering the paper claims, whether this study reproduces it, with the
//! numbers and their uncertainty ([`crate::evaluate::stats`]):
//!
//! - Table 1: CE and SupCon above SimCLR under every attack;
//! - Table 4: A-FNC 0.99 -> 0.7 closes more than half of the SimCLR -> SupCon gap (under every
//!   attack where there is a gap; raw accuracies: `acc - (acc_simclr + acc_supcon) / 2 > 0`) and
//!   is above fixed FNC under every attack;
//! - Figure 2: the separation ratio of SupCon (the paper's "supervised", 1.98x) and of CE above
//!   SimCLR's (1.19x);
//! - Figure 3: SimCLR's mean relative corruption drop above CE's and SupCon's;
//! - where the study has them: Table 4, A-FNC 0.99 -> 0.7 above IFND under every attack; Table 5
//!   (its own attacks), RoCL and ACL above SimCLR and A-RoCL and A-ACL above RoCL and ACL under
//!   every attack.
//!
//! Each claim is a set of differences `X - Y` with standard errors, one per column (attack). A
//! column holds when the difference exceeds 1.96 standard errors, fails when it is below -1.96
//! of them, and is undecided in between. The claim is **reproduced** when every column holds,
//! **contradicted** when some column fails, and **inconclusive** otherwise.
//!
//! Uncertainties: accuracies as in [`crate::evaluate::stats`] (binomial for the test images
//! plus the spread over seeds); separation ratios from their spread over seeds only (one seed:
//! no error bar, the plain sign decides and the verdict says so); corruption drops from the
//! paired per-corruption differences (their standard error over the corruptions, each
//! corruption's drop averaged over seeds).
//!
//! The runs are found by the names `hypersphere reproduce` gives them (the presets of
//! `train::PRESETS`): `ce`, `supcon`, `simclr`, `simclr-fnc`, `simclr-afnc-0.99-0.7` (and
//! `simclr-ifnd`, `rocl`, `a-rocl`, `acl`, `a-acl`); a claim of the six-setting study whose
//! runs or results are missing is "not measured", the optional claims are left out.

use std::cmp::Ordering;

use super::{Page, Seeds, summary_of};
use crate::evaluate::stats::{AttackStats, Difference, GapClosed, Z95};

const CE: &str = "ce";
const SUPCON: &str = "supcon";
const SIMCLR: &str = "simclr";
const FNC: &str = "simclr-fnc";
const AFNC: &str = "simclr-afnc-0.99-0.7";
const IFND: &str = "simclr-ifnd";

/// One column of a claim: its name and the difference that should be positive.
struct Column {
    name: String,
    difference: Difference,
}

/// What a claim's columns say: the `measured` cell and the verdict.
fn judge(columns: &[Column], scale: f64, unit: &str) -> (String, String) {
    if columns.is_empty() {
        return ("not measured".into(), "not measured".into());
    }
    let signs: Vec<Ordering> = columns.iter().map(|c| c.difference.sign(Z95)).collect();
    let count = |o: Ordering| signs.iter().filter(|s| **s == o).count();
    let (above, within, below) = (count(Ordering::Greater), count(Ordering::Equal), count(Ordering::Less));
    // the weakest column: the smallest difference in standard errors (the plain value without one)
    let z = |d: &Difference| if d.standard_error > 0.0 { d.value / d.standard_error } else { d.value.signum() * f64::INFINITY };
    let weakest = columns.iter().min_by(|a, b| z(&a.difference).total_cmp(&z(&b.difference)).then(a.difference.value.total_cmp(&b.difference.value))).unwrap();
    let no_error_bar = columns.iter().all(|c| c.difference.standard_error == 0.0);
    let d = weakest.difference;
    let numbers = if no_error_bar {
        format!("{:+.3}{unit} (no error bar)", scale * d.value)
    } else {
        format!("{:+.2} ± {:.2}{unit} (1 SE)", scale * d.value, scale * d.standard_error)
    };
    let measured = if columns.len() == 1 {
        format!("{}: {numbers}", weakest.name)
    } else {
        format!("holds at {above}/{n}, undecided at {within}/{n}, fails at {below}/{n}; weakest {}: {numbers}", weakest.name, n = columns.len())
    };
    let verdict = match (below, within) {
        (0, 0) => "reproduced",
        (0, _) => "inconclusive",
        _ => "contradicted",
    };
    let verdict = if no_error_bar { format!("{verdict} (no error bar with one seed)") } else { verdict.to_string() };
    (measured, verdict)
}

/// The attacks of SimCLR's evaluation, in order (the columns of the Table 1 and 4 claims).
fn attack_specs(seeds: Seeds) -> Vec<String> {
    seeds.evals(SIMCLR).first().map(|e| e.attacks.iter().map(|a| a.spec.clone()).collect()).unwrap_or_default()
}

/// Per attack, `model - other` in accuracy.
fn above(seeds: Seeds, model: &str, other: &str) -> Vec<Column> {
    let (m, o) = (seeds.evals(model), seeds.evals(other));
    attack_specs(seeds)
        .into_iter()
        .filter_map(|spec| {
            let (a, b) = (AttackStats::of(&m, &spec)?, AttackStats::of(&o, &spec)?);
            Some(Column { difference: Difference::between(&a.accuracy, &b.accuracy), name: spec })
        })
        .collect()
}

/// Per attack of the Table 5 evaluation, `model - other` in accuracy.
fn table5_above(seeds: Seeds, model: &str, other: &str) -> Vec<Column> {
    let Some(table) = &seeds.first().table5 else { return vec![] };
    let (m, o) = (seeds.table5(model), seeds.table5(other));
    table
        .attacks
        .iter()
        .filter_map(|spec| {
            let (a, b) = (AttackStats::of(&m, spec)?, AttackStats::of(&o, spec)?);
            Some(Column { difference: Difference::between(&a.accuracy, &b.accuracy), name: spec.clone() })
        })
        .collect()
}

/// Per attack with a SimCLR -> SupCon gap: A-FNC's accuracy minus the gap's midpoint.
fn closes_half(seeds: Seeds) -> (Vec<Column>, usize) {
    let (a, low, high) = (seeds.evals(AFNC), seeds.evals(SIMCLR), seeds.evals(SUPCON));
    let specs = attack_specs(seeds);
    let columns: Vec<Column> = specs
        .iter()
        .filter_map(|spec| {
            let (a, l, h) = (AttackStats::of(&a, spec)?, AttackStats::of(&low, spec)?, AttackStats::of(&high, spec)?);
            GapClosed::new(&a, &l, &h, Z95).raw?;
            let (sa, sl, sh) = (a.accuracy.standard_error(), l.accuracy.standard_error(), h.accuracy.standard_error());
            Some(Column {
                name: spec.clone(),
                difference: Difference {
                    value: a.accuracy.mean() - (l.accuracy.mean() + h.accuracy.mean()) / 2.0,
                    standard_error: (sa * sa + (sl * sl + sh * sh) / 4.0).sqrt(),
                },
            })
        })
        .collect();
    (columns, specs.len())
}

/// `model`'s separation ratio minus `other`'s, over seeds.
fn ratio_above(seeds: Seeds, model: &str, other: &str) -> Vec<Column> {
    let ratio = |name: &str| summary_of(&seeds.geometry(name), |g| Some(g.separation.ratio));
    match (ratio(model), ratio(other)) {
        (Some(a), Some(b)) => vec![Column { name: "separation ratio".into(), difference: Difference::of_means(&a, &b) }],
        _ => vec![],
    }
}

/// SimCLR's mean relative corruption drop minus `other`'s: paired over the corruptions.
fn drop_above(seeds: Seeds, other: &str) -> Vec<Column> {
    let (s, o) = (seeds.corruptions(SIMCLR), seeds.corruptions(other));
    let Some(first) = s.first() else { return vec![] };
    let mean_drop = |models: &[&crate::results::ModelCorruptions], name: &str| {
        summary_of(models, |m| m.corruptions.iter().find(|c| c.corruption == name).map(|c| c.mean_relative_drop)).map(|s| s.mean)
    };
    let differences: Vec<f64> =
        first.corruptions.iter().filter_map(|c| Some(mean_drop(&s[..], &c.corruption)? - mean_drop(&o[..], &c.corruption)?)).collect();
    match Difference::paired(&differences) {
        Some(difference) => vec![Column { name: format!("mean over {} corruptions", differences.len()), difference }],
        None => vec![],
    }
}

/// `## Verdicts (the paper's claims)`: one row per claim (see the module docs).
pub(super) fn verdicts(page: &mut Page, seeds: Seeds) {
    let (half, attacks) = closes_half(seeds);
    let half_row = if half.is_empty() && !attack_specs(seeds).is_empty() && !seeds.evals(AFNC).is_empty() && !seeds.evals(SUPCON).is_empty() {
        (format!("no attack (of {attacks}) has a SimCLR -> SupCon gap beyond its uncertainty"), "not testable (no gap)".to_string())
    } else {
        judge(&half, 100.0, " pts")
    };
    let mut claims: Vec<(&str, (String, String))> = vec![
        ("Table 1: CE above SimCLR under every attack", judge(&above(seeds, CE, SIMCLR), 100.0, " pts")),
        ("Table 1: SupCon above SimCLR under every attack", judge(&above(seeds, SUPCON, SIMCLR), 100.0, " pts")),
        ("Table 4: A-FNC 0.99 -> 0.7 closes > 50% of the SimCLR -> SupCon gap (acc - midpoint, attacks with a gap)", half_row),
        ("Table 4: A-FNC 0.99 -> 0.7 above fixed FNC under every attack", judge(&above(seeds, AFNC, FNC), 100.0, " pts")),
        ("Figure 2: separation ratio SupCon above SimCLR", judge(&ratio_above(seeds, SUPCON, SIMCLR), 1.0, "")),
        ("Figure 2: separation ratio CE above SimCLR", judge(&ratio_above(seeds, CE, SIMCLR), 1.0, "")),
        ("Figure 3: SimCLR's mean corruption drop above CE's", judge(&drop_above(seeds, CE), 100.0, " pts")),
        ("Figure 3: SimCLR's mean corruption drop above SupCon's", judge(&drop_above(seeds, SUPCON), 100.0, " pts")),
    ];
    if !seeds.evals(IFND).is_empty() {
        claims.insert(4, ("Table 4: A-FNC 0.99 -> 0.7 above IFND under every attack", judge(&above(seeds, AFNC, IFND), 100.0, " pts")));
    }
    if seeds.first().table5.is_some() {
        for (claim, model, other) in [
            ("Table 5: RoCL above SimCLR under every Table 5 attack", "rocl", SIMCLR),
            ("Table 5: ACL above SimCLR under every Table 5 attack", "acl", SIMCLR),
            ("Table 5: A-RoCL above RoCL under every Table 5 attack", "a-rocl", "rocl"),
            ("Table 5: A-ACL above ACL under every Table 5 attack", "a-acl", "acl"),
        ] {
            claims.push((claim, judge(&table5_above(seeds, model, other), 100.0, " pts")));
        }
    }
    page.heading("Verdicts (the paper's claims)");
    let rows: Vec<Vec<String>> = claims.into_iter().map(|(claim, (measured, verdict))| vec![claim.to_string(), measured, verdict]).collect();
    page.table(&["claim".to_string(), "measured (difference that should be positive)".to_string(), "verdict".to_string()], &rows);
    page.note(&format!(
        "A column (attack) holds when the difference exceeds 1.96 standard errors, fails below -1.96, is undecided in between; a claim is reproduced when every column holds, contradicted when one fails, inconclusive otherwise. Standard errors: accuracies sqrt(p(1-p)/n + std²/seeds) per model ({} seed{}), added in quadrature; separation ratios from the spread over seeds; corruption drops from the paired differences over corruptions.",
        seeds.count(),
        if seeds.count() == 1 { "" } else { "s" }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(value: f64, standard_error: f64) -> Column {
        Column { name: format!("c{value}"), difference: Difference { value, standard_error } }
    }

    #[test]
    fn verdicts_follow_the_columns() {
        let (m, v) = judge(&[col(0.10, 0.02), col(0.05, 0.02)], 100.0, " pts");
        assert_eq!(v, "reproduced");
        assert_eq!(m, "holds at 2/2, undecided at 0/2, fails at 0/2; weakest c0.05: +5.00 ± 2.00 pts (1 SE)");
        assert_eq!(judge(&[col(0.10, 0.02), col(0.03, 0.02)], 100.0, " pts").1, "inconclusive");
        assert_eq!(judge(&[col(0.10, 0.02), col(-0.05, 0.02)], 100.0, " pts").1, "contradicted");
        let (m, v) = judge(&[col(0.2, 0.0)], 1.0, "");
        assert_eq!((m.as_str(), v.as_str()), ("c0.2: +0.200 (no error bar)", "reproduced (no error bar with one seed)"));
        assert_eq!(judge(&[], 1.0, "").1, "not measured");
    }
}
