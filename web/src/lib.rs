//! The browser face of hypersphere-core: several bundled models side by side on one device
//! (WebGPU when the browser offers it, otherwise Flex on the CPU). The page's Web Worker
//! (`web/worker.js`) owns one [`Lab`] and calls it for every request:
//!
//! - [`Lab::prepare`], [`Lab::corrupt`]: the model-sized input image, optionally corrupted
//!   with one of core's 15 CIFAR-10-C corruptions;
//! - [`Lab::classify`], [`Lab::attack`]: top-5 before and after FGSM / PGD (l_inf, l_2) /
//!   APGD-CE, targeted or not, with the adversarial image and the amplified perturbation;
//! - [`Lab::min_flip_eps`]: the smallest radius that flips a model, by bisection;
//! - [`Lab::load_batch`], [`Lab::batch_correct`]: accuracy on the bundled test batch, chunk by
//!   chunk, for the robustness curve;
//! - [`Lab::geometry`], [`Lab::embed`], [`Lab::batch_png`]: the geometry panel: each model's
//!   class separation, alignment and uniformity on the batch (as `hypersphere geometry`
//!   computes them), a t-SNE map of its features, and where an uploaded (or adversarial) image
//!   falls on that map.

mod readback;
mod request;
mod weights;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::attacks::{self, AttackSpec};
use hypersphere_core::corruptions::{check_severity, Corruption};
use hypersphere_core::data::batch::{to_bytes, to_tensor};
use hypersphere_core::data::decode::{decode_rgb, encode_png};
use hypersphere_core::data::ImageSet;
use hypersphere_core::data::image_folder::from_tar_gz;
use hypersphere_core::data::views::{ViewConfig, contrastive_views};
use hypersphere_core::geometry::{TsneConfig, alignment, class_separation, tsne_2d, uniformity};
use hypersphere_core::metrics::perturbation_norms;
use hypersphere_core::models::{Classifier, ModelConfig};
use readback::{predictions, read, top5, Prediction};
use request::AttackRequest;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_time::Instant;

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// What [`Lab::attack`] reports (as JSON, with the images as separate byte arrays).
#[derive(Serialize)]
struct AttackSummary {
    spec: String,
    clean: Vec<Prediction>,
    adversarial: Vec<Prediction>,
    /// The class the attack moved away from (the clean prediction) or towards (the target).
    label: usize,
    target: Option<usize>,
    /// Untargeted: the top-1 class changed; targeted: the top-1 class is the target.
    flipped: bool,
    linf: f32,
    l2: f32,
    milliseconds: f64,
}

/// What [`Lab::min_flip_eps`] reports.
#[derive(Serialize)]
struct MinFlip {
    /// The smallest radius (in the request's units) at which the attack succeeds, or `None` when
    /// it fails even at the largest radius tried.
    eps: Option<f32>,
    /// Attacks run by the bisection.
    attacks: usize,
    milliseconds: f64,
}

/// What [`Lab::geometry`] reports.
#[derive(Serialize)]
struct Geometry {
    /// t-SNE coordinates of the batch images' features, in batch order.
    points: Vec<[f32; 2]>,
    labels: Vec<usize>,
    class_names: Vec<String>,
    /// Mean cosine distance between images of different classes / of the same class.
    inter: f64,
    intra: f64,
    ratio: f64,
    /// Wang & Isola's alignment (two SimCLR views per image, seeded) and uniformity (t = 2).
    alignment: f64,
    uniformity: f64,
    milliseconds: f64,
}

/// A model's map: its batch features (row-major, `dim` wide) and their 2-D positions.
struct FeatureMap {
    rows: Vec<f32>,
    dim: usize,
    points: Vec<[f32; 2]>,
}

/// What [`Lab::embed`] reports: where an image falls on a model's map.
#[derive(Serialize)]
struct Placement {
    x: f32,
    y: f32,
    /// The class of its most similar batch image.
    nearest_class: usize,
}

/// Neighbours an out-of-sample image is placed among (t-SNE has no mapping for new points).
const PLACEMENT_NEIGHBOURS: usize = 5;

