//! The ImageNet networks against torchvision/timm and the published checkpoint conventions
//! (fixtures made by `scripts/make_imagenet_fixtures.py` into `tests/fixtures/imagenet/`):
//! logits to 1e-4 for each architecture and each convention, FGSM on the ViT to 1e-5 per pixel
//! wherever PyTorch's gradient sign is meaningful, the standard networks' parameter counts, and
//! the one-line errors for a wrong architecture, an unknown layout and a head of the wrong size.

// Needs the `import` feature (PyTorch checkpoints). `cargo test --workspace` turns it on.
#[cfg(not(feature = "import"))]
compile_error!(
    "core/tests/imagenet_models.rs needs the `import` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features import`"
);

mod common;

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::models::checkpoints::CheckpointFormat;
use hypersphere_core::models::import::{LoadOptions, Loaded, load_checkpoint};
use common::assert_fgsm_matches_pytorch;
use hypersphere_core::models::{Arch, Classifier, ModelConfig, Readout};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imagenet").join(name)
}

/// A float (or integer, as f32) tensor of `reference.safetensors`.
fn reference(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture("reference.safetensors")).expect("run scripts/make_imagenet_fixtures.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let values = match view.dtype() {
        safetensors::Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        safetensors::Dtype::I64 => view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
        other => panic!("unexpected dtype {other:?}"),
    };
    (values, view.shape().to_vec())
}

fn images(name: &str, device: &Device) -> Tensor<4> {
    let (x, s) = reference(name);
    Tensor::from_data(TensorData::new(x, [s[0], s[1], s[2], s[3]]), device)
}

fn resnet() -> ModelConfig {
    ModelConfig { width: 2, input_size: 64, ..ModelConfig::new(Arch::ResNet50ImageNet, 10) }
}

fn vit(arch: Arch, depth: usize) -> ModelConfig {
    ModelConfig { width: 48, depth: Some(depth), input_size: 48, ..ModelConfig::new(arch, 10) }
}

fn load(config: ModelConfig, file: &str, head: Option<&str>, format: Option<CheckpointFormat>) -> hypersphere_core::Result<Loaded> {
    let options = LoadOptions { format, head: head.map(fixture) };
    load_checkpoint(config, &fixture(file), &options, &Device::flex())
}

fn assert_logits(model: &Classifier, inputs: &str, expected: &str) {
    let device = Device::flex();
    let got = model.forward(images(inputs, &device)).into_data().try_into_vec::<f32>().unwrap();
    let (want, shape) = reference(expected);
    assert_eq!(got.len(), want.len(), "{expected}: shape {shape:?}");
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "{expected}: logits too small to compare ({scale})");
    assert!(worst < 1e-4, "{expected}: max |logit difference| {worst} (largest logit {scale})");
}

#[test]
fn resnet50_imagenet_matches_torchvision_in_its_conventions() {
    for (file, format) in [("r50_torchvision.pth", CheckpointFormat::Torchvision), ("r50_simclr.pth", CheckpointFormat::Torchvision)] {
        let loaded = load(resnet(), file, None, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded.format, format, "{file}");
        assert_logits(&loaded.model, "r50_inputs", "r50_logits");
    }
    // Named explicitly, SimCLR's converted file reads the same.
    let simclr = load(resnet(), "r50_simclr.pth", None, Some(CheckpointFormat::SimClr)).unwrap();
    assert_logits(&simclr.model, "r50_inputs", "r50_logits");
}

#[test]
fn self_supervised_resnets_load_with_their_linear_heads() {
    let swav = load(resnet(), "r50_swav.pth", Some("r50_swav_head.pth"), None).unwrap();
    assert_eq!(swav.format, CheckpointFormat::Swav);
    assert_eq!(swav.dropped, 6, "projection head and prototypes");
    assert_logits(&swav.model, "r50_inputs", "r50_swav_logits");
    let byol = load(resnet(), "r50_byol.pth", Some("r50_byol_head.pth"), None).unwrap();
    assert_eq!(byol.format, CheckpointFormat::Byol);
    assert_logits(&byol.model, "r50_inputs", "r50_byol_logits");
    // Without the head the backbone cannot classify, and the error says so.
    let err = load(resnet(), "r50_swav.pth", None, None).unwrap_err().to_string();
    assert!(err.contains("swav backbone without") && err.contains("linear head") && !err.contains('\n'), "{err}");
}

