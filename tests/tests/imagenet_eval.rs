//! `eval` on ImageNet-layout folders (`imagenet:DIR`, `DIR/<wnid>/<image>`) with the ImageNet
//! fixture checkpoints of `scripts/make_imagenet_fixtures.py`: a timm ViT and a DINO backbone
//! with its separate linear head, both preprocessing modes, and the one-line errors (a backbone
//! without its head, a ViT on images of another size).

mod common;

use common::*;
use hypersphere_core::data::decode::encode_png;
use serde_json::Value;

/// Two classes (the first two ImageNet-1k wnids, so the 10-class fixtures cover the labels),
/// two `side` x `side2` images each.
fn folder(name: &str, side: u32, side2: u32) -> std::path::PathBuf {
    let dir = scratch(name);
    for (c, wnid) in ["n01440764", "n01443537"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(wnid)).unwrap();
        for i in 0..2u32 {
            let rgb: Vec<u8> = (0..side * side2 * 3).map(|p| ((p * (7 + i) + 40 * c as u32) % 251) as u8).collect();
            std::fs::write(dir.join(wnid).join(format!("img{i}.png")), encode_png(&rgb, side2, side).unwrap()).unwrap();
        }
    }
    dir
}

fn imagenet(name: &str) -> String {
    fixture(&format!("imagenet/{name}"))
}

#[test]
fn eval_runs_imagenet_checkpoints_on_an_imagenet_folder() {
    let dir = folder("imagenet-48", 48, 48);
    let data = format!("imagenet:{}", dir.display());
    let json = dir.join("out.json");
    let vit = |weights: &str, extra: &[&str]| {
        let mut args = vec![
            "eval", "--width", "48", "--input-size", "48", "--weights", weights, "--data", &data, "--preprocess", "none",
            "--attack", "fgsm:linf:1/255", "--device", "flex", "--json", json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let timm = imagenet("vit_ti_timm.safetensors");
    let out = vit(&timm, &["--arch", "vit-ti16", "--depth", "2"]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("as a timm checkpoint") && stderr.contains("ImageNet mean/std"), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 4, "{report}");
    assert_eq!(report["normalization"]["mean"][0].as_f64().map(|m| (m * 1e3).round()), Some(485.0), "{report}");

    let dino = imagenet("vit_s_dino.pth");
    let head = imagenet("vit_s_dino_linear4.pth");
    let out = vit(&dino, &["--arch", "vit-s16", "--depth", "4", "--head", &head]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("as a dino checkpoint"));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 4, "{report}");

    // Without its head the DINO backbone cannot classify: one line says what to add.
    let out = vit(&dino, &["--arch", "vit-s16", "--depth", "4"]);
    assert_user_error(&out, "with --head FILE");
    // A head of the wrong size names the file.
    let out = vit(&dino, &["--arch", "vit-s16", "--depth", "4", "--head", &imagenet("r50_byol_head.pth")]);
    assert_user_error(&out, "r50_byol_head.pth");
    // A ViT built for 48x48 inputs refuses 32x32 images instead of failing inside the network.
    let out = run(&[
        "eval", "--arch", "vit-ti16", "--width", "48", "--depth", "2", "--input-size", "48", "--weights", &timm,
        "--data", "procedural:8", "--attack", "fgsm:linf:1/255", "--device", "flex",
    ]);
    assert_user_error(&out, "built for 48x48 inputs");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn standard_preprocessing_resizes_and_crops_to_the_model() {
    // 60x80 images: shorter side to 48·256/224 = 54, centre crop 48.
    let dir = folder("imagenet-60x80", 60, 80);
    let data = format!("imagenet:{}", dir.display());
    let json = dir.join("out.json");
    let out = run(&[
        "eval", "--arch", "resnet50-imagenet", "--width", "2", "--input-size", "48", "--weights", &imagenet("r50_torchvision.pth"),
        "--data", &data, "--limit", "3", "--attack", "fgsm:linf:1/255", "--device", "flex", "--json", json.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 3, "{report}");
    // Preprocessing 'none' needs images at the model's size and says which file is not.
    let out = run(&[
        "eval", "--arch", "resnet50-imagenet", "--width", "2", "--input-size", "48", "--weights", &imagenet("r50_torchvision.pth"),
        "--data", &data, "--preprocess", "none", "--attack", "fgsm:linf:1/255", "--device", "flex",
    ]);
    assert_user_error(&out, "not 48x48");
    std::fs::remove_dir_all(&dir).unwrap();
}