/// A model with its name.
struct NamedModel {
    name: String,
    model: Classifier,
}

/// The result of an attack: a JSON summary and two PNG images.
#[wasm_bindgen(getter_with_clone)]
pub struct AttackOutput {
    /// JSON: spec, clean / adversarial top-5, label, target, flipped, linf, l2, milliseconds.
    pub summary: String,
    /// The adversarial image as PNG bytes.
    pub adversarial_png: Vec<u8>,
    /// The perturbation, amplified to fill [0, 1] (0.5 grey = no change), as PNG bytes.
    pub perturbation_png: Vec<u8>,
}

/// Models on one device, the image size they share, and the bundled test batch.
#[wasm_bindgen]
pub struct Lab {
    device: Device,
    backend: String,
    models: Vec<NamedModel>,
    batch: Option<(Tensor<4>, Vec<usize>)>,
    /// The batch's images on the host (views for alignment, PNGs for the map's hover).
    batch_set: Option<ImageSet>,
    /// Per model, its map once [`Lab::geometry`] drew it (interior mutability: requests run
    /// concurrently in the worker).
    maps: std::cell::RefCell<Vec<Option<FeatureMap>>>,
}

#[wasm_bindgen]
impl Lab {
    /// A lab on `backend`: "webgpu", "cpu" or "auto" (WebGPU when available, else CPU).
    pub async fn create(backend: String) -> Result<Lab, JsError> {
        console_error_panic_hook::set_once();
        let (device, backend) = match backend.as_str() {
            "cpu" => (Device::flex(), "CPU (Flex)".to_string()),
            "webgpu" => webgpu().await?,
            "auto" => match webgpu().await {
                Ok(found) => found,
                Err(_) => (Device::flex(), "CPU (Flex, no WebGPU)".to_string()),
            },
            other => return Err(js_err(format!("unknown backend '{other}' (webgpu, cpu, auto)"))),
        };
        Ok(Lab { device, backend, models: Vec::new(), batch: None, batch_set: None, maps: Default::default() })
    }

    /// Which backend runs the models, e.g. "WebGPU: SwiftShader Device" or "CPU (Flex)".
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Loads burnpack `weights` (f32, or f16 matrices as `dist/` stores them: widened to f32)
    /// with their JSON `config` under `name`; returns its index.
    pub fn add_model(&mut self, name: String, weights: Vec<u8>, config: String) -> Result<usize, JsError> {
        let config: ModelConfig = serde_json::from_str(&config).map_err(|e| js_err(format!("{name}: model config: {e}")))?;
        if let Some(first) = self.models.first() {
            let (a, b) = (first.model.config().input_size, config.input_size);
            if a != b {
                return Err(js_err(format!("{name}: input size {b} differs from {}'s {a}", first.name)));
            }
        }
        let weights = weights::widen_f16(weights).map_err(|e| js_err(format!("{name}: {e}")))?;
        let model = Classifier::from_burnpack(config, weights, &self.device).map_err(|e| js_err(format!("{name}: {e}")))?;
        self.models.push(NamedModel { name, model });
        Ok(self.models.len() - 1)
    }

    /// The image the models see: any image file decoded and resized to the input size, as PNG.
    pub fn prepare(&self, image: Vec<u8>) -> Result<Vec<u8>, JsError> {
        let size = self.input_size()?;
        encode_png(&decode_rgb(&image, size as u32).map_err(js_err)?, size as u32, size as u32).map_err(js_err)
    }

    /// The input image with a CIFAR-10-C corruption (`name`, severity 1-5, `seed`), as PNG.
    pub fn corrupt(&self, image: Vec<u8>, name: String, severity: u32, seed: u32) -> Result<Vec<u8>, JsError> {
        let size = self.input_size()?;
        let corruption: Corruption = name.parse().map_err(js_err)?;
        let severity = check_severity(severity as i64).map_err(js_err)?;
        let rgb = decode_rgb(&image, size as u32).map_err(js_err)?;
        let out = corruption.apply(&rgb, size, size, severity, seed as u64);
        encode_png(&out, size as u32, size as u32).map_err(js_err)
    }

