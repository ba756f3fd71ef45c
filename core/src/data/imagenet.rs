//! ImageNet-1k validation folders in the common layout `<dir>/<wnid>/<image>` (what
//! torchvision's `ImageFolder` reads, and what every public ImageNet checkpoint was evaluated
//! on), with the standard class indices and the standard preprocessing.
//!
//! The flat layout (every image in one folder) takes its labels from Caffe's `val.txt` or
//! Kaggle's `LOC_val_solution.csv` ([`LABEL_FILES`]).
//!
//! Class index = position of the wnid in the sorted list of the 1,000 ILSVRC-2012 wnids
//! ([`WNIDS`], `imagenet_wnids.txt`, written by `scripts/imagenet_wnids.py`), also when the
//! folder holds only some classes, so a model's logit `i` always means the same class.
//! Preprocessing: `Resize(256)` (shorter side to 256, bilinear) then `CenterCrop(224)`, as the
//! evaluation code of torchvision's references, DINO, MoCo v3 and SwAV does; or none for images
//! already at the model's size.

use std::path::Path;

use image::imageops::FilterType;

use super::ImageSet;

/// The 1,000 ImageNet-1k wnids, sorted, one per line.
pub const WNIDS: &str = include_str!("imagenet_wnids.txt");

/// The standard class index of `wnid` (None when it is not an ImageNet-1k class).
pub fn class_index(wnid: &str) -> Option<usize> {
    let list: Vec<&str> = WNIDS.lines().collect();
    list.binary_search(&wnid).ok()
}

/// How images become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preprocess {
    /// Shorter side resized to `resize` (bilinear), then the centre `crop` x `crop`.
    ResizeCrop {
        /// Shorter side after resizing (256).
        resize: u32,
        /// Side of the centre crop (224).
        crop: u32,
    },
    /// Images must already be `size` x `size`.
    None {
        /// The required side.
        size: u32,
    },
}

impl Preprocess {
    /// torchvision's ImageNet evaluation transform: resize 256, centre crop 224.
    pub const STANDARD: Preprocess = Preprocess::ResizeCrop { resize: 256, crop: 224 };

    /// Side of the output images.
    pub fn size(self) -> u32 {
        match self {
            Preprocess::ResizeCrop { crop, .. } => crop,
            Preprocess::None { size } => size,
        }
    }

    /// Decodes `bytes` and returns `[size, size, 3]` RGB bytes.
    pub fn apply(self, bytes: &[u8]) -> crate::Result<Vec<u8>> {
        let rgb = image::load_from_memory(bytes)
            .map_err(|e| crate::Error::Data(format!("not a readable image: {e}")))?
            .to_rgb8();
        let (w, h) = (rgb.width(), rgb.height());
        match self {
            Preprocess::None { size } if w == size && h == size => Ok(rgb.into_raw()),
            Preprocess::None { size } => Err(crate::Error::Data(format!(
                "image is {w}x{h}, not {size}x{size} (preprocessing 'none' needs images at the model's size)"
            ))),
            Preprocess::ResizeCrop { resize, crop } => {
                // torchvision Resize(int): the shorter side becomes `resize`, the longer one
                // int(resize * long / short).
                let (nw, nh) = if w <= h {
                    (resize, (resize as u64 * h as u64 / w as u64) as u32)
                } else {
                    ((resize as u64 * w as u64 / h as u64) as u32, resize)
                };
                let resized = if (nw, nh) == (w, h) { rgb } else { image::imageops::resize(&rgb, nw, nh, FilterType::Triangle) };
                if nw < crop || nh < crop {
                    return Err(crate::Error::Data(format!("resized image {nw}x{nh} is smaller than the {crop}x{crop} crop")));
                }
                // CenterCrop: top = round((h - crop) / 2), left likewise.
                let top = ((nh - crop) as f64 / 2.0).round() as u32;
                let left = ((nw - crop) as f64 / 2.0).round() as u32;
                Ok(image::imageops::crop_imm(&resized, left, top, crop, crop).to_image().into_raw())
            }
        }
    }
}

/// Label files of the flat layout (all images in one folder), looked for in the folder and its
/// parent: Caffe's `val.txt` (`ILSVRC2012_val_00000001.JPEG 65`, the standard index) and
/// Kaggle's `LOC_val_solution.csv` (`ImageId,PredictionString`, the wnid first).
pub const LABEL_FILES: [&str; 2] = ["val.txt", "LOC_val_solution.csv"];