#[test]
fn vit_matches_timm_and_moco_v3_linear_checkpoints() {
    for file in ["vit_ti_timm.safetensors", "vit_ti_moco_linear.pth"] {
        let loaded = load(vit(Arch::VitTi16, 2), file, None, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(loaded.format, CheckpointFormat::Timm, "{file}");
        assert_logits(&loaded.model, "vit_inputs", "vit_ti_logits");
    }
}

#[test]
fn fgsm_on_the_vit_matches_pytorch() {
    let device = Device::flex();
    let model = load(vit(Arch::VitTi16, 2), "vit_ti_timm.safetensors", None, None).unwrap().model;
    let x = images("vit_inputs", &device);
    let (y, _) = reference("vit_labels");
    let y = Tensor::<1, Int>::from_data(TensorData::new(y.iter().map(|&v| v as i64).collect::<Vec<_>>(), [y.len()]), &device);
    let (grad, _) = reference("vit_ti_input_grad");
    assert_fgsm_matches_pytorch(&model, x, y, &grad, &[("vit_ti_fgsm_2", "fgsm:linf:2/255"), ("vit_ti_fgsm_8", "fgsm:linf:8/255")], |n| reference(n).0, 1e-4, 0.95);
}

#[test]
fn moco_v3_and_dino_backbones_load_with_their_heads() {
    let moco = load(vit(Arch::VitB16, 2), "vit_b_mocov3.pth", Some("vit_b_mocov3_head.pth"), None).unwrap();
    assert_eq!(moco.format, CheckpointFormat::MocoV3);
    assert_eq!(moco.dropped, 4, "the projection MLP");
    assert_logits(&moco.model, "vit_inputs", "vit_b_moco_logits");
    for file in ["vit_s_dino.pth", "vit_s_dino_full.pth"] {
        for (head, readout, expected) in [
            ("vit_s_dino_linear4.pth", Readout::Dino { last_blocks: 4, avgpool: false }, "vit_s_dino_linear4_logits"),
            ("vit_s_dino_linearavg.pth", Readout::Dino { last_blocks: 1, avgpool: true }, "vit_s_dino_linearavg_logits"),
        ] {
            let dino = load(vit(Arch::VitS16, 4), file, Some(head), None).unwrap_or_else(|e| panic!("{file} + {head}: {e}"));
            assert_eq!(dino.format, CheckpointFormat::Dino, "{file}");
            assert_eq!(dino.model.config().readout, readout, "{head}");
            assert_logits(&dino.model, "vit_inputs", expected);
        }
    }
}

#[test]
fn wrong_architecture_unknown_layout_and_wrong_head_are_one_line_errors() {
    let one_line = |e: hypersphere_core::Error| {
        let e = e.to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    };
    // A ViT checkpoint for a ResNet: nothing fits; the error names tensors and the formats.
    let err = one_line(load(resnet(), "vit_ti_timm.safetensors", None, None).unwrap_err());
    assert!(err.contains("unknown checkpoint layout") && err.contains("first unmatched") && err.contains("mocov3"), "{err}");
    // The right architecture at another width: the first tensor that does not fit is named.
    let wide = ModelConfig { width: 96, ..vit(Arch::VitTi16, 2) };
    let err = one_line(load(wide, "vit_ti_timm.safetensors", None, None).unwrap_err());
    assert!(err.contains("does not fit vit-ti16") && err.contains('\''), "{err}");
    // Names from no known project.
    let dir = std::env::temp_dir().join(format!("hs-imagenet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let odd = dir.join("odd.safetensors");
    let data: Vec<u8> = [0.5f32; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &data).unwrap();
    safetensors::serialize_to_file([("trunk.stage0.w", view.clone()), ("trunk.stage1.w", view)], None, &odd).unwrap();
    let err = one_line(load_checkpoint(resnet(), &odd, &LoadOptions::default(), &Device::flex()).unwrap_err());
    assert!(err.contains("trunk.stage0.w") && err.contains("torchvision, simclr, timm, swav, byol, mocov3, dino"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    // A head of the wrong size names the file and both widths.
    let err = one_line(load(resnet(), "r50_swav.pth", Some("vit_s_dino_linear4.pth"), None).unwrap_err());
    assert!(err.contains("vit_s_dino_linear4.pth") && err.contains("takes 192 features") && err.contains("gives 64"), "{err}");
    let err = one_line(load(vit(Arch::VitS16, 4), "vit_s_dino.pth", Some("r50_byol_head.pth"), None).unwrap_err());
    assert!(err.contains("r50_byol_head.pth") && err.contains("takes 64 features"), "{err}");
    // A whole model is not a head file.
    let err = one_line(load(resnet(), "r50_swav.pth", Some("r50_torchvision.pth"), None).unwrap_err());
    assert!(err.contains("not a linear-head file"), "{err}");
    // A forced format that does not match the names.
    let err = one_line(load(resnet(), "r50_byol.pth", None, Some(CheckpointFormat::Torchvision)).unwrap_err());
    assert!(err.contains("torchvision checkpoint"), "{err}");
}

#[test]
fn standard_networks_have_the_reference_parameter_counts() {
    let device = Device::flex();
    // timm vit_small_patch16_224 (1000 classes, 224x224): 22,050,664 parameters.
    let vits = Classifier::new(ModelConfig::new(Arch::VitS16, 1000), &device).unwrap();
    assert_eq!(vits.num_params(), 22_050_664);
    assert_eq!(vits.feature_dim(), 384);
    // torchvision resnet50: 25,557,032 parameters; Burn also counts BatchNorm's running mean and
    // variance (53,120 values).
    let r50 = Classifier::new(ModelConfig::new(Arch::ResNet50ImageNet, 1000), &device).unwrap();
    assert_eq!(r50.num_params(), 25_557_032 + 53_120);
    let x = Tensor::<4>::ones([1, 3, 224, 224], &device) * 0.5;
    assert_eq!(r50.forward(x).dims(), [1, 1000]);
}
