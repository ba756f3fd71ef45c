//! The report's sections, one function each, in the order [`super::render`] calls them. Each
//! adds its heading, table and figures to the [`Page`], or nothing when the study has no data
//! for it.

use std::path::Path;

use serde_json::Value;

use super::plots::{Series, line_chart, scatter_chart};
use super::{Page, RunRecord, Seeds, accuracy_cell, final_accuracy, number_summary, percent_summary, summary_of};
use crate::evaluate::model_name;
use crate::evaluate::stats::{AttackStats, GapClosed, Proportion, RelativeGain, Z95, clean_stats, median, relative_gain};
use crate::results::ModelCorruptions;

fn method_of(run: &RunRecord) -> String {
    let plan = &run.config["plan"];
    let method = plan["method"].as_str().unwrap_or("ce").to_string();
    let fnc = &plan["contrastive"]["fnc"];
    // thresholds are stored as f32: print them as written (0.99, not 0.9900000095367432)
    let rho = |v: &Value| format!("{}", v.as_f64().map(|x| (x * 1e4).round() / 1e4).unwrap_or(f64::NAN));
    let fnc = match fnc["kind"].as_str() {
        Some("fixed") => format!(" + FNC rho {}", rho(&fnc["rho"])),
        Some("adaptive") => format!(" + A-FNC rho {} -> {}", rho(&fnc["initial"]), rho(&fnc["last"])),
        Some("oracle") => " + oracle FNC".to_string(),
        Some("ifnd") => format!(" + IFND k {}", fnc["clusters"].as_array().map(|k| k.iter().map(Value::to_string).collect::<Vec<_>>().join(",")).unwrap_or_default()),
        _ => String::new(),
    };
    if method == "ce" { "cross-entropy".into() } else { format!("{method}{fnc}") }
}