    /// Top-5 predictions of model `index` for an image file, as JSON.
    pub async fn classify(&self, index: usize, image: Vec<u8>) -> Result<String, JsError> {
        let model = &self.model(index)?.model;
        let x = self.load(&image)?;
        serde_json::to_string(&top5(model, x).await?).map_err(js_err)
    }

    /// Attacks an image file with model `index` as the victim; `request` is the JSON of an
    /// attack request (`{"attack": "pgd", "eps": 0.031, "steps": 10, "seed": 0, "target": 3}`).
    /// Untargeted attacks move away from the clean prediction.
    pub async fn attack(&self, index: usize, image: Vec<u8>, request: String) -> Result<AttackOutput, JsError> {
        let request = AttackRequest::from_json(&request).map_err(js_err)?;
        let spec = request.spec().map_err(js_err)?;
        let model = &self.model(index)?.model;
        let x = self.load(&image)?;
        let start = Instant::now();
        let clean = top5(model, x.clone()).await?;
        let label = request.target.unwrap_or(clean[0].label);
        let adv = self.perturb(model, &spec, request.seed, x.clone(), label);
        let adversarial = top5(model, adv.clone()).await?;
        let size = model.config().input_size;
        let adv_values = read(adv).await?;
        let x_values = read(x).await?;
        let milliseconds = start.elapsed().as_secs_f64() * 1e3;
        let (linf, l2) = perturbation_norms(&adv_values, &x_values);
        let scale = if linf > 0.0 { 0.5 / linf } else { 0.0 };
        let amplified: Vec<f32> = adv_values.iter().zip(&x_values).map(|(a, b)| 0.5 + (a - b) * scale).collect();
        let png = |values: &[f32]| encode_png(&to_bytes(values, 1, size, size), size as u32, size as u32).map_err(js_err);
        let flipped = attacks::succeeded(request.target, clean[0].label, adversarial[0].label);
        let summary =
            AttackSummary { spec: spec.spec, label, target: request.target, flipped, clean, adversarial, linf, l2, milliseconds };
        Ok(AttackOutput {
            summary: serde_json::to_string(&summary).map_err(js_err)?,
            adversarial_png: png(&adv_values)?,
            perturbation_png: png(&amplified)?,
        })
    }

    /// The smallest radius `k * unit` (`k` = 1..=`max_steps`) at which the attack of `request`
    /// succeeds on model `index`, found by bisection on `k` (success is taken as monotone in
    /// the radius, as it is for the worst case). JSON: `{"eps": 0.0157 | null, "attacks": 6, ...}`.
    pub async fn min_flip_eps(&self, index: usize, image: Vec<u8>, request: String, unit: f32, max_steps: u32) -> Result<String, JsError> {
        let request = AttackRequest::from_json(&request).map_err(js_err)?;
        let model = &self.model(index)?.model;
        let x = self.load(&image)?;
        let start = Instant::now();
        let clean = predictions(model, x.clone()).await?[0];
        let label = request.target.unwrap_or(clean);
        if request.target == Some(clean) {
            let found = MinFlip { eps: Some(0.0), attacks: 0, milliseconds: 0.0 };
            return serde_json::to_string(&found).map_err(js_err);
        }
        let mut attacks = 0;
        let mut succeeds = async |k: u32| -> Result<bool, JsError> {
            attacks += 1;
            let spec = request.with_eps(k as f32 * unit).spec().map_err(js_err)?;
            let adv = self.perturb(model, &spec, request.seed, x.clone(), label);
            Ok(attacks::succeeded(request.target, clean, predictions(model, adv).await?[0]))
        };
        // Invariant: the attack fails at `lo` (0 = the clean image) and succeeds at `hi`.
        let (mut lo, mut hi) = (0u32, max_steps.max(1));
        let eps = if succeeds(hi).await? {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if succeeds(mid).await? { hi = mid } else { lo = mid }
            }
            Some(hi as f32 * unit)
        } else {
            None
        };
        let found = MinFlip { eps, attacks, milliseconds: start.elapsed().as_secs_f64() * 1e3 };
        serde_json::to_string(&found).map_err(js_err)
    }

    /// Loads the bundled test batch (an image-folder `.tar.gz`); returns its size.
    pub fn load_batch(&mut self, archive: Vec<u8>) -> Result<usize, JsError> {
        let size = self.input_size()?;
        let set = from_tar_gz(archive.as_slice(), "test", size as u32, "test batch").map_err(js_err)?;
        let images = to_tensor(&set.pixels, set.len(), size, size, &self.device);
        let n = set.len();
        self.batch = Some((images, set.labels.clone()));
        self.batch_set = Some(set);
        Ok(n)
    }

    /// How many of the batch images `start..start + len` model `index` still classifies
    /// correctly under the (untargeted) attack of `request` (eps 0: clean accuracy).
    pub async fn batch_correct(&self, index: usize, request: String, start: usize, len: usize) -> Result<usize, JsError> {
        let mut request = AttackRequest::from_json(&request).map_err(js_err)?;
        request.target = None;
        let model = &self.model(index)?.model;
        let (images, labels) = self.batch.as_ref().ok_or_else(|| js_err("no test batch loaded"))?;
        let end = (start + len).min(labels.len());
        if start >= end {
            return Err(js_err(format!("batch range {start}..{} is empty (batch of {})", start + len, labels.len())));
        }
        let x = images.clone().slice(start..end);
        let labels = &labels[start..end];
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]), &self.device);
        let spec = request.spec().map_err(js_err)?;
        let adv = attacks::build(&spec).perturb(model, x, y, request.seed as u64);
        let predicted = predictions(model, adv).await?;
        Ok(predicted.iter().zip(labels).filter(|(p, l)| p == l).count())
    }
}

