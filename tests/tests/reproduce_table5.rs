//! `hypersphere reproduce --tables 5` end to end on a tiny budget: SimCLR, RoCL, A-RoCL, ACL and
//! A-ACL train, one evaluation holds the paper's Table 5 attacks, the report has the Table 5
//! section with the relative gain of A-RoCL and A-ACL over their base in every column (checked
//! against a computation here), and a second run skips every finished stage. Then `--tables
//! 1,5` in the same folder adds the six settings (SimCLR's run shared) and `--tables 4,5` adds
//! IFND, evaluated again beside the others with their finished cells reused. The adversarially
//! trained runs are attacked through classifiers of RoCL's robust linear evaluation (default
//! `--table5-head`), and `--table5-head standard` evaluates Table 5 again on their own. Also
//! the one-line errors of a bad `--tables` and `--table5-head`.

mod common;

use common::{assert_success, assert_user_error, row, run, scratch};
use hypersphere_core::evaluate::stats::{Z95, wilson_interval};
use hypersphere_core::evaluate::{ComparisonTable, EvalReport};
use hypersphere_core::train::{HeadRecipe, LinearEvalMode};

const RUNS: [&str; 5] = ["simclr", "rocl", "a-rocl", "acl", "a-acl"];
const TRAIN_ARGS: &str = "--epochs 1 --arch small-cnn --width 4 --train-limit 100 --test-limit 40 --linear-epochs 1 --batch-size 50";
const SECTION: &str = "Adversarial contrastive learning (Table 5 layout)";

/// An accuracy cell as the report prints it for one seed: `42.50% [27.9, 58.3]`.
fn accuracy_cell(p: f64, images: f64) -> String {
    let w = wilson_interval(p, images, Z95);
    format!("{:.2}% [{:.1}, {:.1}]", 100.0 * p, 100.0 * w.low, 100.0 * w.high)
}

/// The gain cell of accuracy `a` over the base's `b` on `n` images, computed here: the relative
/// gain (a - b) / b, claimed (↑ / ↓) only where |a - b| exceeds 1.96 binomial standard errors.
fn gain_cell(a: f64, b: f64, n: f64) -> String {
    if b == 0.0 {
        return "n/a (base 0%)".into();
    }
    let (gain, margin) = ((a - b) / b, Z95 * (a * (1.0 - a) / n + b * (1.0 - b) / n).sqrt());
    if a - b > margin {
        format!("↑{:.1}%", 100.0 * gain)
    } else if b - a > margin {
        format!("↓{:.1}%", -100.0 * gain)
    } else {
        format!("{:+.1}% (within noise)", 100.0 * gain)
    }
}

/// Clean accuracy, then the accuracy under each attack, of one row of the table.
fn accuracies(report: &EvalReport) -> Vec<f64> {
    std::iter::once(report.clean_accuracy).chain(report.attacks.iter().map(|a| a.accuracy)).collect()
}

