//! `hypersphere attack`: one image file, one model, one attack; writes the adversarial image
//! (PNG) and prints both top-5 lists. Untargeted attacks move away from the model's clean
//! prediction (as the web page does), targeted ones (`--target CLASS`, with a `ce-t` loss)
//! towards CLASS, so the page and the CLI compute the same image for the same model, input,
//! attack and seed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::activation::softmax;
use burn::tensor::Tensor;
use hypersphere_core::attacks::{self, AttackSpec, Objective};
use hypersphere_core::data::batch::{labels_tensor, to_bytes, to_tensor};
use hypersphere_core::data::decode::{decode_rgb, encode_png};
use hypersphere_core::metrics::perturbation_norms;
use hypersphere_core::models::Classifier;
use hypersphere_core::results::{Prediction, top_predictions};
use serde::Serialize;

use crate::device::DeviceArgs;
use crate::model_files::{self, ArchArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model weights (`model.bpk` with its JSON, or a PyTorch / safetensors state dict).
    #[arg(long)]
    pub weights: PathBuf,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// The image to attack (any format the `image` crate reads; resized to the model's input).
    #[arg(long)]
    pub image: PathBuf,
    /// Attack spec, e.g. `pgd:linf:8/255:10`, `fgsm:linf:4/255`, `pgd:l2:0.5:20`.
    #[arg(long, default_value = "pgd:linf:8/255:10")]
    pub attack: String,
    /// Target class (index or name): a targeted attack towards it (FGSM / PGD with the `ce-t` loss).
    #[arg(long)]
    pub target: Option<String>,
    /// Seed of random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the adversarial image (PNG).
    #[arg(long, default_value = "adversarial.png")]
    pub out: PathBuf,
    /// Also write the result (spec, both top-5 lists, norms) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Serialize)]
struct Outcome {
    spec: String,
    clean: Vec<Prediction>,
    adversarial: Vec<Prediction>,
    target: Option<usize>,
    flipped: bool,
    linf: f32,
    l2: f32,
}

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading a tensor: {e:?}"))
}

fn top5(model: &Classifier, x: Tensor<4>) -> Result<Vec<Prediction>> {
    let probs = values(softmax(model.forward(x), 1))?;
    Ok(top_predictions(&probs, 5, model.config()))
}

fn parse_target(text: &str, model: &Classifier) -> Result<usize> {
    let classes = model.config().num_classes;
    if let Ok(i) = text.parse::<usize>() {
        if i < classes {
            return Ok(i);
        }
        bail!("--target {i} is not a class of this {classes}-class model");
    }
    (0..classes)
        .find(|&i| model.config().class_name(i).eq_ignore_ascii_case(text))
        .with_context(|| format!("--target '{text}' is neither a class index nor a class name of this model"))
}

/// The targeted version (`ce-t` loss) of an FGSM or PGD spec on the cross-entropy.
fn targeted(spec: &AttackSpec) -> Result<AttackSpec> {
    match spec.kind {
        attacks::AttackKind::Fgsm | attacks::AttackKind::Pgd if spec.loss == Objective::Ce => Ok(spec.with_loss(Objective::CeTargeted)?),
        _ => bail!("--target needs FGSM or PGD on the cross-entropy (they then ascend the targeted loss ce-t); '{}' is not one", spec.spec),
    }
}

pub fn run(args: Args) -> Result<()> {
    let mut spec: AttackSpec = args.attack.parse()?;
    let selected = args.device.select()?;
    let model = model_files::load(&args.weights, &args.arch, &selected.device)?;
    let size = model.config().input_size;
    let bytes = std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let rgb = decode_rgb(&bytes, size as u32).with_context(|| args.image.display().to_string())?;
    let x = to_tensor(&rgb, 1, size, size, &selected.device);
    let clean = top5(&model, x.clone())?;
    let target = args.target.as_deref().map(|t| parse_target(t, &model)).transpose()?;
    if target.is_some() && spec.loss != Objective::CeTargeted {
        spec = targeted(&spec)?;
    }
    let label = target.unwrap_or(clean[0].label);
    let y = labels_tensor(&[label], &selected.device);
    let adv = attacks::build(&spec).perturb(&model, x.clone(), y, args.seed);
    let adversarial = top5(&model, adv.clone())?;
    let adv_values = values(adv)?;
    let x_values = values(x)?;
    let (linf, l2) = perturbation_norms(&adv_values, &x_values);
    model_files::write_atomic(&args.out, &encode_png(&to_bytes(&adv_values, 1, size, size), size as u32, size as u32)?)?;
    let flipped = attacks::succeeded(target, clean[0].label, adversarial[0].label);
    let show = |p: &[Prediction]| p.iter().map(|p| format!("{} {:.1}%", p.name, 100.0 * p.probability)).collect::<Vec<_>>().join(", ");
    println!("{} on {} ({}):", spec.spec, args.image.display(), selected.runtime);
    println!("  clean:       {}", show(&clean));
    println!("  adversarial: {}", show(&adversarial));
    println!(
        "  {}; l_inf {:.2}/255, l_2 {:.3}; wrote {}",
        if flipped { "attack succeeded" } else { "attack failed" },
        255.0 * linf,
        l2,
        args.out.display()
    );
    if let Some(path) = &args.json {
        let outcome = Outcome { spec: spec.spec.clone(), clean, adversarial, target, flipped, linf, l2 };
        model_files::write_atomic(path, serde_json::to_string_pretty(&outcome)?.as_bytes())?;
    }
    Ok(())
}