/// One metric of every epoch of `run` (`metrics.jsonl` key), times `scale`.
fn series_of(run: &RunRecord, key: &str, scale: f64) -> Series {
    Series {
        name: run.name.clone(),
        points: run.metrics.iter().filter_map(|m| Some((m["epoch"].as_f64()?, m[key].as_f64()? * scale))).collect(),
    }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

/// `## Models`: one row per run (method, epochs, last loss, kNN monitor, test accuracy, wall
/// time), numbers over seeds.
pub(super) fn models(page: &mut Page, seeds: Seeds) {
    page.heading("Models");
    let rows: Vec<Vec<String>> = seeds
        .first()
        .runs
        .iter()
        .map(|r| {
            let all = seeds.runs(&r.name);
            let last = |key: &str| summary_of(&all, |run| run.metrics.last()?[key].as_f64());
            let minutes = summary_of(&all, |run| run.seconds);
            vec![
                r.name.clone(),
                method_of(r),
                format!("{}", r.metrics.len()),
                number_summary(last("train_loss"), 4, ""),
                percent_summary(last("knn_accuracy")),
                percent_summary(summary_of(&all, |run| final_accuracy(run))),
                minutes.map(|s| format!("{:.1} min", s.mean / 60.0)).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    page.table(&strings(&["run", "method", "epochs", "final loss", "kNN accuracy", "test accuracy", "wall time"]), &rows);
    page.note("Test accuracy: of the model itself for cross-entropy, after linear evaluation for contrastive runs.");
}

/// `## Training`: loss and accuracy (kNN monitor for contrastive runs) per epoch.
pub(super) fn training(page: &mut Page, runs: &[RunRecord]) -> crate::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    page.heading("Training");
    let losses: Vec<Series> = runs.iter().map(|r| series_of(r, "train_loss", 1.0)).collect();
    page.figure("loss.svg", "Training loss per epoch".into(), line_chart("Training loss", "epoch", "loss", &losses, false)?);
    let accuracy: Vec<Series> = runs
        .iter()
        .map(|r| {
            let key = if r.metrics.first().is_some_and(|m| m["knn_accuracy"].is_number()) { "knn_accuracy" } else { "test_accuracy" };
            series_of(r, key, 100.0)
        })
        .collect();
    page.figure(
        "accuracy.svg",
        "Test accuracy per epoch (kNN monitor for contrastive runs)".into(),
        line_chart("Accuracy during training", "epoch", "accuracy (%)", &accuracy, true)?,
    );
    Ok(())
}

/// `## False-negative cancellation`: the threshold, the removal rate and its precision of the
/// runs that cancel.
pub(super) fn cancellation(page: &mut Page, runs: &[RunRecord]) -> crate::Result<()> {
    let fnc_runs: Vec<&RunRecord> = runs.iter().filter(|r| r.metrics.iter().any(|m| m["cancelled_fraction"].is_number())).collect();
    if fnc_runs.is_empty() {
        return Ok(());
    }
    page.heading("False-negative cancellation");
    let mut series = Vec::new();
    for r in &fnc_runs {
        let mut rho = series_of(r, "rho", 1.0);
        rho.name = format!("rho {}", r.name);
        let mut removed = series_of(r, "cancelled_fraction", 1.0);
        removed.name = format!("removed {}", r.name);
        let mut precision = series_of(r, "cancel_precision", 1.0);
        precision.name = format!("precision {}", r.name);
        series.extend([rho, removed, precision].into_iter().filter(|s| !s.points.is_empty()));
    }
    page.figure(
        "fnc.svg",
        "Threshold rho, fraction of negatives removed, and the fraction of removed pairs that share a class".into(),
        line_chart("False-negative cancellation", "epoch", "value", &series, true)?,
    );
    Ok(())
}

/// An attack's family for the accuracy-vs-epsilon charts, from its typed fields: `pgd:linf`.
fn attack_family(a: &crate::evaluate::AttackResult) -> String {
    format!("{}:{}", a.attack.name(), crate::attacks::spec::norm_name(a.norm))
}

/// `## Robustness (Table 1 layout)`: accuracy (mean ± std over seeds, 95% Wilson interval for
/// the test images) and relative drop per attack of every evaluated run (columns: the first
/// evaluated run's attacks), the seeds in which CE and SupCon are above SimCLR, and one
/// accuracy-vs-epsilon chart per attack family (means over seeds).
pub(super) fn robustness(page: &mut Page, seeds: Seeds) -> crate::Result<()> {
    let evaluated: Vec<&str> = seeds.first().runs.iter().filter(|r| !seeds.evals(&r.name).is_empty()).map(|r| r.name.as_str()).collect();
    let Some(first) = evaluated.first().map(|n| seeds.evals(n)[0]) else { return Ok(()) };
    page.heading("Robustness (Table 1 layout)");
    let specs: Vec<&str> = first.attacks.iter().map(|a| a.spec.as_str()).collect();
    let mut header = strings(&["model", "clean"]);
    header.extend(specs.iter().map(|s| s.to_string()));
    let mut rows: Vec<Vec<String>> = evaluated
        .iter()
        .map(|name| {
            let evals = seeds.evals(name);
            let mut row = vec![name.to_string(), clean_stats(&evals).map_or("-".into(), |c| accuracy_cell(&c))];
            for spec in &specs {
                row.push(match AttackStats::of(&evals, spec) {
                    Some(a) => format!("{} (↓{:.0}%)", accuracy_cell(&a.accuracy), 100.0 * a.drop.mean()),
                    None => "-".into(),
                });
            }
            row
        })
        .collect();
    // The paper's Table 1 ordering, seed by seed: in how many seeds is the model above SimCLR?
    for model in ["ce", "supcon"] {
        if !evaluated.contains(&model) || !evaluated.contains(&"simclr") {
            continue;
        }
        let pairs: Vec<(&crate::evaluate::EvalReport, &crate::evaluate::EvalReport)> =
            seeds.0.iter().filter_map(|s| Some((find_eval(s, model)?, find_eval(s, "simclr")?))).collect();
        let count = |value: &dyn Fn(&crate::evaluate::EvalReport) -> Option<f64>| {
            let above = pairs.iter().filter(|&&(m, s)| matches!((value(m), value(s)), (Some(a), Some(b)) if a > b)).count();
            format!("{above}/{} seeds", pairs.len())
        };
        let mut row = vec![format!("{model} > simclr"), count(&|e| Some(e.clean_accuracy))];
        for spec in &specs {
            row.push(count(&|e| e.attacks.iter().find(|a| a.spec == *spec).map(|a| a.accuracy)));
        }
        rows.push(row);
    }
    page.table(&header, &rows);
    page.note(&format!(
        "Cells: top-1 accuracy under attack{}, [its 95% Wilson interval for {} test images, in %], and the relative drop (clean - adversarial) / clean. Rows `X > simclr`: the seeds in which X is above SimCLR (the paper's Table 1 ordering).",
        if seeds.count() > 1 { format!(" (mean ± std over {} seeds)", seeds.count()) } else { String::new() },
        first.images
    ));
    let mut families: Vec<String> = Vec::new();
    for attack in &first.attacks {
        let family = attack_family(attack);
        if !families.contains(&family) {
            families.push(family);
        }
    }
    for family in families {
        let series: Vec<Series> = evaluated
            .iter()
            .map(|name| {
                let evals = seeds.evals(name);
                let mut points: Vec<(f64, f64)> = clean_stats(&evals).map(|c| vec![(0.0, 100.0 * c.mean())]).unwrap_or_default();
                for a in evals[0].attacks.iter().filter(|a| attack_family(a) == family) {
                    if let Some(s) = AttackStats::of(&evals, &a.spec) {
                        points.push((255.0 * f64::from(a.eps), 100.0 * s.accuracy.mean()));
                    }
                }
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { name: name.to_string(), points }
            })
            .collect();
        page.figure(
            &format!("robustness-{}.svg", family.replace(':', "-")),
            format!("Accuracy against epsilon ({family})"),
            line_chart(&format!("Accuracy under {family}"), "epsilon (x 1/255)", "accuracy (%)", &series, true)?,
        );
    }
    Ok(())
}

fn find_eval<'a>(seed: &'a super::StudyRecord, name: &str) -> Option<&'a crate::evaluate::EvalReport> {
    seed.runs.iter().find(|r| r.name == name)?.eval.as_ref()
}

/// `## Gap closed (Table 4 layout)`: per run and attack, the share of the SimCLR -> SupCon gap
/// the run closes, raw accuracy / relative drop, only where that gap exceeds 1.96 standard
/// errors ([`GapClosed`]); needs evaluated runs named `simclr` and `supcon`.
pub(super) fn gap_closed(page: &mut Page, seeds: Seeds) {
    let (low, high) = (seeds.evals("simclr"), seeds.evals("supcon"));
    if low.is_empty() || high.is_empty() {
        return;
    }
    page.heading("Gap closed (Table 4 layout)");
    let specs: Vec<&str> = low[0].attacks.iter().map(|a| a.spec.as_str()).collect();
    let mut header = strings(&["model"]);
    header.extend(specs.iter().map(|s| s.to_string()));
    let rows: Vec<Vec<String>> = seeds
        .first()
        .runs
        .iter()
        .filter(|r| !seeds.evals(&r.name).is_empty())
        .map(|r| {
            let evals = seeds.evals(&r.name);
            let mut row = vec![r.name.clone()];
            row.extend(specs.iter().map(|spec| match (AttackStats::of(&evals, spec), AttackStats::of(&low, spec), AttackStats::of(&high, spec)) {
                (Some(m), Some(l), Some(h)) => GapClosed::new(&m, &l, &h, Z95).cell(),
                _ => "-".into(),
            }));
            row
        })
        .collect();
    page.table(&header, &rows);
    page.note(
        "Cells: raw / relative gap closed, raw = (acc - acc_simclr) / (acc_supcon - acc_simclr), relative = (drop_simclr - drop) / (drop_simclr - drop_supcon) with drop = (clean - acc) / clean; the paper's Table 4 values match neither exactly, so both are shown. A reading is given only where its gap (SupCon above SimCLR) exceeds 1.96 standard errors, sqrt(p(1-p)/n + std²/seeds) of each reference added in quadrature (n: test images for accuracies, clean-correct images for drops); otherwise n/a (no gap).",
    );
}

/// The rows of the paper's Table 5 as `reproduce --tables 5` names its runs, in the paper's
/// order: SimCLR (no adversarial training, for reference), then each base method followed by
/// its "Augmented" version (A-FNC 0.99 -> 0.7 added) and the base it is compared with.
pub(super) const TABLE5_ROWS: [(&str, &str, Option<&str>); 5] = [
    ("simclr", "SimCLR (not adversarially trained)", None),
    ("rocl", "RoCL", None),
    ("a-rocl", "A-RoCL (RoCL + A-FNC 0.99 -> 0.7)", Some("rocl")),
    ("acl", "ACL", None),
    ("a-acl", "A-ACL (ACL + A-FNC 0.99 -> 0.7)", Some("acl")),
];

/// The paper's median gains across attacks (Table 5 caption): A-RoCL over RoCL, A-ACL over ACL.
const PAPER_MEDIAN_GAIN: [(&str, f64); 2] = [("a-rocl", 5.5), ("a-acl", 4.4)];

/// `## Adversarial contrastive learning (Table 5 layout)`: accuracy clean and under each of the
/// Table 5 attacks (mean ± std over seeds, 95% Wilson interval) of SimCLR, RoCL, A-RoCL, ACL and
/// A-ACL (the rows of [`TABLE5_ROWS`] the study has, then any other), and for A-RoCL and A-ACL
/// the relative gain over their base per column, claimed only beyond 1.96 standard errors
/// ([`RelativeGain`]); below the table each augmented method's median gain across attacks.
pub(super) fn table5(page: &mut Page, seeds: Seeds) {
    let Some(first) = &seeds.first().table5 else { return };
    if first.rows.is_empty() {
        return;
    }
    page.heading("Adversarial contrastive learning (Table 5 layout)");
    let mut names: Vec<&str> = TABLE5_ROWS.iter().map(|(n, _, _)| *n).filter(|n| first.rows.iter().any(|r| r.model == *n)).collect();
    names.extend(first.rows.iter().map(|r| r.model.as_str()).filter(|m| !TABLE5_ROWS.iter().any(|(n, _, _)| n == m)));
    let mut header = strings(&["model", "method", "clean"]);
    header.extend(first.attacks.iter().cloned());
    // One column's accuracy of `name` over seeds: clean (`None`) or an attack.
    let accuracy = |name: &str, spec: Option<&str>| -> Option<Proportion> {
        let evals = seeds.table5(name);
        match spec {
            None => clean_stats(&evals),
            Some(spec) => AttackStats::of(&evals, spec).map(|a| a.accuracy),
        }
    };
    let columns: Vec<Option<&str>> = std::iter::once(None).chain(first.attacks.iter().map(|a| Some(a.as_str()))).collect();
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|&name| {
            let (method, base) = TABLE5_ROWS.iter().find(|(n, _, _)| *n == name).map_or(("-", None), |(_, m, b)| (*m, *b));
            let mut row = vec![name.to_string(), method.to_string()];
            for &spec in &columns {
                row.push(match (accuracy(name, spec), base.and_then(|b| accuracy(b, spec))) {
                    (Some(a), Some(b)) => format!("{} {}", accuracy_cell(&a), RelativeGain::new(&a, &b, Z95).cell()),
                    (Some(a), None) => accuracy_cell(&a),
                    (None, _) => "-".into(),
                });
            }
            row
        })
        .collect();
    page.table(&header, &rows);
    let mut notes = vec![format!(
        "Cells: top-1 accuracy{} [its 95% Wilson interval for {} test images, in %]; for A-RoCL and A-ACL the relative gain over RoCL and ACL, (acc - acc_base) / acc_base as the paper's arrows (43.6 -> 45.9 is ↑5.3%), claimed (↑, or ↓ for a loss) only where acc - acc_base exceeds 1.96 standard errors, sqrt(p(1-p)/n + std²/seeds) of each added in quadrature; otherwise the change is shown as within noise.",
        if seeds.count() > 1 { format!(" (mean ± std over {} seeds)", seeds.count()) } else { String::new() },
        first.rows[0].report.images
    )];
    // The paper's first rows are "without adversarial training"; the rest follow RoCL's
    // evaluation protocol (paper, Sec. "Adversarial CSL", Experiments).
    let head = seeds.first().table5_head.map_or_else(|| crate::train::LinearEvalMode::Standard.describe(), |h| h.describe());
    notes.push(format!(
        "Classifiers: SimCLR's by its run's standard linear evaluation (the paper's rows without adversarial training); RoCL's, A-RoCL's, ACL's and A-ACL's by {head}."
    ));
    for (augmented, paper) in PAPER_MEDIAN_GAIN {
        let Some(base) = TABLE5_ROWS.iter().find(|(n, _, _)| *n == augmented).and_then(|(_, _, b)| *b) else { continue };
        let pairs: Vec<(Proportion, Proportion)> =
            first.attacks.iter().filter_map(|spec| Some((accuracy(augmented, Some(spec.as_str()))?, accuracy(base, Some(spec.as_str()))?))).collect();
        if pairs.is_empty() {
            continue;
        }
        let gains: Vec<RelativeGain> = pairs.iter().map(|(a, b)| RelativeGain::new(a, b, Z95)).collect();
        let count = |o: std::cmp::Ordering| gains.iter().filter(|g| g.sign == o).count();
        let defined: Vec<f64> = pairs.iter().filter_map(|(a, b)| relative_gain(a.mean(), b.mean())).collect();
        let shown = match median(&defined) {
            None => "n/a (base 0% under every attack)".to_string(),
            Some(m) if defined.len() == pairs.len() => format!("{:+.1}%", 100.0 * m),
            Some(m) => format!("{:+.1}% (over the {} attacks where the base is above 0%)", 100.0 * m, defined.len()),
        };
        notes.push(format!(
            "{augmented} over {base}: median relative gain across the {n} attacks {shown} (paper: {paper}%); a gain beyond noise under {} of {n}, a loss beyond noise under {}, within noise under {}.",
            count(std::cmp::Ordering::Greater),
            count(std::cmp::Ordering::Less),
            count(std::cmp::Ordering::Equal),
            n = pairs.len(),
        ));
    }
    page.note(&notes.join(" "));
}

