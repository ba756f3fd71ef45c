//! The published CIFAR-10-C files (Hendrycks & Dietterich 2019, zenodo record 2535967):
//! `<dir>/<corruption>.npy`, 50,000 x 32 x 32 x 3 `uint8` (severities 1 to 5 of the 10,000
//! CIFAR-10 test images, in order) and `<dir>/labels.npy` (50,000 `uint8`, the test labels five
//! times). A small `.npy` (format 1.0-3.0) reader: C-order, little-endian integer arrays.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Corruption;
use crate::data::ImageSet;
use crate::{Error, Result};

/// CIFAR-10 class names, in label order.
pub const CIFAR10_CLASSES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Longest `.npy` header read (NumPy writes under 100 bytes; a lying length is refused).
const MAX_NPY_HEADER: usize = 1 << 20;
/// Most classes a labels file may name (CIFAR-100-C has 100).
const MAX_CLASSES: usize = 1000;

/// The header of a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// NumPy dtype string, e.g. `|u1`.
    pub descr: String,
    /// Whether the data is stored column-major.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Bytes per element of the supported integer dtypes.
    fn item_size(&self) -> Result<usize> {
        match self.descr.as_str() {
            "|u1" | "<u1" | "u1" | "|i1" => Ok(1),
            "<i4" | "<u4" => Ok(4),
            "<i8" | "<u8" => Ok(8),
            d => Err(Error::Data(format!("unsupported .npy dtype '{d}' (expected uint8 or little-endian integers)"))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses the header at the start of `bytes` (which must hold at least the whole header).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader> {
    let bad = |why: &str| Error::Data(format!("not a .npy file: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing \\x93NUMPY magic"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    let text = bytes.get(start..start + len).ok_or_else(|| bad("truncated header"))?;
    let text = std::str::from_utf8(text).map_err(|_| bad("header is not text"))?;
    let value_after = |key: &str| -> Result<&str> {
        let i = text.find(&format!("'{key}'")).or_else(|| text.find(&format!("\"{key}\""))).ok_or_else(|| bad(&format!("no '{key}' in header")))?;
        let rest = &text[i + key.len() + 2..];
        let colon = rest.find(':').ok_or_else(|| bad("malformed header"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = {
        let v = value_after("descr")?;
        let quote = v.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(|| bad("descr is not a string"))?;
        let end = v[1..].find(quote).ok_or_else(|| bad("unterminated descr"))?;
        v[1..1 + end].to_string()
    };
    let fortran_order = value_after("fortran_order")?.starts_with("True");
    let shape = {
        let v = value_after("shape")?;
        let end = v.find(')').ok_or_else(|| bad("malformed shape"))?;
        v.get(1..end)
            .ok_or_else(|| bad("malformed shape"))?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| bad(&format!("bad dimension '{s}'"))))
            .collect::<Result<Vec<_>>>()?
    };
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none() {
        return Err(bad(&format!("shape {shape:?} overflows")));
    }
    Ok(NpyHeader { descr, fortran_order, shape, data_offset: start + len })
}

/// A `.npy` file (format 1.0) holding `data` as `uint8` with `shape`, as `np.save` writes it.
pub fn npy_u8_bytes(shape: &[usize], data: &[u8]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape does not match data");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn open_header(path: &Path) -> Result<(std::fs::File, NpyHeader)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut head = vec![0u8; 12];
    file.read_exact(&mut head).map_err(|_| Error::Data(format!("{} is not a .npy file", path.display())))?;
    if &head[..6] != b"\x93NUMPY" {
        return Err(Error::Data(format!("{} is not a .npy file (no \\x93NUMPY magic)", path.display())));
    }
    let len = match head[6] {
        1 => u16::from_le_bytes([head[8], head[9]]) as usize + 10,
        _ => u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize + 12,
    };
    if len > MAX_NPY_HEADER {
        return Err(Error::Data(format!("{}: .npy header of {len} bytes (at most {MAX_NPY_HEADER})", path.display())));
    }
    head.resize(len.max(12), 0);
    file.read_exact(&mut head[12..]).map_err(|_| Error::Data(format!("{}: truncated .npy header", path.display())))?;
    let header = parse_npy_header(&head).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    if header.fortran_order {
        return Err(Error::Data(format!("{}: Fortran-order .npy files are not supported", path.display())));
    }
    let size = header.item_size().map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    // The data must be there before anything is allocated for it: a header may lie.
    let need = header.len().checked_mul(size).and_then(|n| n.checked_add(header.data_offset));
    let have = file.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
    if need.is_none_or(|n| n as u64 > have) {
        return Err(Error::Data(format!(
            "{}: shape {:?} of '{}' needs {} bytes, the file holds {have}",
            path.display(),
            header.shape,
            header.descr,
            need.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
        )));
    }
    Ok((file, header))
}

/// Reads `count` elements starting at element `first` of an integer `.npy` file, as `u64`.
fn read_elements(path: &Path, first: usize, count: usize) -> Result<(NpyHeader, Vec<u64>)> {
    let (mut file, header) = open_header(path)?;
    let size = header.item_size()?;
    if first + count > header.len() {
        return Err(Error::Data(format!("{}: holds {} values, needed {}", path.display(), header.len(), first + count)));
    }
    file.seek(SeekFrom::Start((header.data_offset + first * size) as u64)).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut raw = vec![0u8; count * size];
    file.read_exact(&mut raw).map_err(|_| Error::Data(format!("{}: truncated data", path.display())))?;
    let values = raw
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    Ok((header, values))
}

/// The CIFAR-10-C images of `corruption` at `severity` (1..=5) from `dir`, with labels and the
/// CIFAR-10 class names: `<dir>/<name>.npy` must be `[5 * n, H, W, 3]` uint8 and
/// `<dir>/labels.npy` hold `5 * n` (or `n`) labels. Reads only the severity's block.
pub fn load(dir: &Path, corruption: Corruption, severity: u8) -> Result<ImageSet> {
    let severity = super::check_severity(severity as i64)? as usize;
    let path = dir.join(format!("{}.npy", corruption.name()));
    if !path.exists() {
        return Err(Error::Data(format!("{} not found (CIFAR-10-C: <dir>/<corruption>.npy and labels.npy)", path.display())));
    }
    let (_, header) = open_header(&path)?;
    let shape = header.shape.clone();
    if shape.len() != 4 || shape[3] != 3 || shape[0] % 5 != 0 || header.item_size()? != 1 {
        return Err(Error::Data(format!("{}: expected [5 * n, H, W, 3] uint8, found {} {:?}", path.display(), header.descr, shape)));
    }
    let (n, h, w) = (shape[0] / 5, shape[1], shape[2]);
    if n == 0 || h == 0 || w == 0 {
        return Err(Error::Data(format!("{}: shape {shape:?} holds no pixels", path.display())));
    }
    // Not zero and the whole shape's product fits (checked by the header parser): this fits too.
    let per_image = h * w * 3;
    let (_, values) = read_elements(&path, (severity - 1) * n * per_image, n * per_image)?;
    let pixels: Vec<u8> = values.into_iter().map(|v| v as u8).collect();
    let labels_path = dir.join("labels.npy");
    if !labels_path.exists() {
        return Err(Error::Data(format!("{} not found (CIFAR-10-C labels)", labels_path.display())));
    }
    let (_, lh) = open_header(&labels_path)?;
    let first = match lh.len() {
        l if l == 5 * n => (severity - 1) * n,
        l if l == n => 0,
        l => return Err(Error::Data(format!("{}: {l} labels for {} images", labels_path.display(), 5 * n))),
    };
    let (_, labels) = read_elements(&labels_path, first, n)?;
    if let Some(bad) = labels.iter().find(|&&v| v >= MAX_CLASSES as u64) {
        return Err(Error::Data(format!("{}: label {bad} out of range (at most {MAX_CLASSES} classes)", labels_path.display())));
    }
    let labels: Vec<usize> = labels.into_iter().map(|v| v as usize).collect();
    let classes = labels.iter().max().map_or(0, |m| m + 1).max(10);
    let class_names = (0..classes).map(|i| CIFAR10_CLASSES.get(i).map_or_else(|| format!("class{i}"), |s| s.to_string())).collect();
    let set = ImageSet { pixels, labels, class_names, height: h, width: w };
    set.validate()?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruptions_npy_header_round_trip() {
        let bytes = npy_u8_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        // np.save pads the header so that the data starts at a multiple of 64 bytes.
        assert_eq!(bytes.len() % 64, 6);
        let h = parse_npy_header(&bytes).unwrap();
        assert_eq!(h, NpyHeader { descr: "|u1".into(), fortran_order: false, shape: vec![2, 3], data_offset: 128 });
        assert_eq!(&bytes[128..], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(bytes[127], b'\n');
        let one = parse_npy_header(&npy_u8_bytes(&[4], &[0; 4])).unwrap();
        assert_eq!(one.shape, vec![4]);
    }

    #[test]
    fn corruptions_npy_header_rejects_garbage() {
        assert!(parse_npy_header(b"PK\x03\x04 not numpy").is_err());
        let mut b = npy_u8_bytes(&[2], &[1, 2]);
        b[6] = 9;
        assert!(parse_npy_header(&b).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn corruptions_npy_without_pixels_is_refused() {
        // [0, 2^40, 2^40, 3]: the product is 0, so it fits, but there is no image to read.
        let dir = std::env::temp_dir().join(format!("hs-c10c-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = npy_u8_bytes(&[0, 7, 7, 3], &[]);
        let header = String::from_utf8(plain[10..].to_vec()).unwrap().replace("(0, 7, 7, 3)", "(0, 1099511627776, 1099511627776, 3)");
        let mut bytes = plain[..8].to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        std::fs::write(dir.join("gaussian_noise.npy"), &bytes).unwrap();
        std::fs::write(dir.join("labels.npy"), npy_u8_bytes(&[0], &[])).unwrap();
        let err = load(&dir, Corruption::GaussianNoise, 1).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("holds no pixels"), "{err}");
    }
}
