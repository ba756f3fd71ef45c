//! The official CIFAR-10 / CIFAR-100 binary release (`cifar-10-batches-bin`, `cifar-100-binary`).
//!
//! CIFAR-10 records are `<1 byte label><3072 bytes: 1024 R, 1024 G, 1024 B>`; CIFAR-100 records
//! carry two label bytes (coarse, fine) and we use the fine label.

use super::ImageSet;

/// Which release a record stream comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// 10 classes, one label byte per record.
    Cifar10,
    /// 100 fine classes, two label bytes (coarse, fine) per record.
    Cifar100,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100 => 2,
        }
    }

    fn classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        }
    }
}

const PLANE: usize = 32 * 32;

/// Parses whole binary batch files (concatenated) into an [`ImageSet`].
///
/// `class_names` comes from `batches.meta.txt` / `fine_label_names.txt` when present; numbered
/// names are used otherwise.
pub fn parse(kind: CifarKind, bytes: &[u8], class_names: Option<Vec<String>>) -> crate::Result<ImageSet> {
    let record = kind.label_bytes() + 3 * PLANE;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(crate::Error::Data(format!(
            "CIFAR binary data must be a multiple of {record} bytes, found {}",
            bytes.len()
        )));
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * 3 * PLANE);
    let mut labels = Vec::with_capacity(n);
    for rec in bytes.chunks_exact(record) {
        let label = rec[kind.label_bytes() - 1] as usize;
        if label >= kind.classes() {
            return Err(crate::Error::Data(format!(
                "label {label} out of range for {} classes: is this the right CIFAR release?",
                kind.classes()
            )));
        }
        labels.push(label);
        let planes = &rec[kind.label_bytes()..];
        for p in 0..PLANE {
            pixels.extend_from_slice(&[planes[p], planes[PLANE + p], planes[2 * PLANE + p]]);
        }
    }
    let class_names = match class_names {
        Some(names) if names.len() == kind.classes() => names,
        _ => (0..kind.classes()).map(|c| format!("class{c}")).collect(),
    };
    Ok(ImageSet { pixels, labels, class_names, height: 32, width: 32 })
}

/// Splits a names file (one name per line, blank lines ignored).
pub fn parse_names(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_become_interleaved_rgb() {
        let mut rec = vec![3u8];
        rec.extend(std::iter::repeat_n(1u8, PLANE));
        rec.extend(std::iter::repeat_n(2u8, PLANE));
        rec.extend(std::iter::repeat_n(9u8, PLANE));
        let set = parse(CifarKind::Cifar10, &rec, None).unwrap();
        assert_eq!(set.labels, vec![3]);
        assert_eq!(&set.image(0)[..6], &[1, 2, 9, 1, 2, 9]);
        assert_eq!(set.class_names[3], "class3");
    }

    #[test]
    fn cifar100_uses_the_fine_label_and_rejects_truncation() {
        let mut rec = vec![1u8, 77u8];
        rec.extend(std::iter::repeat_n(0u8, 3 * PLANE));
        assert_eq!(parse(CifarKind::Cifar100, &rec, None).unwrap().labels, vec![77]);
        assert!(parse(CifarKind::Cifar100, &rec[..100], None).is_err());
        let mut bad = vec![200u8];
        bad.extend(std::iter::repeat_n(0u8, 3 * PLANE));
        assert!(parse(CifarKind::Cifar10, &bad, None).unwrap_err().to_string().contains("label 200"));
    }
}
