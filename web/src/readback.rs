//! Reading results back from the device. Every read is asynchronous (`into_data_async`):
//! synchronous reads panic in the browser.

use burn::tensor::activation::softmax;
use burn::tensor::Tensor;
use hypersphere_core::metrics::top_k;
use hypersphere_core::models::Classifier;
pub use hypersphere_core::results::Prediction;
use hypersphere_core::results::top_predictions;
use wasm_bindgen::JsError;

use crate::js_err;

/// The values of a tensor, read asynchronously.
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, JsError> {
    let data = t.into_data_async().await.map_err(|e| js_err(format!("device read: {e:?}")))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| js_err(format!("device read: {e:?}")))
}

/// Top-5 classes of one image `[1, 3, H, W]`, most probable first.
pub async fn top5(model: &Classifier, x: Tensor<4>) -> Result<Vec<Prediction>, JsError> {
    let probs = read(softmax(model.forward(x), 1)).await?;
    Ok(top_predictions(&probs, 5, model.config()))
}

/// Predicted class of every image of a batch.
pub async fn predictions(model: &Classifier, x: Tensor<4>) -> Result<Vec<usize>, JsError> {
    let logits = model.forward(x);
    let [_, c] = logits.dims();
    let values = read(logits).await?;
    Ok(values.chunks(c).map(|row| top_k(row, 1)[0]).collect())
}