#[wasm_bindgen]
impl Lab {
    /// The geometry of model `index`'s backbone features on the test batch, as JSON
    /// ([`Geometry`]): class separation (inter/intra mean cosine distance, the paper's Section
    /// 4.1), alignment over two SimCLR views per image (`seed`), uniformity, and a t-SNE map
    /// that [`Lab::embed`] then places images on. The statistics run on Flex (CPU) from the
    /// features read back, with core's functions, so they equal `hypersphere geometry` on the
    /// same images.
    pub async fn geometry(&self, index: usize, seed: u32) -> Result<String, JsError> {
        let started = Instant::now();
        let model = &self.model(index)?.model;
        let (images, labels) = self.batch.as_ref().ok_or_else(|| js_err("no test batch loaded"))?;
        let set = self.batch_set.as_ref().ok_or_else(|| js_err("no test batch loaded"))?;
        let n = labels.len();
        let rows = read(model.features(images.clone())).await?;
        let dim = rows.len() / n.max(1);
        let cpu = Device::flex();
        let features = Tensor::<2>::from_data(TensorData::new(rows.clone(), [n, dim]), &cpu);
        let separation = class_separation(features.clone(), labels, set.class_names.len(), &cpu).map_err(js_err)?;
        let uniformity = uniformity(features, 2.0);
        let indices: Vec<usize> = (0..n).collect();
        let views = contrastive_views(set, &indices, &ViewConfig::simclr(), 2, seed as u64, &self.device);
        let view_rows = read(model.features(views)).await?;
        let (a, b) = view_rows.split_at(n * dim);
        let pair = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, dim]), &cpu);
        let alignment = alignment(pair(a), pair(b), 2.0);
        let points = tsne_2d(&rows, dim, &TsneConfig { seed: seed as u64, ..TsneConfig::default() }).map_err(js_err)?;
        let mut maps = self.maps.borrow_mut();
        if maps.len() <= index {
            maps.resize_with(index + 1, || None);
        }
        maps[index] = Some(FeatureMap { rows, dim, points: points.clone() });
        let out = Geometry {
            points,
            labels: labels.clone(),
            class_names: set.class_names.clone(),
            inter: separation.inter,
            intra: separation.intra,
            ratio: separation.ratio,
            alignment,
            uniformity,
            milliseconds: started.elapsed().as_secs_f64() * 1e3,
        };
        serde_json::to_string(&out).map_err(js_err)
    }

    /// Where `image` (any image file, e.g. the adversarial PNG) falls on model `index`'s map:
    /// the similarity-weighted mean position of its 5 most cosine-similar batch images, as JSON
    /// ([`Placement`]). Call [`Lab::geometry`] for the model first.
    pub async fn embed(&self, index: usize, image: Vec<u8>) -> Result<String, JsError> {
        let model = &self.model(index)?.model;
        let x = self.load(&image)?;
        let f = read(model.features(x)).await?;
        let maps = self.maps.borrow();
        let map = maps.get(index).and_then(|m| m.as_ref()).ok_or_else(|| js_err(format!("model {index} has no map yet (draw the geometry first)")))?;
        if f.len() != map.dim {
            return Err(js_err(format!("feature width {} differs from the map's {}", f.len(), map.dim)));
        }
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        let fn_ = norm(&f);
        let mut sims: Vec<(f32, usize)> = map
            .rows
            .chunks(map.dim)
            .enumerate()
            .map(|(i, r)| (r.iter().zip(&f).map(|(a, b)| a * b).sum::<f32>() / (norm(r) * fn_), i))
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0));
        let near = &sims[..PLACEMENT_NEIGHBOURS.min(sims.len())];
        // Weights from similarities shifted to be positive (cosines may be negative).
        let weights: Vec<f32> = near.iter().map(|(s, _)| (s + 1.0).max(1e-6)).collect();
        let total: f32 = weights.iter().sum();
        let (mut x, mut y) = (0f32, 0f32);
        for ((_, i), w) in near.iter().zip(&weights) {
            x += w * map.points[*i][0] / total;
            y += w * map.points[*i][1] / total;
        }
        let labels = &self.batch.as_ref().ok_or_else(|| js_err("no test batch loaded"))?.1;
        serde_json::to_string(&Placement { x, y, nearest_class: labels[near[0].1] }).map_err(js_err)
    }

    /// Batch image `i` as PNG (the map shows it on hover).
    pub fn batch_png(&self, i: usize) -> Result<Vec<u8>, JsError> {
        let set = self.batch_set.as_ref().ok_or_else(|| js_err("no test batch loaded"))?;
        if i >= set.len() {
            return Err(js_err(format!("no batch image {i} (batch of {})", set.len())));
        }
        let len = set.image_len();
        encode_png(&set.pixels[i * len..(i + 1) * len], set.width as u32, set.height as u32).map_err(js_err)
    }
}

