//! `hypersphere report` end to end on a study folder written here (no training, so it takes a
//! second): every number the report shows is the one in the JSON it was given, in the row of
//! the model it belongs to, in the Markdown and in the HTML page, and every figure it names is
//! written.

mod common;

use std::path::Path;

use common::{assert_success, assert_user_error, row, run, scratch};
use hypersphere_core::evaluate::stats::{Z95, wilson_interval};
use serde_json::{Value, json};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn write_json(path: &Path, value: &Value) {
    write(path, &serde_json::to_string_pretty(value).unwrap());
}

fn percent(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}


/// An `hypersphere eval` report: the clean accuracy and (spec, eps, accuracy) per attack.
fn eval_report(clean: f64, attacks: &[(&str, f64, f64)]) -> Value {
    json!({
        "images": 100,
        "clean_accuracy": clean,
        "attacks": attacks.iter().map(|(spec, eps, acc)| json!({
            "spec": spec, "eps": eps, "accuracy": acc, "p_drop": (clean - acc) / clean,
        })).collect::<Vec<_>>(),
    })
}

/// An accuracy as the robustness table shows it: with its 95% Wilson interval for the report's
/// 100 images, in %.
fn with_interval(accuracy: f64) -> String {
    let w = wilson_interval(accuracy, 100.0, Z95);
    format!("{} [{:.1}, {:.1}]", percent(accuracy), 100.0 * w.low, 100.0 * w.high)
}

/// The robustness cell the report shows for `attack` of `report`.
fn robustness_cell(report: &Value, attack: usize) -> String {
    let a = &report["attacks"][attack];
    format!("{} (↓{:.0}%)", with_interval(a["accuracy"].as_f64().unwrap()), 100.0 * a["p_drop"].as_f64().unwrap())
}

