//! `hypersphere reproduce --table 2` end to end: two fixture ImageNet checkpoints (a DINO ViT-S/16
//! with its linear head and a torchvision ResNet-50, shrunk; `scripts/make_imagenet_fixtures.py`) on a generated
//! validation folder in the ImageNet layout and an ImageNet-C folder with two corruptions.
//!
//! The validation images are labelled with the ViT's own predictions (computed here through
//! core, on the same standard preprocessing), so its clean accuracy must come out 100%: a wrong
//! class index, preprocessing or checkpoint reading anywhere in the command would show. The
//! table's Markdown is checked cell by cell against its JSON, the relative drops against the
//! accuracies, and Figure 3's accuracies against the ViT's predictions on the corrupted
//! images computed here.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::{assert_success, assert_user_error, fixture, run, scratch};
use hypersphere_core::corruptions::Corruption;
use hypersphere_core::data::batch::to_tensor;
use hypersphere_core::data::decode::encode_png;
use hypersphere_core::data::imagenet::{Preprocess, WNIDS};
use hypersphere_core::evaluate::imagenet_table::ImageNetTable;
use hypersphere_core::metrics::predictions;
use hypersphere_core::models::import::{LoadOptions, load_checkpoint};
use hypersphere_core::models::{Arch, Classifier, ModelConfig};

const SIZE: usize = 48;
const RAW: u32 = 60;
const IMAGES: usize = 24;

/// The fixture DINO ViT-S/16 (4 blocks, width 48) with its class-token + mean-patch linear head:
/// of the fixture networks, the one whose prediction varies with the input.
fn dino() -> Classifier {
    let config = ModelConfig { width: 48, depth: Some(4), input_size: SIZE, ..ModelConfig::new(Arch::VitS16, 10) };
    let options = LoadOptions { format: None, head: Some(fixture("imagenet/vit_s_dino_linearavg.pth").into()) };
    load_checkpoint(config, Path::new(&fixture("imagenet/vit_s_dino.pth")), &options, &Device::flex()).unwrap().model
}

/// Top-1 predictions of `model` on `[n, SIZE, SIZE, 3]` bytes.
fn predict(model: &Classifier, pixels: &[u8]) -> Vec<usize> {
    let n = pixels.len() / (SIZE * SIZE * 3);
    let logits = model.forward(to_tensor(pixels, n, SIZE, SIZE, &Device::flex()));
    predictions(logits).into_data().iter::<i64>().map(|v| v as usize).collect()
}

/// Uniform noise images (as the fixtures' reference inputs, where these networks' logits vary)
/// with a per-image mean, `RAW` x `RAW` PNGs (deterministic).
fn images() -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..IMAGES)
        .map(|i| {
            let low = (i * 96 / IMAGES) as u64;
            let rgb: Vec<u8> = (0..RAW * RAW * 3).map(|_| (low + next() % 160) as u8).collect();
            encode_png(&rgb, RAW, RAW).unwrap()
        })
        .collect()
}