/// `## Representation geometry (Figure 2)`: distances, ratio, alignment and uniformity per
/// model (named by [`model_name`], numbers over seeds), and each model's t-SNE picture of the
/// first seed when the file has one.
pub(super) fn geometry(page: &mut Page, seeds: Seeds) -> crate::Result<()> {
    let Some(geometry) = &seeds.first().geometry else { return Ok(()) };
    page.heading("Representation geometry (Figure 2)");
    let rows: Vec<Vec<String>> = geometry
        .iter()
        .map(|g| {
            let name = model_name(Path::new(&g.model));
            let all = seeds.geometry(&name);
            vec![
                name,
                number_summary(summary_of(&all, |g| Some(g.separation.inter)), 4, ""),
                number_summary(summary_of(&all, |g| Some(g.separation.intra)), 4, ""),
                number_summary(summary_of(&all, |g| Some(g.separation.ratio)), 3, "x"),
                number_summary(summary_of(&all, |g| Some(g.alignment)), 4, ""),
                number_summary(summary_of(&all, |g| Some(g.uniformity)), 4, ""),
            ]
        })
        .collect();
    page.table(&strings(&["model", "inter-class distance", "intra-class distance", "ratio", "alignment", "uniformity"]), &rows);
    page.note("Cosine distances on backbone features; ratio = inter / intra (paper: 1.98x supervised, 1.19x SimCLR).");
    for (i, g) in geometry.iter().enumerate() {
        let Some(tsne) = &g.tsne else { continue };
        let name = model_name(Path::new(&g.model));
        let title = format!("{name}: ratio {:.2}x", g.separation.ratio);
        page.figure(&format!("tsne-{i}.svg"), format!("t-SNE of {name}"), scatter_chart(&title, &tsne.points, &tsne.labels, &tsne.class_names)?);
    }
    Ok(())
}

