//! Labelled test images stored as a `.safetensors` file, the way the project's Python scripts
//! write them (`scripts/bench_pytorch.py --write-fixture`, `scripts/torchattacks_agreement.py`):
//! `images` as uint8 `[N, 3, H, W]` (pixel = byte / 255) and `labels` as int64 `[N]`.
//!
//! The format is read directly (an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the raw bytes), so no extra dependency is needed.

use std::path::Path;

use serde_json::Value;

use super::ImageSet;

/// Most classes the labels may name (a label of 2^62 would otherwise name that many classes).
pub const MAX_CLASSES: usize = 100_000;

/// One tensor's entry in the header: dtype, shape and its bytes.
struct Entry<'a> {
    dtype: &'a str,
    shape: Vec<usize>,
    bytes: &'a [u8],
}

/// Reads `images` and `labels` from a safetensors file into an [`ImageSet`] whose classes are
/// named `0`, `1`, ... up to the largest label.
pub fn read(path: &Path) -> crate::Result<ImageSet> {
    let file = std::fs::read(path).map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
    parse(&file).map_err(|why| crate::Error::Data(format!("{}: {why}", path.display())))
}

/// [`read`] on the bytes of a file already in memory.
pub fn parse_bytes(file: &[u8]) -> crate::Result<ImageSet> {
    parse(file).map_err(crate::Error::Data)
}

fn parse(file: &[u8]) -> Result<ImageSet, String> {
    let not_safetensors = || "not a safetensors file".to_string();
    let header_len = u64::from_le_bytes(file.get(..8).ok_or_else(not_safetensors)?.try_into().unwrap()) as usize;
    let header = file.get(8..8usize.saturating_add(header_len)).ok_or_else(not_safetensors)?;
    let header: Value = serde_json::from_slice(header).map_err(|_| not_safetensors())?;
    let data = &file[8 + header_len..];
    let entry = |name: &str| -> Result<Entry, String> {
        let e = header.get(name).ok_or_else(|| format!("no tensor named '{name}' (expected 'images' and 'labels')"))?;
        let dtype = e["dtype"].as_str().ok_or_else(not_safetensors)?;
        let shape = e["shape"].as_array().ok_or_else(not_safetensors)?.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>();
        let range = e["data_offsets"].as_array().ok_or_else(not_safetensors)?;
        let (start, end) = (range.first().and_then(Value::as_u64), range.get(1).and_then(Value::as_u64));
        let bytes = match (start, end) {
            (Some(s), Some(e)) => data.get(s as usize..e as usize).ok_or_else(|| format!("'{name}' lies past the end of the file"))?,
            _ => return Err(not_safetensors()),
        };
        Ok(Entry { dtype, shape: shape.ok_or_else(not_safetensors)?, bytes })
    };
    let images = entry("images")?;
    let labels = entry("labels")?;
    let [n, 3, height, width] = images.shape[..] else {
        return Err(format!("'images' has shape {:?}, expected [N, 3, H, W]", images.shape));
    };
    if images.dtype != "U8" {
        return Err(format!("'images' must be uint8 (pixel = byte / 255), found {}", images.dtype));
    }
    // The shape must describe exactly the bytes given (checked: a lying shape may overflow).
    let plane = height.checked_mul(width);
    if plane.and_then(|p| p.checked_mul(3)).and_then(|p| p.checked_mul(n)) != Some(images.bytes.len()) {
        return Err(format!("'images' has shape {:?} but holds {} bytes", images.shape, images.bytes.len()));
    }
    if labels.dtype != "I64" || labels.shape != [n] || Some(labels.bytes.len()) != n.checked_mul(8) {
        return Err(format!("'labels' must be int64 of shape [{n}], found {} {:?}", labels.dtype, labels.shape));
    }
    let labels = labels
        .bytes
        .chunks_exact(8)
        .map(|b| usize::try_from(i64::from_le_bytes(b.try_into().unwrap())))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| "'labels' holds a negative label".to_string())?;
    // [N, 3, H, W] planes to [N, H, W, 3] pixels.
    let plane = height * width;
    if n > 0 && plane == 0 {
        return Err(format!("'images' has shape {:?}: images without pixels", images.shape));
    }
    let mut pixels = vec![0u8; n * 3 * plane];
    for (i, image) in images.bytes.chunks_exact(3 * plane).enumerate() {
        for c in 0..3 {
            for p in 0..plane {
                pixels[(i * plane + p) * 3 + c] = image[c * plane + p];
            }
        }
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= MAX_CLASSES) {
        return Err(format!("'labels' holds {bad}, beyond the {MAX_CLASSES} classes a label file may name"));
    }
    let classes = labels.iter().max().map_or(1, |m| m + 1);
    let set = ImageSet { pixels, labels, class_names: (0..classes).map(|c| c.to_string()).collect(), height, width };
    set.validate().map_err(|e| e.to_string())?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_chw_bytes_as_hwc_images_with_labels() {
        // Two 1x2 images: image 0 has R = [1, 2], G = [3, 4], B = [5, 6].
        let mut data: Vec<u8> = (1..=12).collect();
        data.extend(3i64.to_le_bytes());
        data.extend(0i64.to_le_bytes());
        let header = r#"{"images":{"dtype":"U8","shape":[2,3,1,2],"data_offsets":[0,12]},"labels":{"dtype":"I64","shape":[2],"data_offsets":[12,28]}}"#;
        let set = parse(&file(header, &data)).unwrap();
        assert_eq!((set.len(), set.height, set.width), (2, 1, 2));
        assert_eq!(set.image(0), &[1, 3, 5, 2, 4, 6]);
        assert_eq!(set.labels, vec![3, 0]);
        assert_eq!(set.class_names.len(), 4);
    }

    #[test]
    fn float_images_and_missing_labels_are_readable_errors() {
        let header = r#"{"images":{"dtype":"F32","shape":[1,3,1,1],"data_offsets":[0,12]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}"#;
        let err = parse(&file(header, &[0; 20])).unwrap_err();
        assert!(err.contains("must be uint8"), "{err}");
        let header = r#"{"images":{"dtype":"U8","shape":[1,3,1,1],"data_offsets":[0,3]}}"#;
        let err = parse(&file(header, &[0; 3])).unwrap_err();
        assert!(err.contains("no tensor named 'labels'"), "{err}");
        assert_eq!(parse(b"abc").unwrap_err(), "not a safetensors file");
    }

    #[test]
    fn lying_shapes_and_labels_are_errors_not_panics() {
        let labels = 1i64.to_le_bytes();
        // Images without pixels (chunks of 0 bytes used to panic).
        let header = r#"{"images":{"dtype":"U8","shape":[1,3,0,4],"data_offsets":[0,0]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
        assert!(parse(&file(header, &labels)).unwrap_err().contains("without pixels"));
        // A shape whose product wraps around to the 3 bytes given.
        let header = r#"{"images":{"dtype":"U8","shape":[1,3,4294967296,4294967297],"data_offsets":[0,3]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[3,11]}}"#;
        assert!(parse(&file(header, &[[1u8, 2, 3].as_slice(), &labels].concat())).unwrap_err().contains("holds 3 bytes"));
        // A label of 2^62 would name 2^62 classes.
        let header = r#"{"images":{"dtype":"U8","shape":[1,3,1,1],"data_offsets":[0,3]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[3,11]}}"#;
        let err = parse(&file(header, &[[1u8, 2, 3].as_slice(), &(1i64 << 62).to_le_bytes()].concat())).unwrap_err();
        assert!(err.contains("beyond the 100000 classes"), "{err}");
    }
}