#[test]
fn table2_evaluates_checkpoints_and_imagenet_c() {
    let dir = scratch("table2");
    let model = dino();
    let wnids: Vec<&str> = WNIDS.lines().collect();
    // The crops the command will make (standard preprocessing scaled to 48: resize 54, crop 48).
    let preprocess = Preprocess::ResizeCrop { resize: (SIZE * 256 / 224) as u32, crop: SIZE as u32 };
    let pngs = images();
    let crops: Vec<u8> = pngs.iter().flat_map(|p| preprocess.apply(p).unwrap()).collect();
    let labels = predict(&model, &crops);
    let corruptions = [Corruption::GaussianNoise, Corruption::Fog];
    let mut corrupted: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); corruptions.len()];
    for (i, png) in pngs.iter().enumerate() {
        let wnid = wnids[labels[i]];
        let class = dir.join("val").join(wnid);
        std::fs::create_dir_all(&class).unwrap();
        std::fs::write(class.join(format!("ILSVRC2012_val_{i:08}.png")), png).unwrap();
        let crop = &crops[i * SIZE * SIZE * 3..(i + 1) * SIZE * SIZE * 3];
        for (k, c) in corruptions.iter().enumerate() {
            let bad = c.apply(crop, SIZE, SIZE, 1, i as u64);
            let folder = dir.join("imagenet-c").join(c.name()).join("1").join(wnid);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(format!("ILSVRC2012_val_{i:08}.png")), encode_png(&bad, SIZE as u32, SIZE as u32).unwrap()).unwrap();
            corrupted[k].push((i, bad));
        }
    }
    let dino_spec = format!(
        "dino={},arch=vit-s16,width=48,depth=4,input-size={SIZE},head={}",
        fixture("imagenet/vit_s_dino.pth"),
        fixture("imagenet/vit_s_dino_linearavg.pth")
    );
    let r50 = format!("r50={},arch=resnet50-imagenet,width=2,input-size={SIZE}", fixture("imagenet/r50_torchvision.pth"));
    let out = dir.join("out");
    let (val, c_dir, out_s) = (dir.join("val").display().to_string(), dir.join("imagenet-c").display().to_string(), out.display().to_string());
    let args = [
        "reproduce", "--table", "2", "--data", &val, "--imagenet-c", &c_dir, "--out", &out_s, "--model", &dino_spec, "--model", &r50,
        "--attack", "fgsm:linf:1/255,8/255", "--attack", "pgd:linf:128/255:10", "--device", "flex", "--batch-size", "10",
    ];
    let first = run(&args);
    assert_success(&first);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("note:") && stderr.contains("shot_noise"), "the missing corruptions are named: {stderr}");

    let table: ImageNetTable = serde_json::from_str(&std::fs::read_to_string(out.join("table2.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("table2.md")).unwrap();
    assert_eq!(table.images, IMAGES);
    let rows = &table.attacks.rows;
    assert_eq!(rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), ["dino", "r50"]);
    assert_eq!(rows[0].report.clean_accuracy, 1.0, "the labels are the ViT's predictions");
    assert_eq!(table.attacks.attacks, ["fgsm:linf:1/255", "fgsm:linf:8/255", "pgd:linf:128/255:10"]);
    for row in rows {
        let cells: Vec<String> = std::iter::once(format!("{:.2}", 100.0 * row.report.clean_accuracy))
            .chain(row.report.attacks.iter().map(|a| format!("{:.2} (-{:.1}%)", 100.0 * a.accuracy, 100.0 * a.p_drop)))
            .collect();
        assert!(md.contains(&format!("| {} | {} |", row.model, cells.join(" | "))), "{}: {cells:?} not in\n{md}", row.model);
        for a in &row.report.attacks {
            // (clean - acc) / clean; 0 for a model with no correct clean image
            let clean = row.report.clean_accuracy;
            let drop = if clean > 0.0 { (clean - a.accuracy) / clean } else { 0.0 };
            assert!((a.p_drop - drop).abs() < 1e-9, "{}: {}", row.model, a.spec);
        }
    }
    // The attacks flip some of the ViT's predictions (the drop cells are not all zero) and the
    // largest radius at least as many as FGSM at 1/255.
    let dino_attacks = &rows[0].report.attacks;
    assert!(dino_attacks[2].p_drop > 0.0 && dino_attacks[2].accuracy <= dino_attacks[0].accuracy, "labels {labels:?}:\n{md}");

    // Figure 3: the ViT's accuracy on each corrupted folder, from its predictions here.
    assert_eq!(table.severity, Some(1));
    let dino_c = &table.corruptions[0];
    assert_eq!(dino_c.cells.iter().map(|c| c.corruption.as_str()).collect::<Vec<_>>(), ["gaussian_noise", "fog"]);
    for (k, cell) in dino_c.cells.iter().enumerate() {
        let pixels: Vec<u8> = corrupted[k].iter().flat_map(|(_, b)| b.clone()).collect();
        let hits = predict(&model, &pixels).iter().zip(&labels).filter(|(p, l)| p == l).count();
        assert_eq!(cell.images, IMAGES);
        assert!((cell.accuracy - hits as f64 / IMAGES as f64).abs() < 1e-12, "{}: {} vs {hits}/{IMAGES}", cell.corruption, cell.accuracy);
        assert!((cell.relative_drop - (1.0 - cell.accuracy)).abs() < 1e-12);
    }
    let fig = format!("| dino | 100.00 | {:.1} | {:.1} | {:.1} |", 100.0 * dino_c.cells[0].relative_drop, 100.0 * dino_c.cells[1].relative_drop, 100.0 * dino_c.mean_relative_drop);
    assert!(md.contains(&fig), "{fig} not in\n{md}");
    assert_eq!(table.corruptions[1].model, "r50");

    // Running the same command again reuses every stage and writes the same tables.
    let again = run(&args);
    assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("dino: attacks done already") && !stderr.contains("== dino: ImageNet-C"), "{stderr}");
    assert_eq!(std::fs::read_to_string(out.join("table2.md")).unwrap(), md);

    // One-line errors before any work.
    let bad_flag = r50.replace("width=2", "epochs=2");
    assert_user_error(&run(&["reproduce", "--table", "2", "--data", &val, "--model", &bad_flag]), "unknown flag 'epochs'");
    assert_user_error(&run(&["reproduce", "--table", "2", "--data", &val, "--model", "x=missing.pth"]), "weights file missing.pth of model 'x' does not exist");
    assert_user_error(&run(&["reproduce", "--table", "2", "--data", &val]), "needs --model");
    assert_user_error(&run(&["reproduce", "--table", "3"]), "--table 3");
    assert_user_error(&run(&["reproduce", "--table", "2", "--data", &val, "--model", &r50, "--imagenet-c", &val]), "no <corruption>/1/ folders");
    std::fs::remove_dir_all(&dir).unwrap();
}
