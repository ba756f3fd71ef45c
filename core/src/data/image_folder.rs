//! Image-folder datasets: `<split>/<class>/<file>` (or `<class>/<file>`) as a directory tree
//! or inside a `.tar.gz` archive (the layout of CIFAR-10 in `shared/data/cifar10`).
//!
//! Class indices follow the sorted class-folder names, as torchvision's `ImageFolder` does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::ImageSet;
use super::decode::decode_rgb;

/// One file of an image-folder layout, before decoding.
struct Entry {
    /// Path components below the root, e.g. `["test", "cat", "0001.jpg"]`.
    parts: Vec<String>,
    bytes: Vec<u8>,
}

/// Reads an image-folder tree rooted at `root`, keeping `split` when the tree has splits.
pub fn from_directory(root: &Path, split: &str, size: u32) -> crate::Result<ImageSet> {
    let mut entries = Vec::new();
    walk(root, &mut Vec::new(), &mut entries)?;
    assemble(entries, split, size, &root.display().to_string())
}

/// Reads an image-folder layout from a gzip-compressed tar stream.
pub fn from_tar_gz(reader: impl Read, split: &str, size: u32, name: &str) -> crate::Result<ImageSet> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut entries = Vec::new();
    let iter = archive
        .entries()
        .map_err(|e| crate::Error::Data(format!("{name}: not a tar.gz archive: {e}")))?;
    for entry in iter {
        let mut entry =
            entry.map_err(|e| crate::Error::Data(format!("{name}: corrupt archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| crate::Error::Data(format!("{name}: bad path in archive: {e}")))?
            .into_owned();
        let parts: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if !is_image_name(parts.last().map(String::as_str).unwrap_or("")) {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| crate::Error::Data(format!("{name}: {}: {e}", path.display())))?;
        entries.push(Entry { parts, bytes });
    }
    assemble(entries, split, size, name)
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.starts_with('.')
        && [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

fn walk(dir: &Path, prefix: &mut Vec<String>, out: &mut Vec<Entry>) -> crate::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| crate::Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(|e| e.ok())
        .collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = child.path();
        if path.is_dir() {
            prefix.push(name);
            walk(&path, prefix, out)?;
            prefix.pop();
        } else if is_image_name(&name) {
            let bytes = std::fs::read(&path)
                .map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
            let mut parts = prefix.clone();
            parts.push(name);
            out.push(Entry { parts, bytes });
        }
    }
    Ok(())
}

/// Keeps the entries of `split` (when the layout has splits), names classes, decodes images.
fn assemble(entries: Vec<Entry>, split: &str, size: u32, source: &str) -> crate::Result<ImageSet> {
    let depth = entries.iter().map(|e| e.parts.len()).max().unwrap_or(0);
    let mut by_class: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut splits_seen = std::collections::BTreeSet::new();
    for e in entries {
        let n = e.parts.len();
        if n < 2 {
            continue;
        }
        if depth >= 3 {
            if n < 3 {
                continue;
            }
            splits_seen.insert(e.parts[n - 3].clone());
            if e.parts[n - 3] != split {
                continue;
            }
        }
        let class = e.parts[n - 2].clone();
        let file = e.parts.join("/");
        by_class.entry(class).or_default().push((file, e.bytes));
    }
    if by_class.is_empty() {
        let hint = if splits_seen.is_empty() {
            "expected <class>/<image> or <split>/<class>/<image>".to_string()
        } else {
            format!("splits found: {}", splits_seen.into_iter().collect::<Vec<_>>().join(", "))
        };
        return Err(crate::Error::Data(format!("{source}: no images for split '{split}' ({hint})")));
    }
    let class_names: Vec<String> = by_class.keys().cloned().collect();
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (label, files) in by_class.into_values().enumerate() {
        for (file, bytes) in files {
            let rgb = decode_rgb(&bytes, size)
                .map_err(|e| crate::Error::Data(format!("{source}: {file}: {e}")))?;
            pixels.extend_from_slice(&rgb);
            labels.push(label);
        }
    }
    Ok(ImageSet { pixels, labels, class_names, height: size as usize, width: size as usize })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::decode::encode_png;

    fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn png(value: u8) -> Vec<u8> {
        encode_png(&vec![value; 4 * 4 * 3], 4, 4).unwrap()
    }

    #[test]
    fn tar_gz_splits_and_sorted_classes() {
        let archive = tar_gz(&[
            ("train/dog/0.png", png(10)),
            ("test/dog/0.png", png(20)),
            ("test/cat/0.png", png(30)),
            ("test/cat/1.png", png(40)),
        ]);
        let set = from_tar_gz(archive.as_slice(), "test", 4, "mem").unwrap();
        assert_eq!(set.class_names, vec!["cat", "dog"]);
        assert_eq!(set.labels, vec![0, 0, 1]);
        assert_eq!(set.image(2)[0], 20);
        let err = from_tar_gz(archive.as_slice(), "valid", 4, "mem").unwrap_err();
        assert!(err.to_string().contains("splits found: test, train"), "{err}");
    }

    #[test]
    fn corrupt_image_names_the_file() {
        let archive = tar_gz(&[("a/0.png", png(1)), ("b/bad.jpg", b"nope".to_vec())]);
        let err = from_tar_gz(archive.as_slice(), "test", 4, "mem").unwrap_err();
        assert!(err.to_string().contains("b/bad.jpg"), "{err}");
    }

    #[test]
    fn directory_without_splits() {
        let dir = std::env::temp_dir().join(format!("hs-folder-{}", std::process::id()));
        for (class, v) in [("x", 5u8), ("y", 6u8)] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            std::fs::write(dir.join(class).join("0.png"), png(v)).unwrap();
        }
        let set = from_directory(&dir, "test", 4).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(set.class_names, vec!["x", "y"]);
        assert_eq!((set.image(0)[0], set.image(1)[0]), (5, 6));
    }
}