#[test]
fn table5_study_trains_five_runs_reports_relative_gains_and_resumes() {
    let dir = scratch("reproduce-table5");
    let out = dir.join("study");
    let out_s = out.to_str().unwrap();
    // Bad selections fail at once with one line.
    assert_user_error(&run(&["reproduce", "--tables", "3", "--out", out_s]), "--tables 3: Table 3");
    assert_user_error(&run(&["reproduce", "--tables", "1,x", "--out", out_s]), "--tables x: not a table");
    assert_user_error(&run(&["reproduce", "--tables", "2,5", "--out", out_s]), "runs alone");
    assert_user_error(&run(&["reproduce", "--tables", "5", "--table", "5", "--out", out_s]), "give one");
    assert!(!out.exists(), "nothing written for a bad selection");

    let args = ["reproduce", "--preset", "tiny", "--tables", "5", "--data", "procedural:300", "--out", out_s, "--limit", "100", "--device", "flex", "--train-args", TRAIN_ARGS, "--table5-head-epochs", "2"];
    let started = std::time::Instant::now();
    let first = run(&args);
    assert_success(&first);
    eprintln!("reproduce --tables 5 took {:.1} s", started.elapsed().as_secs_f64());
    for r in RUNS {
        assert!(out.join(r).join("model.bpk").exists() && out.join(r).join("done").exists(), "{r} trained");
    }
    // Only Table 5 was selected: none of the six-setting study.
    for absent in ["ce", "supcon", "simclr-fnc", "eval.json", "geometry.json", "corruptions.json"] {
        assert!(!out.join(absent).exists(), "{absent} should not exist");
    }
    let table: ComparisonTable = serde_json::from_str(&std::fs::read_to_string(out.join("table5.json")).unwrap()).unwrap();
    assert_eq!(table.rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), RUNS, "one row per run, in the paper's order");
    let aa = "apgd-ce@20+apgd-t@20";
    assert_eq!(
        table.attacks,
        ["pgd:linf:8/255:20", "pgd:linf:16/255:20", "pgd:l2:0.25:20", "pgd:l1:12:20", &format!("autoattack:linf:8/255:{aa}"), &format!("autoattack:linf:16/255:{aa}")],
        "the paper's Table 5 attacks"
    );
    for r in &table.rows {
        assert_eq!(r.report.images, 100, "{}", r.model);
        assert_eq!(r.report.attacks.len(), 6, "{}", r.model);
    }
    // The adversarially trained runs are attacked through classifiers from RoCL's robust linear
    // evaluation (the default --table5-head), each in <run>/adversarial; SimCLR through its own.
    let head: HeadRecipe = serde_json::from_str(&std::fs::read_to_string(out.join("table5-head.json")).unwrap()).unwrap();
    assert_eq!(head, HeadRecipe { mode: LinearEvalMode::from_name("adversarial").unwrap(), epochs: Some(2) });
    for r in &RUNS[1..] {
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(r).join("adversarial/linear_eval.json")).unwrap()).unwrap();
        assert_eq!(config["config"]["mode"]["kind"], "adversarial", "{r}");
        assert_eq!(config["config"]["epochs"], 2, "{r}: --table5-head-epochs");
    }
    assert!(!out.join("simclr/adversarial").exists(), "SimCLR keeps its standard classifier");
    // The evaluation stage's command names the weights it attacks.
    let evaluated = |log: &str| -> Vec<String> {
        let models = log.lines().find_map(|l| l.strip_prefix("== table 5 robustness: hypersphere eval --models ")).unwrap_or_else(|| panic!("no Table 5 evaluation in:\n{log}"));
        models.split(' ').next().unwrap().split(',').map(String::from).collect()
    };
    let named = |name: &str, rel: &str| format!("{name}={}", out.join(rel).display());
    assert_eq!(
        evaluated(&String::from_utf8_lossy(&first.stderr)),
        [named("simclr", "simclr/model.bpk"), named("rocl", "rocl/adversarial/model.bpk"), named("a-rocl", "a-rocl/adversarial/model.bpk"), named("acl", "acl/adversarial/model.bpk"), named("a-acl", "a-acl/adversarial/model.bpk")]
    );
    let clean_of = |weights: &std::path::Path| -> f64 {
        let json = dir.join("clean.json");
        assert_success(&run(&["eval", "--weights", weights.to_str().unwrap(), "--data", "procedural:300", "--limit", "100", "--device", "flex", "--json", json.to_str().unwrap()]));
        serde_json::from_str::<EvalReport>(&std::fs::read_to_string(&json).unwrap()).unwrap().clean_accuracy
    };
    let clean_in = |table: &ComparisonTable, name: &str| table.rows.iter().find(|r| r.model == name).unwrap().report.clean_accuracy;
    for r in ["simclr", "acl"] {
        let weights = if r == "simclr" { out.join(r).join("model.bpk") } else { out.join(r).join("adversarial/model.bpk") };
        assert_eq!(clean_in(&table, r), clean_of(&weights), "{r}: the table's classifier");
    }

    // The report's Table 5 section: each run's numbers from table5.json, and for A-RoCL and
    // A-ACL the gain over RoCL and ACL in every column.
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert!(md.contains("ACL's and A-ACL's by adversarial linear evaluation (RoCL: frozen backbone, linear head on l_inf PGD examples, eps 8/255, 10 steps of 2/255), 2 epochs"), "{md}");
    let of = |name: &str| &table.rows.iter().find(|r| r.model == name).unwrap().report;
    let header = row(&md, SECTION, "model");
    assert_eq!(header[3..], table.attacks[..]);
    let mut gains = 0;
    for (name, base) in [("simclr", None), ("rocl", None), ("a-rocl", Some("rocl")), ("acl", None), ("a-acl", Some("acl"))] {
        let cells = row(&md, SECTION, name);
        let own = accuracies(of(name));
        assert_eq!(cells.len(), 2 + own.len(), "{name}: {cells:?}");
        for (i, a) in own.iter().enumerate() {
            let mut expected = accuracy_cell(*a, 100.0);
            if let Some(base) = base {
                expected = format!("{expected} {}", gain_cell(*a, accuracies(of(base))[i], 100.0));
                gains += 1;
            }
            assert_eq!(cells[2 + i], expected, "{name}, column {i}");
        }
    }
    assert_eq!(gains, 14, "a gain cell per column of A-RoCL and A-ACL");
    for line in ["a-rocl over rocl: median relative gain", "a-acl over acl: median relative gain"] {
        assert!(md.contains(line), "{line} missing");
    }
    for claim in ["Table 5: A-RoCL above RoCL under every Table 5 attack", "Table 5: A-ACL above ACL under every Table 5 attack", "Table 5: RoCL above SimCLR under every Table 5 attack"] {
        let cells = row(&md, "Verdicts (the paper's claims)", claim);
        assert!(["reproduced (no error bar with one seed)", "reproduced", "inconclusive", "contradicted"].contains(&cells[2].as_str()), "{cells:?}");
    }

    // A second run trains and evaluates nothing.
    let stamp = std::fs::metadata(out.join("table5.json")).unwrap().modified().unwrap();
    let second = run(&args);
    assert_success(&second);
    let log = String::from_utf8_lossy(&second.stderr);
    assert_eq!(log.matches("done already").count(), 5, "{log}");
    assert!(!log.contains("== table 5 robustness") && !log.contains("== table 5 classifier"), "{log}");
    assert!(log.lines().filter(|l| l.starts_with("== train")).all(|l| l.ends_with("done already")), "{log}");
    assert_eq!(std::fs::metadata(out.join("table5.json")).unwrap().modified().unwrap(), stamp);

    // Adding Table 1 trains the six settings but SimCLR's, which Table 5 trained.
    fn with<'a>(args: &[&'a str], tables: &'a str) -> Vec<&'a str> {
        args.iter().map(|a| if *a == "5" { tables } else { *a }).collect()
    }
    let trained = |log: &str| -> Vec<String> {
        log.lines().filter(|l| l.starts_with("== train ") && !l.ends_with("done already")).map(|l| l["== train ".len()..].split(':').next().unwrap().to_string()).collect()
    };
    let third = run(&with(&args, "1,5"));
    assert_success(&third);
    let log = String::from_utf8_lossy(&third.stderr);
    assert_eq!(trained(&log), ["ce", "supcon", "simclr-fnc", "simclr-afnc-0.9-0.5", "simclr-afnc-0.99-0.7"], "{log}");
    assert!(!log.contains("== table 5 robustness"), "{log}");
    let main: ComparisonTable = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let six = ["ce", "supcon", "simclr", "simclr-fnc", "simclr-afnc-0.9-0.5", "simclr-afnc-0.99-0.7"];
    assert_eq!(main.rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), six);
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    for section in ["## Robustness (Table 1 layout)", "## Gap closed (Table 4 layout)", &format!("## {SECTION}")] {
        assert!(md.contains(section), "{section} missing");
    }
    assert!(!md.contains("above IFND"), "no IFND claim without IFND");

    // Adding Table 4 trains and evaluates IFND only; the table gathers the six's results with
    // it: their own files, or (as in a study evaluated all at once, before runs kept their
    // own) their rows of the study's table.
    std::fs::remove_file(out.join("ce").join("eval.json")).unwrap();
    let fourth = run(&with(&args, "4,5"));
    assert_success(&fourth);
    let log = String::from_utf8_lossy(&fourth.stderr);
    assert_eq!(trained(&log), ["simclr-ifnd"], "{log}");
    for name in six {
        assert!(!log.contains(&format!("== robustness of {name}:")), "{name} evaluated again: {log}");
    }
    assert!(log.contains("== robustness of simclr-ifnd:") && !log.contains("results reused"), "{log}");
    let with_ifnd: ComparisonTable = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    for (before, after) in main.rows.iter().zip(&with_ifnd.rows) {
        assert_eq!(serde_json::to_value(&before.report).unwrap(), serde_json::to_value(&after.report).unwrap(), "{}", before.model);
    }
    for stage in ["== geometry", "== corruptions", "== table 5 robustness"] {
        assert!(!log.contains(stage), "{stage} ran again: {log}");
    }
    let main: ComparisonTable = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(main.rows.last().unwrap().model, "simclr-ifnd");
    assert_eq!(main.rows.len(), 7);
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert_eq!(row(&md, "Gap closed (Table 4 layout)", "simclr-ifnd").len(), 1 + main.attacks.len());
    row(&md, "Verdicts (the paper's claims)", "Table 4: A-FNC 0.99 -> 0.7 above IFND under every attack");

    // --table5-head standard: Table 5 is evaluated again, on the runs' own classifiers, and
    // nothing else runs again.
    let mut standard = with(&args, "5");
    standard.truncate(standard.len() - 2);
    standard.extend(["--table5-head", "standard"]);
    let fifth = run(&standard);
    assert_success(&fifth);
    let log = String::from_utf8_lossy(&fifth.stderr);
    assert!(!log.contains("== table 5 classifier"), "{log}");
    assert_eq!(evaluated(&log), RUNS.map(|r| named(r, &format!("{r}/model.bpk"))));
    assert_eq!(trained(&log), Vec::<String>::new(), "{log}");
    let head: HeadRecipe = serde_json::from_str(&std::fs::read_to_string(out.join("table5-head.json")).unwrap()).unwrap();
    assert_eq!(head, HeadRecipe { mode: LinearEvalMode::Standard, epochs: None });
    let table: ComparisonTable = serde_json::from_str(&std::fs::read_to_string(out.join("table5.json")).unwrap()).unwrap();
    assert_eq!(clean_in(&table, "acl"), clean_of(&out.join("acl/model.bpk")), "acl: its run's own classifier");
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert!(md.contains("ACL's and A-ACL's by standard linear evaluation (frozen backbone, linear head on clean features), the runs' linear-evaluation epochs"), "{md}");
    assert_user_error(&run(&[&standard[..standard.len() - 1], &["robust"]].concat()), "--table5-head: training: unknown linear evaluation mode 'robust'");

    // Back to adversarial heads without --table5-head-epochs: the 2-epoch heads on disk are not
    // the runs' linear-evaluation epochs (1), so they are trained again.
    let mut default_epochs = with(&args, "5");
    default_epochs.truncate(default_epochs.len() - 2);
    let sixth = run(&default_epochs);
    assert_success(&sixth);
    let log = String::from_utf8_lossy(&sixth.stderr);
    assert_eq!(log.matches("== table 5 classifier of ").count(), 4, "{log}");
    for r in &RUNS[1..] {
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(r).join("adversarial/linear_eval.json")).unwrap()).unwrap();
        assert_eq!(config["config"]["epochs"], 1, "{r}: the run's linear-evaluation epochs");
    }
    assert_eq!(evaluated(&log), [named("simclr", "simclr/model.bpk"), named("rocl", "rocl/adversarial/model.bpk"), named("a-rocl", "a-rocl/adversarial/model.bpk"), named("acl", "acl/adversarial/model.bpk"), named("a-acl", "a-acl/adversarial/model.bpk")]);
    eprintln!("reproduce --tables 5, again, 1,5, 4,5, 5 with standard heads and with default epochs took {:.1} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
}