/// `## Common corruptions (Figure 3)`: the relative drop per corruption of every model (columns
/// named after the model files, [`model_name`]; numbers over seeds), and the means as a chart.
pub(super) fn corruptions(page: &mut Page, seeds: Seeds) -> crate::Result<()> {
    let Some(report) = &seeds.first().corruptions else { return Ok(()) };
    let models = &report.models;
    let Some(first) = models.first() else { return Ok(()) };
    page.heading("Common corruptions (Figure 3)");
    let short = |m: &ModelCorruptions| model_name(Path::new(&m.model));
    let names: Vec<&str> = first.corruptions.iter().map(|c| c.corruption.as_str()).collect();
    let drop_of = |m: &ModelCorruptions, name: &str| m.corruptions.iter().find(|c| c.corruption == name).map(|c| c.mean_relative_drop);
    let over_seeds = |m: &ModelCorruptions, value: &dyn Fn(&ModelCorruptions) -> Option<f64>| summary_of(&seeds.corruptions(&short(m)), |m| value(*m));
    let mut header = strings(&["corruption"]);
    header.extend(models.iter().map(short));
    let mut rows: Vec<Vec<String>> = vec![{
        let mut r = strings(&["clean accuracy"]);
        r.extend(models.iter().map(|m| percent_summary(over_seeds(m, &|m| Some(m.clean_accuracy)))));
        r
    }];
    for name in &names {
        let mut r = vec![name.to_string()];
        r.extend(models.iter().map(|m| percent_summary(over_seeds(m, &|m| drop_of(m, name)))));
        rows.push(r);
    }
    let mut mean = strings(&["mean drop"]);
    mean.extend(models.iter().map(|m| percent_summary(over_seeds(m, &|m| Some(m.mean_relative_drop)))));
    rows.push(mean);
    page.table(&header, &rows);
    page.note("Cells: relative accuracy drop (clean - corrupted) / clean, averaged over the severities evaluated.");
    let series: Vec<Series> = models
        .iter()
        .map(|m| Series {
            name: short(m),
            points: names.iter().enumerate().filter_map(|(i, n)| Some(((i + 1) as f64, 100.0 * over_seeds(m, &|m| drop_of(m, n))?.mean))).collect(),
        })
        .collect();
    page.figure(
        "corruptions.svg",
        format!("Relative accuracy drop per corruption (1-{}: {})", names.len(), names.join(", ")),
        line_chart("Relative drop under corruptions", "corruption (table order)", "relative drop (%)", &series, true)?,
    );
    Ok(())
}
