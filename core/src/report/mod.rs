//! The study report: one Markdown file and one self-contained HTML page (charts embedded as
//! SVG data URIs) gathered from a study's run folders and result files: training curves, the
//! A-FNC threshold with its removal rate and precision, the robustness table in the layout of
//! the paper's Table 1 with accuracy-vs-epsilon curves, the representation geometry of
//! Figure 2 (separation ratios, t-SNE pictures) and the corruption drops of Figure 3.
//!
//! Everything is rendered from the result files' contents, so the caller decides where they
//! come from; nothing here reads or writes files. The result files are typed, with the types
//! the commands write ([`EvalReport`], [`crate::evaluate::ComparisonTable`],
//! [`GeometryResult`], [`CorruptionReport`]); a run folder's own files (`config.json`,
//! `metrics.jsonl`, `linear_eval.json`) stay JSON values, because their types (`TrainPlan`,
//! the two kinds of epoch line, `LinearEvalReport`) live in `train`, which this feature does
//! not need.
//!
//! [`render`] calls one function per section (`sections.rs`) on a [`Page`]; `html.rs` turns
//! the Markdown into the page.

mod html;
pub mod plots;
mod sections;

use serde_json::Value;

use crate::evaluate::EvalReport;
use crate::results::{CorruptionReport, GeometryResult};

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
    /// The `hypersphere eval` report of the run's model (its own `eval.json`, or its row of the
    /// study's table).
    pub eval: Option<EvalReport>,
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
    /// `hypersphere geometry --json` output (one entry per model).
    pub geometry: Option<Vec<GeometryResult>>,
    /// `hypersphere corrupt-eval --json` output.
    pub corruptions: Option<CorruptionReport>,
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

/// The report being written: its Markdown and the figures it names.
struct Page {
    md: String,
    figures: Vec<Figure>,
}

impl Page {
    fn new(title: &str) -> Self {
        Self { md: format!("# {title}\n\n"), figures: Vec::new() }
    }

    fn heading(&mut self, text: &str) {
        self.md.push_str(&format!("## {text}\n\n"));
    }

    /// A Markdown table.
    fn table(&mut self, header: &[String], rows: &[Vec<String>]) {
        self.md.push_str(&format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len())));
        for r in rows {
            self.md.push_str(&format!("| {} |\n", r.join(" | ")));
        }
    }

    /// A paragraph after a table.
    fn note(&mut self, text: &str) {
        self.md.push_str(&format!("\n{text}\n\n"));
    }

    /// A figure, referred to as `plots/<file>`.
    fn figure(&mut self, file: &str, caption: String, svg: String) {
        self.md.push_str(&format!("![{caption}](plots/{file})\n\n"));
        self.figures.push(Figure { file: file.to_string(), caption, svg });
    }
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

/// Renders `study`: models, training, false-negative cancellation, robustness, geometry and
/// corruptions, each section only where the study has its data.
pub fn render(study: &StudyRecord) -> crate::Result<Report> {
    let mut page = Page::new(&study.title);
    sections::models(&mut page, &study.runs);
    sections::training(&mut page, &study.runs)?;
    sections::cancellation(&mut page, &study.runs)?;
    sections::robustness(&mut page, &study.runs)?;
    if let Some(geometry) = &study.geometry {
        sections::geometry(&mut page, geometry)?;
    }
    if let Some(corruptions) = &study.corruptions {
        sections::corruptions(&mut page, corruptions)?;
    }
    let html = html::to_html(&study.title, &page.md, &page.figures);
    Ok(Report { markdown: page.md, html, figures: page.figures })
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
            // as older eval.json files hold it: no runtime, normalisation, family or norm
            eval: Some(serde_json::from_value(json!({"images": 100, "clean_accuracy": 0.5, "attacks": [
                {"spec": "fgsm:linf:2/255", "eps": 2.0 / 255.0, "accuracy": 0.3, "p_drop": 0.4},
                {"spec": "fgsm:linf:8/255", "eps": 8.0 / 255.0, "accuracy": 0.1, "p_drop": 0.8}]})).unwrap()),
            seconds: Some(600.0),
        }
    }

    #[test]
    fn tables_and_figures_for_every_section() {
        let study = StudyRecord {
            title: "Small study".into(),
            runs: vec![run("simclr", "simclr", json!({"kind": "none"})), run("afnc", "simclr", json!({"kind": "adaptive", "initial": 0.99f32, "last": 0.7f32}))],
            geometry: Some(serde_json::from_value(json!([{"model": "simclr", "separation": {"inter": 0.5, "intra": 0.4, "ratio": 1.25}, "alignment": 0.3, "uniformity": -2.0,
                "tsne": {"points": [[0.0, 1.0], [1.0, 0.0]], "labels": [0, 1], "class_names": ["cat", "dog"]}}])).unwrap()),
            corruptions: Some(serde_json::from_value(json!({"models": [{"model": "runs/x/simclr/model.bpk", "clean_accuracy": 0.5, "mean_relative_drop": 0.25,
                "corruptions": [{"corruption": "fog", "mean_relative_drop": 0.3}, {"corruption": "contrast", "mean_relative_drop": 0.2}]}]})).unwrap()),
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
        // sections come in order, each once
        let headings: Vec<&str> = r.markdown.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(headings, [
            "## Models",
            "## Training",
            "## False-negative cancellation",
            "## Robustness (Table 1 layout)",
            "## Representation geometry (Figure 2)",
            "## Common corruptions (Figure 3)"
        ]);
    }
}