/// Reads a flat layout's label file: file stem -> standard class index.
fn read_labels(path: &Path) -> crate::Result<std::collections::HashMap<String, usize>> {
    let bad = |line: usize, why: String| crate::Error::Data(format!("{} line {line}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Data(format!("{}: {e}", path.display())))?;
    let kaggle = path.extension().is_some_and(|e| e == "csv");
    let mut labels = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (kaggle && i == 0 && line.starts_with("ImageId")) {
            continue;
        }
        let (file, label) = if kaggle { line.split_once(',') } else { line.split_once(char::is_whitespace) }
            .ok_or_else(|| bad(i + 1, format!("expected {}, got '{line}'", if kaggle { "ImageId,wnid ..." } else { "FILE INDEX" })))?;
        let label = label.split_whitespace().next().unwrap_or_default();
        let index = if kaggle {
            class_index(label).ok_or_else(|| bad(i + 1, format!("'{label}' is not an ImageNet-1k wnid")))?
        } else {
            match label.parse::<usize>() {
                Ok(n) if n < 1000 => n,
                _ => return Err(bad(i + 1, format!("'{label}' is not a class index 0..999"))),
            }
        };
        let stem = Path::new(file.trim()).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        labels.insert(stem, index);
    }
    Ok(labels)
}

/// The image files of `dir/<wnid>/`, sorted, with their class indices; errors name a folder
/// that is not an ImageNet-1k wnid. A folder of images without class folders is the flat
/// layout: its labels come from one of [`LABEL_FILES`].
fn list(dir: &Path) -> crate::Result<Vec<(std::path::PathBuf, usize)>> {
    let read = |d: &Path| {
        std::fs::read_dir(d).map_err(|e| crate::Error::Data(format!("{}: cannot read the folder: {e}", d.display())))
    };
    let mut classes: Vec<_> = read(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    classes.sort();
    if classes.is_empty() {
        let label_file = [Some(dir), dir.parent()]
            .into_iter()
            .flatten()
            .flat_map(|d| LABEL_FILES.iter().map(move |n| d.join(n)))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                crate::Error::Data(format!(
                    "{}: no class folders (expected <wnid>/<image>) and no label file for a flat folder ({} in it or its parent)",
                    dir.display(),
                    LABEL_FILES.join(" or ")
                ))
            })?;
        let labels = read_labels(&label_file)?;
        let mut images: Vec<_> = read(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && !LABEL_FILES.iter().any(|n| p.file_name().is_some_and(|f| f == *n)))
            .collect();
        images.sort();
        return images
            .into_iter()
            .map(|p| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                match labels.get(&stem) {
                    Some(&i) => Ok((p, i)),
                    None => Err(crate::Error::Data(format!("{}: no label in {}", p.display(), label_file.display()))),
                }
            })
            .collect();
    }
    let mut files = Vec::new();
    for class in classes {
        let wnid = class.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(index) = class_index(&wnid) else {
            return Err(crate::Error::Data(format!(
                "{}: '{wnid}' is not an ImageNet-1k wnid (expected folders like n01440764)",
                class.display()
            )));
        };
        let mut images: Vec<_> = read(&class)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
        images.sort();
        files.extend(images.into_iter().map(|p| (p, index)));
    }
    Ok(files)
}

