//! Half-precision storage of the bundled weights (issue 16: the site's 5 MB gzip budget).
//!
//! `dist/` stores every weight matrix and convolution kernel of the bundled models as f16
//! (scripts/web_weights.py, run by scripts/build-dist.sh; one-dimensional tensors stay f32).
//! The models compute in f32 on both backends, so [`widen_f16`] turns such a burnpack file back
//! into an f32 one before core loads it. Widening is exact (every f16 value is an f32 value),
//! and the committed `web/models/*.bpk` hold the same values in f32, so the page computes with
//! the numbers the native CLI reads from those files.

use burn::tensor::{Bytes, DType, TensorData};
use burn_pack::{Reader, Tensor, Writer};

/// Burnpack `bytes` with every f16 tensor widened to f32 (names, shapes and parameter ids
/// kept); a file without f16 tensors comes back unchanged.
pub fn widen_f16(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let original = bytes.clone();
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| format!("not a burnpack file: {e}"))?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let tensors = reader.into_tensors().map_err(|e| format!("not a burnpack file: {e}"))?;
    if !tensors.iter().any(|t| t.dtype == DType::F16) {
        return Ok(original);
    }
    let widened = tensors
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, id, data) = t.into_parts().map_err(|e| format!("not a burnpack file: {e}"))?;
            if dtype != DType::F16 {
                return Ok(Tensor::new(name, dtype, shape, id, data));
            }
            let (data, shape, dtype) = TensorData::from_bytes(data, shape, DType::F16).convert_dtype(DType::F32).into_parts();
            Ok(Tensor::new(name, dtype, shape, id, data))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut writer = Writer::new(widened);
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    for (key, value) in scalars {
        writer = writer.with_scalar(&key, value);
    }
    Ok(writer.into_bytes().map_err(|e| format!("cannot rewrite the weights: {e}"))?.to_vec())
}
