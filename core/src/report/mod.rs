//! The study report: one Markdown file and one self-contained HTML page (charts embedded as
//! SVG data URIs) gathered from a study's run folders and result files: training curves, the
//! A-FNC threshold with its removal rate and precision, the robustness table in the layout of
//! the paper's Table 1 with accuracy-vs-epsilon curves, the representation geometry of
//! Figure 2 (separation ratios, t-SNE pictures) and the corruption drops of Figure 3.
//!
//! Everything is rendered from JSON values (the files' contents), so the caller decides where
//! they come from; nothing here reads or writes files.

pub mod plots;

use base64::Engine;
use serde_json::Value;

use plots::{Series, line_chart, scatter_chart};

/// One training run: its folder name and the contents of its files.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// The run's name (its folder).
    pub name: String,
    /// `config.json`.
    pub config: Value,
    /// The lines of `metrics.jsonl`.
    pub metrics: Vec<Value>,
    /// `linear_eval.json`, for contrastive runs.
    pub linear_eval: Option<Value>,
    /// `eval.json` (the `hypersphere eval` report) of the run's model.
    pub eval: Option<Value>,
    /// Wall time of the whole run in seconds, when known.
    pub seconds: Option<f64>,
}

/// Everything a report shows.
#[derive(Debug, Clone, Default)]
pub struct StudyRecord {
    /// Heading of the report.
    pub title: String,
    /// The runs, in display order.
    pub runs: Vec<RunRecord>,
    /// `hypersphere geometry --json` output (an array, one entry per model).
    pub geometry: Option<Value>,
    /// `hypersphere corrupt-eval --json` output.
    pub corruptions: Option<Value>,
}

/// A chart of the report.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name for the Markdown version (`plots/<file>`).
    pub file: String,
    /// Caption.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
}

/// The rendered report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Markdown, referring to the figures as `plots/<file>`.
    pub markdown: String,
    /// A self-contained HTML page.
    pub html: String,
    /// The figures.
    pub figures: Vec<Figure>,
}

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

fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.2}%", 100.0 * v)).unwrap_or_else(|| "-".into())
}

/// The final top-1 test accuracy of a run's model (linear evaluation for contrastive runs).
pub fn final_accuracy(run: &RunRecord) -> Option<f64> {
    run.linear_eval
        .as_ref()
        .and_then(|l| l["report"]["test_accuracy"].as_f64())
        .or_else(|| run.metrics.last().and_then(|m| m["test_accuracy"].as_f64()))
}