#[test]
fn the_report_shows_the_numbers_of_the_files_it_was_given() {
    let study = scratch("report");
    // Three runs: a cross-entropy run, a SimCLR + A-FNC run (linear evaluation, FNC metrics) and
    // a SupCon run that has its own eval.json; the first two are evaluated in the study-level
    // eval.json, whose rows are in another order than the folders.
    write_json(&study.join("ce/config.json"), &json!({"plan": {"method": "ce"}}));
    write(
        &study.join("ce/metrics.jsonl"),
        "{\"epoch\": 1, \"train_loss\": 1.9, \"test_accuracy\": 0.31}\n{\"epoch\": 2, \"train_loss\": 1.2345, \"test_accuracy\": 0.6127}\n",
    );
    write(&study.join("ce/done"), "90 s\n");
    write_json(
        &study.join("simclr-afnc/config.json"),
        &json!({"plan": {"method": "simclr", "contrastive": {"fnc": {"kind": "adaptive", "initial": 0.9, "last": 0.5}}}}),
    );
    let fnc_line = |epoch: u32, loss: f64, knn: f64, rho: f64| {
        format!("{{\"epoch\": {epoch}, \"train_loss\": {loss}, \"knn_accuracy\": {knn}, \"rho\": {rho}, \"cancelled_fraction\": 0.02, \"cancel_precision\": 0.4}}\n")
    };
    write(&study.join("simclr-afnc/metrics.jsonl"), &(fnc_line(1, 5.0, 0.21, 0.9) + &fnc_line(2, 4.4321, 0.3456, 0.5)));
    write_json(&study.join("simclr-afnc/linear_eval.json"), &json!({"report": {"test_accuracy": 0.4389}}));
    write_json(&study.join("supcon/config.json"), &json!({"plan": {"method": "supcon"}}));
    write(&study.join("supcon/metrics.jsonl"), "{\"epoch\": 1, \"train_loss\": 3.21, \"knn_accuracy\": 0.287}\n");
    write_json(&study.join("supcon/linear_eval.json"), &json!({"report": {"test_accuracy": 0.3718}}));
    let attacks = ["fgsm:linf:2/255", "fgsm:linf:8/255", "pgd:l2:0.25:10"];
    let eps = [2.0 / 255.0, 8.0 / 255.0, 0.25];
    let with = |accs: [f64; 3]| -> Vec<(&str, f64, f64)> { (0..3).map(|i| (attacks[i], eps[i], accs[i])).collect() };
    let reports = [
        ("ce", eval_report(0.6127, &with([0.3571, 0.0913, 0.2222]))),
        ("simclr-afnc", eval_report(0.4389, &with([0.3817, 0.1529, 0.3303]))),
        ("supcon", eval_report(0.3718, &with([0.2741, 0.0612, 0.1987]))),
    ];
    write_json(&study.join("supcon/eval.json"), &reports[2].1);
    write_json(
        &study.join("eval.json"),
        &json!({"attacks": attacks, "rows": [
            {"model": "simclr-afnc", "report": reports[1].1},
            {"model": "ce", "report": reports[0].1},
        ]}),
    );
    let geometry = json!([
        {"model": "ce", "separation": {"inter": 0.8123, "intra": 0.4741, "ratio": 1.7134}, "alignment": 0.4107, "uniformity": -1.4093,
         "tsne": {"points": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], "labels": [0, 1, 1], "class_names": ["cat", "dog"]}},
        {"model": "simclr-afnc", "separation": {"inter": 0.6012, "intra": 0.4513, "ratio": 1.3321}, "alignment": 0.3791, "uniformity": -1.3377},
    ]);
    write_json(&study.join("geometry.json"), &geometry);
    let corruptions = json!({"models": [
        {"model": study.join("ce/model.bpk").display().to_string(), "clean_accuracy": 0.6127, "mean_relative_drop": 0.0943,
         "corruptions": [{"corruption": "fog", "mean_relative_drop": 0.1234}, {"corruption": "contrast", "mean_relative_drop": 0.0652}]},
        {"model": study.join("simclr-afnc/model.bpk").display().to_string(), "clean_accuracy": 0.4389, "mean_relative_drop": 0.0601,
         "corruptions": [{"corruption": "fog", "mean_relative_drop": 0.0817}, {"corruption": "contrast", "mean_relative_drop": 0.0385}]},
    ]});
    write_json(&study.join("corruptions.json"), &corruptions);

    let out = run(&["report", "--study", study.to_str().unwrap(), "--title", "handmade study"]);
    assert_success(&out);
    let md = std::fs::read_to_string(study.join("report/report.md")).unwrap();
    assert!(md.starts_with("# handmade study\n"), "{md}");

    // Models: method, epochs, last loss, kNN monitor, test accuracy (linear evaluation for
    // contrastive runs, the last epoch for cross-entropy) and wall time.
    assert_eq!(row(&md, "Models", "ce"), ["ce", "cross-entropy", "2", "1.2345", "-", "61.27%", "1.5 min"]);
    assert_eq!(row(&md, "Models", "simclr-afnc"), ["simclr-afnc", "simclr + A-FNC rho 0.9 -> 0.5", "2", "4.4321", "34.56%", "43.89%", "-"]);
    assert_eq!(row(&md, "Models", "supcon"), ["supcon", "supcon", "1", "3.2100", "28.70%", "37.18%", "-"]);

    // Robustness: each model's own numbers (study-level rows matched by name, not by order;
    // the SupCon run's own eval.json), columns in the order of the attacks.
    let header = md.lines().find(|l| l.starts_with("| model | clean |")).unwrap_or_else(|| panic!("no robustness header:\n{md}"));
    assert_eq!(header, format!("| model | clean | {} |", attacks.join(" | ")));
    for (name, report) in &reports {
        let cells = row(&md, "Robustness (Table 1 layout)", name);
        let mut expected = vec![name.to_string(), with_interval(report["clean_accuracy"].as_f64().unwrap())];
        expected.extend((0..attacks.len()).map(|i| robustness_cell(report, i)));
        assert_eq!(cells, expected, "{name}");
    }
    // Wilson at p = 0.3571, n = 100, z = 1.96: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) = [0.2701, 0.4547]
    assert_eq!(row(&md, "Robustness (Table 1 layout)", "ce")[2], "35.71% [27.0, 45.5] (↓42%)", "accuracy, interval and relative drop of FGSM 2/255");

    // Geometry: distances, ratio, alignment and uniformity per model.
    for g in geometry.as_array().unwrap() {
        let name = g["model"].as_str().unwrap();
        let s = &g["separation"];
        let expected = [
            name.to_string(),
            format!("{:.4}", s["inter"].as_f64().unwrap()),
            format!("{:.4}", s["intra"].as_f64().unwrap()),
            format!("{:.3}x", s["ratio"].as_f64().unwrap()),
            format!("{:.4}", g["alignment"].as_f64().unwrap()),
            format!("{:.4}", g["uniformity"].as_f64().unwrap()),
        ];
        assert_eq!(row(&md, "Representation geometry (Figure 2)", name), expected);
    }
    assert_eq!(row(&md, "Representation geometry (Figure 2)", "ce")[3], "1.713x");

    // Corruptions: one column per model (named after its run folder), in the file's order.
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "corruption"), ["corruption", "ce", "simclr-afnc"]);
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "clean accuracy"), ["clean accuracy", "61.27%", "43.89%"]);
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "fog"), ["fog", "12.34%", "8.17%"]);
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "contrast"), ["contrast", "6.52%", "3.85%"]);
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "mean drop"), ["mean drop", "9.43%", "6.01%"]);

    // Every figure the Markdown names is written, and the page embeds each one and shows the
    // same table cells.
    let figures: Vec<&str> = md.split("](plots/").skip(1).map(|rest| rest.split(')').next().unwrap()).collect();
    for file in ["loss.svg", "accuracy.svg", "fnc.svg", "robustness-fgsm-linf.svg", "robustness-pgd-l2.svg", "tsne-0.svg", "corruptions.svg"] {
        assert!(figures.contains(&file), "{file} not in the report: {figures:?}");
    }
    for file in &figures {
        let svg = std::fs::read_to_string(study.join("report/plots").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(svg.contains("<svg"), "{file} is not an SVG");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("({} figures)", figures.len())), "{stdout}");
    let html = std::fs::read_to_string(study.join("report/report.html")).unwrap();
    assert_eq!(html.matches("<img src=\"data:image/svg+xml;base64,").count(), figures.len());
    for cell in ["<td>61.27%</td>", "<td>35.71% [27.0, 45.5] (↓42%)</td>", "<td>1.713x</td>", "<td>simclr + A-FNC rho 0.9 -&gt; 0.5</td>", "<td>9.43%</td>"] {
        assert!(html.contains(cell), "{cell} not in report.html");
    }

    // A folder without runs or geometry is refused with one line.
    let empty = scratch("report-empty");
    assert_user_error(&run(&["report", "--study", empty.to_str().unwrap()]), "no run folders");
    let _ = std::fs::remove_dir_all(&study);
    let _ = std::fs::remove_dir_all(&empty);
}
