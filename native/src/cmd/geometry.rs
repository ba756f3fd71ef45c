//! `hypersphere geometry`: class separation (inter/intra-class cosine distance ratio, the
//! paper's Figure 2), alignment and uniformity of the backbone features of one or more models
//! on the same test images. `--json` writes an array of `hypersphere_core::results::GeometryResult`
//! (the type the study report reads).

use std::path::PathBuf;

use anyhow::Result;
use hypersphere_core::data::Split;
use hypersphere_core::data::batch::BatchOrder;
use hypersphere_core::data::views::{ViewConfig, contrastive_views};
use hypersphere_core::geometry::{TsneConfig, alignment, class_separation, extract_features, tsne_2d, uniformity};
use hypersphere_core::results::{GeometryResult, TsnePicture};
use burn::module::Module;
use burn::tensor::Tensor;

use crate::device::DeviceArgs;
use crate::model_files::{ModelsArgs, write_atomic};
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub models: ModelsArgs,
    /// Dataset (its test split): a path, `procedural[:N]`, or `cifar10`/`cifar100` (the fetched copy, fetched when absent).
    #[arg(long)]
    pub data: String,
    /// Use a class-balanced subset of this many test images (the same for every model).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Points in the t-SNE picture of each model (a class-balanced subsample, the same for
    /// every model; 0 turns it off).
    #[arg(long, default_value_t = 1000)]
    pub tsne: usize,
    /// Write the results (with the per-class distance matrices) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of the subset and of the views used for alignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    args.models.check_exist()?;
    let selected = args.device.select()?;
    let device = selected.device.clone();
    let set = super::load_split(&args.data, Split::Test, args.limit, args.seed)?;
    let classes = set.class_names.len();
    // The t-SNE subsample: the same images for every model.
    let picture_set = (args.tsne > 0).then(|| if args.tsne < set.len() { set.subset(args.tsne, args.seed) } else { set.clone() });
    let pb = bar(args.models.models.len() as u64, "models");
    pb.set_prefix("geometry");
    let mut results = Vec::new();
    for path in &args.models.models {
        let model = args.models.load(path, &device)?.valid();
        pb.set_message(path.display().to_string());
        let features = extract_features(&model, &set, 256, &device);
        let separation = class_separation(features.clone(), &set.labels, classes, &device)?;
        let uniformity = uniformity(features, 2.0);
        // Positive pairs: two random views of every image, embedded by the same backbone.
        let order = BatchOrder::sequential(set.len(), 256);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, indices) in order.batches().enumerate() {
            let views = contrastive_views(&set, indices, &ViewConfig::simclr(), 2, args.seed.wrapping_add(i as u64), &device);
            let f = model.features(views);
            let n = indices.len();
            a.push(f.clone().slice([0..n]));
            b.push(f.slice([n..2 * n]));
        }
        let alignment = alignment(Tensor::cat(a, 0), Tensor::cat(b, 0), 2.0);
        let tsne = match &picture_set {
            Some(p) => {
                let f = extract_features(&model, p, 256, &device);
                let dim = f.dims()[1];
                let rows = f.into_data().iter::<f32>().collect::<Vec<_>>();
                let config = TsneConfig { seed: args.seed, ..TsneConfig::default() };
                let points = tsne_2d(&rows, dim, &config)?;
                Some(TsnePicture { points, labels: p.labels.clone(), class_names: p.class_names.clone() })
            }
            None => None,
        };
        results.push(GeometryResult { model: path.display().to_string(), images: set.len(), separation, alignment, uniformity, tsne });
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!("Representation geometry on {} test images of {} ({} classes)", set.len(), args.data, classes);
    println!("| model | inter-class distance | intra-class distance | ratio (inter/intra) | alignment | uniformity |");
    println!("|---|---|---|---|---|---|");
    for g in &results {
        println!(
            "| {} | {:.4} | {:.4} | {:.3}x | {:.4} | {:.4} |",
            g.model, g.separation.inter, g.separation.intra, g.separation.ratio, g.alignment, g.uniformity
        );
    }
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&results)?.as_bytes())?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