/// Loads an ImageNet validation folder (`dir/<wnid>/<image>`). With `limit`, only a fixed
/// class-balanced subset is decoded: the first image of every class (in sorted order), then
/// the second, and so on, until `limit` images.
pub fn load_folder(dir: &Path, preprocess: Preprocess, limit: Option<usize>) -> crate::Result<ImageSet> {
    let files = list(dir)?;
    let chosen: Vec<&(std::path::PathBuf, usize)> = match limit {
        Some(n) if n < files.len() => {
            let mut per_class: std::collections::BTreeMap<usize, Vec<&(std::path::PathBuf, usize)>> = Default::default();
            for f in &files {
                per_class.entry(f.1).or_default().push(f);
            }
            let mut chosen = Vec::with_capacity(n);
            for round in 0.. {
                let before = chosen.len();
                for images in per_class.values() {
                    if chosen.len() < n
                        && let Some(f) = images.get(round)
                    {
                        chosen.push(*f);
                    }
                }
                if chosen.len() == n || chosen.len() == before {
                    break;
                }
            }
            chosen
        }
        _ => files.iter().collect(),
    };
    let size = preprocess.size() as usize;
    let mut pixels = Vec::with_capacity(chosen.len() * size * size * 3);
    let mut labels = Vec::with_capacity(chosen.len());
    for (path, label) in chosen {
        let bytes = std::fs::read(path).map_err(|e| crate::Error::Data(format!("{}: {e}", path.display())))?;
        pixels.extend(preprocess.apply(&bytes).map_err(|e| crate::Error::Data(format!("{}: {e}", path.display())))?);
        labels.push(*label);
    }
    let set = ImageSet {
        pixels,
        labels,
        class_names: WNIDS.lines().map(str::to_string).collect(),
        height: size,
        width: size,
    };
    set.validate()?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::decode::encode_png;

    #[test]
    fn the_wnid_list_is_imagenet_1k() {
        let list: Vec<&str> = WNIDS.lines().collect();
        assert_eq!(list.len(), 1000);
        assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert_eq!(class_index("n01440764"), Some(0)); // tench
        assert_eq!(class_index("n02123045"), Some(281)); // tabby cat
        assert_eq!(class_index("n15075141"), Some(999)); // toilet tissue
        assert_eq!(class_index("n99999999"), None);
    }

    #[test]
    fn resize_256_and_centre_crop_224_keep_the_centre() {
        // 400x300: shorter side 300 -> 256, longer 400 -> 341; crop 224 from (58, 16).
        let (w, h) = (400u32, 300u32);
        let rgb: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| [(x / 2) as u8, (y / 2) as u8, 7])).collect();
        let png = encode_png(&rgb, w, h).unwrap();
        let out = Preprocess::STANDARD.apply(&png).unwrap();
        assert_eq!(out.len(), 224 * 224 * 3);
        // The crop's centre pixel is the image's centre: x = 200, y = 150 -> (100, 75).
        let c = (112 * 224 + 112) * 3;
        assert!((out[c] as i32 - 100).abs() <= 1 && (out[c + 1] as i32 - 75).abs() <= 1, "{:?}", &out[c..c + 3]);
        assert_eq!(out[c + 2], 7);
        let small = encode_png(&vec![9u8; 32 * 32 * 3], 32, 32).unwrap();
        assert_eq!(Preprocess::None { size: 32 }.apply(&small).unwrap(), vec![9u8; 32 * 32 * 3]);
        let err = Preprocess::None { size: 224 }.apply(&small).unwrap_err().to_string();
        assert!(err.contains("32x32") && err.contains("224x224"), "{err}");
    }

    #[test]
    fn a_folder_gets_standard_indices_and_a_balanced_limit() {
        let dir = std::env::temp_dir().join(format!("hs-imagenet-folder-{}", std::process::id()));
        for (wnid, n, value) in [("n01440764", 3, 10u8), ("n15075141", 2, 200u8)] {
            std::fs::create_dir_all(dir.join(wnid)).unwrap();
            for i in 0..n {
                let png = encode_png(&vec![value; 16 * 16 * 3], 16, 16).unwrap();
                std::fs::write(dir.join(wnid).join(format!("ILSVRC2012_val_{i:08}.png")), png).unwrap();
            }
        }
        let set = load_folder(&dir, Preprocess::None { size: 16 }, None).unwrap();
        assert_eq!(set.labels, vec![0, 0, 0, 999, 999]);
        assert_eq!(set.class_names.len(), 1000);
        assert_eq!(set.image(4)[0], 200);
        let some = load_folder(&dir, Preprocess::None { size: 16 }, Some(3)).unwrap();
        assert_eq!(some.labels, vec![0, 999, 0]);
        // The flat layout: the same images in one folder with Caffe's val.txt, then Kaggle's CSV.
        let flat = dir.join("flat");
        std::fs::create_dir_all(&flat).unwrap();
        for (i, v) in [(0u8, 10u8), (1, 200), (2, 10)] {
            std::fs::write(flat.join(format!("ILSVRC2012_val_{i:08}.png")), encode_png(&vec![v; 16 * 16 * 3], 16, 16).unwrap()).unwrap();
        }
        let err = load_folder(&flat, Preprocess::None { size: 16 }, None).unwrap_err().to_string();
        assert!(err.contains("no label file") && err.contains("val.txt"), "{err}");
        std::fs::write(flat.join("val.txt"), "ILSVRC2012_val_00000000.JPEG 0\nILSVRC2012_val_00000001.JPEG 999\nILSVRC2012_val_00000002.JPEG 5\n").unwrap();
        let set = load_folder(&flat, Preprocess::None { size: 16 }, None).unwrap();
        assert_eq!((set.labels.clone(), set.image(1)[0]), (vec![0, 999, 5], 200));
        std::fs::remove_file(flat.join("val.txt")).unwrap();
        std::fs::write(
            dir.join("LOC_val_solution.csv"),
            "ImageId,PredictionString\nILSVRC2012_val_00000001,n15075141 1 2 3 4\nILSVRC2012_val_00000000,n01440764 5 6 7 8 n01440764 1 1 2 2\n",
        )
        .unwrap();
        let err = load_folder(&flat, Preprocess::None { size: 16 }, None).unwrap_err().to_string();
        assert!(err.contains("ILSVRC2012_val_00000002.png: no label in"), "{err}");
        std::fs::write(flat.join("val.txt"), "ILSVRC2012_val_00000000.JPEG 1000\n").unwrap();
        let err = load_folder(&flat, Preprocess::None { size: 16 }, None).unwrap_err().to_string();
        assert!(err.contains("val.txt line 1: '1000' is not a class index"), "{err}");
        std::fs::remove_file(flat.join("val.txt")).unwrap();
        std::fs::remove_file(flat.join("ILSVRC2012_val_00000002.png")).unwrap();
        assert_eq!(load_folder(&flat, Preprocess::None { size: 16 }, None).unwrap().labels, vec![0, 999], "Kaggle's CSV in the parent");
        std::fs::remove_dir_all(&flat).unwrap();
        std::fs::remove_file(dir.join("LOC_val_solution.csv")).unwrap();
        std::fs::create_dir_all(dir.join("cats")).unwrap();
        let err = load_folder(&dir, Preprocess::None { size: 16 }, None).unwrap_err().to_string();
        assert!(err.contains("'cats' is not an ImageNet-1k wnid"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
