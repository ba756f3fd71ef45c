//! The browser face of hypersphere-core: load a model, classify an uploaded image, attack it
//! with FGSM or PGD and return the adversarial image, the amplified perturbation and both
//! top-5 predictions. Runs on WebGPU when the browser offers it, otherwise on Flex (CPU).
//!
//! Every read from the device is asynchronous (`into_data_async`): synchronous reads panic in
//! the browser.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::attacks::{self, AttackSpec};
use hypersphere_core::data::batch::{to_bytes, to_tensor};
use hypersphere_core::data::decode::{decode_rgb, encode_png};
use hypersphere_core::models::{Classifier, ModelConfig};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_time::Instant;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// One entry of a top-k list.
#[derive(Serialize)]
struct Prediction {
    label: usize,
    name: String,
    probability: f32,
}

/// What `attack` returns (as JSON, with the images as separate byte arrays).
#[derive(Serialize)]
struct AttackSummary {
    spec: String,
    clean: Vec<Prediction>,
    adversarial: Vec<Prediction>,
    flipped: bool,
    linf: f32,
    l2: f32,
    milliseconds: f64,
}

/// A model on a device, ready to classify and attack.
#[wasm_bindgen]
pub struct Demo {
    model: Classifier,
    device: Device,
    backend: String,
}

/// The result of an attack: a JSON summary and two PNG images.
#[wasm_bindgen(getter_with_clone)]
pub struct AttackOutput {
    /// JSON: spec, clean / adversarial top-5, flipped, linf, l2, milliseconds.
    pub summary: String,
    /// The adversarial image as PNG bytes.
    pub adversarial_png: Vec<u8>,
    /// The perturbation, amplified to fill [0, 1] (0.5 grey = no change), as PNG bytes.
    pub perturbation_png: Vec<u8>,
}

#[wasm_bindgen]
impl Demo {
    /// Loads burnpack `weights` with their JSON `config` on `backend` ("webgpu", "cpu" or
    /// "auto": WebGPU when available, else CPU).
    pub async fn create(weights: Vec<u8>, config: String, backend: String) -> Result<Demo, JsError> {
        console_error_panic_hook::set_once();
        let config: ModelConfig = serde_json::from_str(&config).map_err(|e| js_err(format!("model config: {e}")))?;
        let (device, backend) = match backend.as_str() {
            "cpu" => (Device::flex(), "CPU (Flex)".to_string()),
            "webgpu" => webgpu().await?,
            "auto" => match webgpu().await {
                Ok(found) => found,
                Err(_) => (Device::flex(), "CPU (Flex, no WebGPU)".to_string()),
            },
            other => return Err(js_err(format!("unknown backend '{other}' (webgpu, cpu, auto)"))),
        };
        let model = Classifier::from_burnpack(config, weights, &device).map_err(js_err)?;
        Ok(Demo { model, device, backend })
    }

    /// Which backend runs the model, e.g. "WebGPU: SwiftShader Device" or "CPU (Flex)".
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Top-5 predictions for an image file (any size and format), as JSON.
    pub async fn classify(&self, image: Vec<u8>) -> Result<String, JsError> {
        let x = self.load(&image)?;
        let top = self.top5(x).await?;
        serde_json::to_string(&top).map_err(js_err)
    }

    /// Attacks an image file with `attack` ("fgsm" or "pgd", l_inf) at radius `eps` (pixel units
    /// in [0, 1]) and `steps` iterations (PGD), with the true label taken as the clean prediction.
    pub async fn attack(&self, image: Vec<u8>, attack: String, eps: f32, steps: u32, seed: u32) -> Result<AttackOutput, JsError> {
        let spec_text = match attack.as_str() {
            "fgsm" => format!("fgsm:linf:{eps}"),
            "pgd" => format!("pgd:linf:{eps}:{}", steps.max(1)),
            other => return Err(js_err(format!("unknown attack '{other}' (fgsm, pgd)"))),
        };
        let spec: AttackSpec = spec_text.parse().map_err(js_err)?;
        let x = self.load(&image)?;
        let start = Instant::now();
        let clean = self.top5(x.clone()).await?;
        let label = Tensor::<1, Int>::from_data(TensorData::new(vec![clean[0].label as i64], [1]), &self.device);
        let adv = attacks::build(&spec).perturb(&self.model, x.clone(), label, seed as u64);
        let adversarial = self.top5(adv.clone()).await?;
        let size = self.model.config().input_size;
        let adv_values = read(adv).await?;
        let x_values = read(x).await?;
        let milliseconds = start.elapsed().as_secs_f64() * 1e3;
        let delta: Vec<f32> = adv_values.iter().zip(&x_values).map(|(a, b)| a - b).collect();
        let linf = delta.iter().fold(0f32, |m, d| m.max(d.abs()));
        let l2 = delta.iter().map(|d| d * d).sum::<f32>().sqrt();
        let scale = if linf > 0.0 { 0.5 / linf } else { 0.0 };
        let amplified: Vec<f32> = delta.iter().map(|d| 0.5 + d * scale).collect();
        let png = |values: &[f32]| encode_png(&to_bytes(values, 1, size, size), size as u32, size as u32).map_err(js_err);
        let summary = AttackSummary {
            spec: spec.spec,
            flipped: adversarial[0].label != clean[0].label,
            clean,
            adversarial,
            linf,
            l2,
            milliseconds,
        };
        Ok(AttackOutput {
            summary: serde_json::to_string(&summary).map_err(js_err)?,
            adversarial_png: png(&adv_values)?,
            perturbation_png: png(&amplified)?,
        })
    }
}

impl Demo {
    fn load(&self, image: &[u8]) -> Result<Tensor<4>, JsError> {
        let size = self.model.config().input_size;
        let rgb = decode_rgb(image, size as u32).map_err(js_err)?;
        Ok(to_tensor(&rgb, 1, size, size, &self.device))
    }

    async fn top5(&self, x: Tensor<4>) -> Result<Vec<Prediction>, JsError> {
        let probs = read(softmax(self.model.forward(x), 1)).await?;
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        Ok(order
            .into_iter()
            .take(5)
            .map(|label| Prediction { label, name: self.model.config().class_name(label), probability: probs[label] })
            .collect())
    }
}

async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, JsError> {
    let data = t.into_data_async().await.map_err(|e| js_err(format!("device read: {e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| js_err(format!("device read: {e:?}")))
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