impl Lab {
    fn model(&self, index: usize) -> Result<&NamedModel, JsError> {
        self.models.get(index).ok_or_else(|| js_err(format!("no model {index} (have {})", self.models.len())))
    }

    fn input_size(&self) -> Result<usize, JsError> {
        Ok(self.models.first().ok_or_else(|| js_err("no model loaded"))?.model.config().input_size)
    }

    fn load(&self, image: &[u8]) -> Result<Tensor<4>, JsError> {
        let size = self.input_size()?;
        let rgb = decode_rgb(image, size as u32).map_err(js_err)?;
        Ok(to_tensor(&rgb, 1, size, size, &self.device))
    }

    /// Runs `spec` on one image; `label` is the class to move away from, or the target of a
    /// targeted spec.
    fn perturb(&self, model: &Classifier, spec: &AttackSpec, seed: u32, x: Tensor<4>, label: usize) -> Tensor<4> {
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![label as i64], [1]), &self.device);
        attacks::build(spec).perturb(model, x, y, seed as u64)
    }
}

async fn webgpu() -> Result<(Device, String), JsError> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| js_err(format!("WebGPU unavailable: {e}")))?;
    let info = setup.adapter.get_info();
    // Browsers often hide the adapter's name from wgpu; the page then adds `adapter.info`.
    let name = [info.name, info.driver, info.driver_info].into_iter().find(|s| !s.is_empty());
    Ok((device, name.map(|n| format!("WebGPU: {n}")).unwrap_or_else(|| "WebGPU".into())))
}
