//! The report's sections, one function each, in the order [`super::render`] calls them. Each
//! adds its heading, table and figures to the [`Page`], or nothing when the study has no data
//! for it.

use std::path::Path;

use serde_json::Value;

use super::plots::{Series, line_chart, scatter_chart};
use super::{Page, RunRecord, final_accuracy, percent};
use crate::evaluate::{EvalReport, model_name};
use crate::results::{CorruptionReport, GeometryResult, ModelCorruptions};

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

/// `## Models`: one row per run (method, epochs, last loss, kNN monitor, test accuracy, wall time).
pub(super) fn models(page: &mut Page, runs: &[RunRecord]) {
    page.heading("Models");
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let last = r.metrics.last();
            vec![
                r.name.clone(),
                method_of(r),
                format!("{}", r.metrics.len()),
                last.and_then(|m| m["train_loss"].as_f64()).map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into()),
                percent(last.and_then(|m| m["knn_accuracy"].as_f64())),
                percent(final_accuracy(r)),
                r.seconds.map(|s| format!("{:.1} min", s / 60.0)).unwrap_or_else(|| "-".into()),
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

/// `## Robustness (Table 1 layout)`: accuracy and relative drop per attack of every evaluated
/// run (columns: the first run's attacks), and one accuracy-vs-epsilon chart per attack family.
pub(super) fn robustness(page: &mut Page, runs: &[RunRecord]) -> crate::Result<()> {
    let evaluated: Vec<(&str, &EvalReport)> = runs.iter().filter_map(|r| Some((r.name.as_str(), r.eval.as_ref()?))).collect();
    let Some((_, first)) = evaluated.first() else { return Ok(()) };
    page.heading("Robustness (Table 1 layout)");
    let specs: Vec<&str> = first.attacks.iter().map(|a| a.spec.as_str()).collect();
    let mut header = strings(&["model", "clean"]);
    header.extend(specs.iter().map(|s| s.to_string()));
    let rows: Vec<Vec<String>> = evaluated
        .iter()
        .map(|(name, e)| {
            let mut row = vec![name.to_string(), percent(Some(e.clean_accuracy))];
            for spec in &specs {
                row.push(match e.attacks.iter().find(|a| a.spec == *spec) {
                    Some(a) => format!("{} (↓{:.0}%)", percent(Some(a.accuracy)), 100.0 * a.p_drop),
                    None => "-".into(),
                });
            }
            row
        })
        .collect();
    page.table(&header, &rows);
    page.note("Cells: top-1 accuracy under attack, with the relative drop (clean - adversarial) / clean.");
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
            .map(|(name, e)| {
                let mut points = vec![(0.0, 100.0 * e.clean_accuracy)];
                for a in e.attacks.iter().filter(|a| attack_family(a) == family) {
                    points.push((255.0 * f64::from(a.eps), 100.0 * a.accuracy));
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

/// `## Representation geometry (Figure 2)`: distances, ratio, alignment and uniformity per
/// model, and each model's t-SNE picture when the file has one.
pub(super) fn geometry(page: &mut Page, geometry: &[GeometryResult]) -> crate::Result<()> {
    page.heading("Representation geometry (Figure 2)");
    let rows: Vec<Vec<String>> = geometry
        .iter()
        .map(|g| {
            vec![
                g.model.clone(),
                format!("{:.4}", g.separation.inter),
                format!("{:.4}", g.separation.intra),
                format!("{:.3}x", g.separation.ratio),
                format!("{:.4}", g.alignment),
                format!("{:.4}", g.uniformity),
            ]
        })
        .collect();
    page.table(&strings(&["model", "inter-class distance", "intra-class distance", "ratio", "alignment", "uniformity"]), &rows);
    page.note("Cosine distances on backbone features; ratio = inter / intra (paper: 1.98x supervised, 1.19x SimCLR).");
    for (i, g) in geometry.iter().enumerate() {
        let Some(tsne) = &g.tsne else { continue };
        let title = format!("{}: ratio {:.2}x", g.model, g.separation.ratio);
        page.figure(&format!("tsne-{i}.svg"), format!("t-SNE of {}", g.model), scatter_chart(&title, &tsne.points, &tsne.labels, &tsne.class_names)?);
    }
    Ok(())
}

/// `## Common corruptions (Figure 3)`: the relative drop per corruption of every model (columns
/// named after the model files, [`model_name`]), and the same as a chart.
pub(super) fn corruptions(page: &mut Page, report: &CorruptionReport) -> crate::Result<()> {
    let models = &report.models;
    let Some(first) = models.first() else { return Ok(()) };
    page.heading("Common corruptions (Figure 3)");
    let short = |m: &ModelCorruptions| model_name(Path::new(&m.model));
    let names: Vec<&str> = first.corruptions.iter().map(|c| c.corruption.as_str()).collect();
    let drop_of = |m: &ModelCorruptions, name: &str| m.corruptions.iter().find(|c| c.corruption == name).map(|c| c.mean_relative_drop);
    let mut header = strings(&["corruption"]);
    header.extend(models.iter().map(short));
    let mut rows: Vec<Vec<String>> = vec![{
        let mut r = strings(&["clean accuracy"]);
        r.extend(models.iter().map(|m| percent(Some(m.clean_accuracy))));
        r
    }];
    for name in &names {
        let mut r = vec![name.to_string()];
        r.extend(models.iter().map(|m| percent(drop_of(m, name))));
        rows.push(r);
    }
    let mut mean = strings(&["mean drop"]);
    mean.extend(models.iter().map(|m| percent(Some(m.mean_relative_drop))));
    rows.push(mean);
    page.table(&header, &rows);
    page.note("Cells: relative accuracy drop (clean - corrupted) / clean, averaged over the severities evaluated.");
    let series: Vec<Series> = models
        .iter()
        .map(|m| Series {
            name: short(m),
            points: names.iter().enumerate().filter_map(|(i, n)| Some(((i + 1) as f64, 100.0 * drop_of(m, n)?))).collect(),
        })
        .collect();
    page.figure(
        "corruptions.svg",
        format!("Relative accuracy drop per corruption (1-{}: {})", names.len(), names.join(", ")),
        line_chart("Relative drop under corruptions", "corruption (table order)", "relative drop (%)", &series, true)?,
    );
    Ok(())
}