fn series_of(run: &RunRecord, key: &str, scale: f64) -> Series {
    Series {
        name: run.name.clone(),
        points: run.metrics.iter().filter_map(|m| Some((m["epoch"].as_f64()?, m[key].as_f64()? * scale))).collect(),
    }
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

/// Renders `study`.
pub fn render(study: &StudyRecord) -> crate::Result<Report> {
    let mut md = format!("# {}\n\n", study.title);
    let mut figures: Vec<Figure> = Vec::new();
    let mut add_figure = |md: &mut String, file: &str, caption: String, svg: String| {
        md.push_str(&format!("![{caption}](plots/{file})\n\n"));
        figures.push(Figure { file: file.to_string(), caption, svg });
    };

    md.push_str("## Models\n\n");
    let rows: Vec<Vec<String>> = study
        .runs
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
    let header: Vec<String> =
        ["run", "method", "epochs", "final loss", "kNN accuracy", "test accuracy", "wall time"].iter().map(|s| s.to_string()).collect();
    md.push_str(&table(&header, &rows));
    md.push_str("\nTest accuracy: of the model itself for cross-entropy, after linear evaluation for contrastive runs.\n\n");

    if !study.runs.is_empty() {
        md.push_str("## Training\n\n");
        let losses: Vec<Series> = study.runs.iter().map(|r| series_of(r, "train_loss", 1.0)).collect();
        add_figure(&mut md, "loss.svg", "Training loss per epoch".into(), line_chart("Training loss", "epoch", "loss", &losses, false)?);
        let accuracy: Vec<Series> = study
            .runs
            .iter()
            .map(|r| {
                let key = if r.metrics.first().is_some_and(|m| m["knn_accuracy"].is_number()) { "knn_accuracy" } else { "test_accuracy" };
                series_of(r, key, 100.0)
            })
            .collect();
        add_figure(
            &mut md,
            "accuracy.svg",
            "Test accuracy per epoch (kNN monitor for contrastive runs)".into(),
            line_chart("Accuracy during training", "epoch", "accuracy (%)", &accuracy, true)?,
        );
    }

    let fnc_runs: Vec<&RunRecord> = study.runs.iter().filter(|r| r.metrics.iter().any(|m| m["cancelled_fraction"].is_number())).collect();
    if !fnc_runs.is_empty() {
        md.push_str("## False-negative cancellation\n\n");
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
        add_figure(
            &mut md,
            "fnc.svg",
            "Threshold rho, fraction of negatives removed, and the fraction of removed pairs that share a class".into(),
            line_chart("False-negative cancellation", "epoch", "value", &series, true)?,
        );
    }

    let evaluated: Vec<&RunRecord> = study.runs.iter().filter(|r| r.eval.is_some()).collect();
    if !evaluated.is_empty() {
        md.push_str("## Robustness (Table 1 layout)\n\n");
        let specs: Vec<String> = evaluated[0].eval.as_ref().unwrap()["attacks"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["spec"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let mut header = vec!["model".to_string(), "clean".to_string()];
        header.extend(specs.iter().cloned());
        let rows: Vec<Vec<String>> = evaluated
            .iter()
            .map(|r| {
                let e = r.eval.as_ref().unwrap();
                let mut row = vec![r.name.clone(), percent(e["clean_accuracy"].as_f64())];
                for spec in &specs {
                    let cell = e["attacks"].as_array().and_then(|a| a.iter().find(|x| x["spec"].as_str() == Some(spec)));
                    row.push(match cell {
                        Some(c) => format!("{} (↓{:.0}%)", percent(c["accuracy"].as_f64()), 100.0 * c["p_drop"].as_f64().unwrap_or(0.0)),
                        None => "-".into(),
                    });
                }
                row
            })
            .collect();
        md.push_str(&table(&header, &rows));
        md.push_str("\nCells: top-1 accuracy under attack, with the relative drop (clean - adversarial) / clean.\n\n");
        // One accuracy-vs-epsilon chart per attack family (name and norm).
        let mut families: Vec<String> = Vec::new();
        for spec in &specs {
            let family = spec.split(':').take(2).collect::<Vec<_>>().join(":");
            if !families.contains(&family) {
                families.push(family);
            }
        }
        for family in families {
            let series: Vec<Series> = evaluated
                .iter()
                .map(|r| {
                    let e = r.eval.as_ref().unwrap();
                    let mut points = vec![(0.0, 100.0 * e["clean_accuracy"].as_f64().unwrap_or(0.0))];
                    for a in e["attacks"].as_array().into_iter().flatten() {
                        let spec = a["spec"].as_str().unwrap_or("");
                        if spec.split(':').take(2).collect::<Vec<_>>().join(":") == family {
                            points.push((255.0 * a["eps"].as_f64().unwrap_or(0.0), 100.0 * a["accuracy"].as_f64().unwrap_or(0.0)));
                        }
                    }
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Series { name: r.name.clone(), points }
                })
                .collect();
            let file = format!("robustness-{}.svg", family.replace(':', "-"));
            add_figure(
                &mut md,
                &file,
                format!("Accuracy against epsilon ({family})"),
                line_chart(&format!("Accuracy under {family}"), "epsilon (x 1/255)", "accuracy (%)", &series, true)?,
            );
        }
    }

    if let Some(geometry) = study.geometry.as_ref().and_then(|g| g.as_array()) {
        md.push_str("## Representation geometry (Figure 2)\n\n");
        let rows: Vec<Vec<String>> = geometry
            .iter()
            .map(|g| {
                vec![
                    g["model"].as_str().unwrap_or("?").to_string(),
                    format!("{:.4}", g["separation"]["inter"].as_f64().unwrap_or(f64::NAN)),
                    format!("{:.4}", g["separation"]["intra"].as_f64().unwrap_or(f64::NAN)),
                    format!("{:.3}x", g["separation"]["ratio"].as_f64().unwrap_or(f64::NAN)),
                    format!("{:.4}", g["alignment"].as_f64().unwrap_or(f64::NAN)),
                    format!("{:.4}", g["uniformity"].as_f64().unwrap_or(f64::NAN)),
                ]
            })
            .collect();
        let header: Vec<String> =
            ["model", "inter-class distance", "intra-class distance", "ratio", "alignment", "uniformity"].iter().map(|s| s.to_string()).collect();
        md.push_str(&table(&header, &rows));
        md.push_str("\nCosine distances on backbone features; ratio = inter / intra (paper: 1.98x supervised, 1.19x SimCLR).\n\n");
        for (i, g) in geometry.iter().enumerate() {
            let tsne = &g["tsne"];
            let (Some(points), Some(labels)) = (tsne["points"].as_array(), tsne["labels"].as_array()) else { continue };
            let points: Vec<[f32; 2]> =
                points.iter().map(|p| [p[0].as_f64().unwrap_or(0.0) as f32, p[1].as_f64().unwrap_or(0.0) as f32]).collect();
            let labels: Vec<usize> = labels.iter().map(|l| l.as_u64().unwrap_or(0) as usize).collect();
            let names: Vec<String> = tsne["class_names"].as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect()).unwrap_or_default();
            let model = g["model"].as_str().unwrap_or("?");
            let title = format!("{model}: ratio {:.2}x", g["separation"]["ratio"].as_f64().unwrap_or(f64::NAN));
            add_figure(&mut md, &format!("tsne-{i}.svg"), format!("t-SNE of {model}"), scatter_chart(&title, &points, &labels, &names)?);
        }
    }

    if let Some(models) = study.corruptions.as_ref().and_then(|c| c["models"].as_array()).filter(|m| !m.is_empty()) {
        md.push_str("## Common corruptions (Figure 3)\n\n");
        let short = |m: &Value| {
            let name = m["model"].as_str().unwrap_or("?");
            // `runs/x/simclr/model.bpk` -> `simclr`
            let p = std::path::Path::new(name);
            if p.file_name().is_some_and(|f| f == "model.bpk") {
                p.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned()).unwrap_or_else(|| name.to_string())
            } else {
                name.to_string()
            }
        };
        let mut header = vec!["corruption".to_string()];
        header.extend(models.iter().map(short));
        let names: Vec<String> = models[0]["corruptions"]
            .as_array()
            .map(|c| c.iter().filter_map(|x| x["corruption"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let drop_of = |m: &Value, name: &str| {
            m["corruptions"].as_array().and_then(|c| c.iter().find(|x| x["corruption"].as_str() == Some(name))).and_then(|x| x["mean_relative_drop"].as_f64())
        };
        let mut rows: Vec<Vec<String>> = vec![{
            let mut r = vec!["clean accuracy".to_string()];
            r.extend(models.iter().map(|m| percent(m["clean_accuracy"].as_f64())));
            r
        }];
        for name in &names {
            let mut r = vec![name.clone()];
            r.extend(models.iter().map(|m| percent(drop_of(m, name))));
            rows.push(r);
        }
        let mut mean = vec!["mean drop".to_string()];
        mean.extend(models.iter().map(|m| percent(m["mean_relative_drop"].as_f64())));
        rows.push(mean);
        md.push_str(&table(&header, &rows));
        md.push_str("\nCells: relative accuracy drop (clean - corrupted) / clean, averaged over the severities evaluated.\n\n");
        let series: Vec<Series> = models
            .iter()
            .map(|m| Series {
                name: short(m),
                points: names.iter().enumerate().filter_map(|(i, n)| Some(((i + 1) as f64, 100.0 * drop_of(m, n)?))).collect(),
            })
            .collect();
        add_figure(
            &mut md,
            "corruptions.svg",
            format!("Relative accuracy drop per corruption (1-{}: {})", names.len(), names.join(", ")),
            line_chart("Relative drop under corruptions", "corruption (table order)", "relative drop (%)", &series, true)?,
        );
    }

    let html = to_html(&study.title, &md, &figures);
    Ok(Report { markdown: md, html, figures })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Markdown subset `render` writes (headings, tables, paragraphs, figures) as HTML, with
/// every figure embedded as a data URI.
fn to_html(title: &str, md: &str, figures: &[Figure]) -> String {
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let is_row = line.starts_with('|');
        if in_table && !is_row {
            body.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            body.push_str(&format!("<h2>{}</h2>\n", escape(h)));
        } else if let Some(h) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", escape(h)));
        } else if let Some(rest) = line.strip_prefix("![") {
            let (caption, file) = rest.split_once("](plots/").unwrap_or((rest, ""));
            let file = file.trim_end_matches(')');
            if let Some(f) = figures.iter().find(|f| f.file == file) {
                let data = base64::engine::general_purpose::STANDARD.encode(f.svg.as_bytes());
                body.push_str(&format!(
                    "<figure><img src=\"data:image/svg+xml;base64,{data}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                    escape(caption),
                    escape(caption)
                ));
            }
        } else if is_row {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            body.push_str("<tr>");
            for c in cells {
                body.push_str(&format!("<{tag}>{}</{tag}>", escape(c)));
            }
            body.push_str("</tr>\n");
        } else if !line.trim().is_empty() {
            body.push_str(&format!("<p>{}</p>\n", escape(line)));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:0.5em}}\
img{{max-width:100%}}figcaption{{font-size:0.9em;color:#555}}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(name: &str, method: &str, fnc: Value) -> RunRecord {
        RunRecord {
            name: name.into(),
            config: json!({"plan": {"method": method, "contrastive": {"fnc": fnc}}}),
            metrics: (1..=3)
                .map(|e| json!({"epoch": e, "train_loss": 3.0 / e as f64, "knn_accuracy": 0.1 * e as f64, "rho": 0.9, "cancelled_fraction": 0.01 * e as f64, "cancel_precision": 0.5}))
                .collect(),
            linear_eval: Some(json!({"report": {"test_accuracy": 0.42}})),
            eval: Some(json!({"clean_accuracy": 0.5, "attacks": [
                {"spec": "fgsm:linf:2/255", "eps": 2.0 / 255.0, "accuracy": 0.3, "p_drop": 0.4},
                {"spec": "fgsm:linf:8/255", "eps": 8.0 / 255.0, "accuracy": 0.1, "p_drop": 0.8}]})),
            seconds: Some(600.0),
        }
    }

    #[test]
    fn tables_and_figures_for_every_section() {
        let study = StudyRecord {
            title: "Small study".into(),
            runs: vec![run("simclr", "simclr", json!({"kind": "none"})), run("afnc", "simclr", json!({"kind": "adaptive", "initial": 0.99f32, "last": 0.7f32}))],
            geometry: Some(json!([{"model": "simclr", "separation": {"inter": 0.5, "intra": 0.4, "ratio": 1.25}, "alignment": 0.3, "uniformity": -2.0,
                "tsne": {"points": [[0.0, 1.0], [1.0, 0.0]], "labels": [0, 1], "class_names": ["cat", "dog"]}}])),
            corruptions: Some(json!({"models": [{"model": "runs/x/simclr/model.bpk", "clean_accuracy": 0.5, "mean_relative_drop": 0.25,
                "corruptions": [{"corruption": "fog", "mean_relative_drop": 0.3}, {"corruption": "contrast", "mean_relative_drop": 0.2}]}]})),
        };
        let r = render(&study).unwrap();
        for needle in ["| afnc | simclr + A-FNC rho 0.99 -> 0.7 | 3 |", "42.00%", "30.00% (↓40%)", "1.250x", "10.0 min", "| corruption | simclr |", "| fog | 30.00% |", "| mean drop | 25.00% |"] {
            assert!(r.markdown.contains(needle), "{needle} missing from:\n{}", r.markdown);
        }
        let files: Vec<&str> = r.figures.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, vec!["loss.svg", "accuracy.svg", "fnc.svg", "robustness-fgsm-linf.svg", "tsne-0.svg", "corruptions.svg"]);
        assert_eq!(r.html.matches("<img src=\"data:image/svg+xml;base64,").count(), 6);
        assert!(r.html.contains("<th>model</th>") && r.html.contains("<td>afnc</td>"));
        // an empty study still renders
        assert!(render(&StudyRecord { title: "empty".into(), ..Default::default() }).unwrap().figures.is_empty());
    }
}
