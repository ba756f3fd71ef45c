//! Image-folder datasets: `<split>/<class>/<file>` (or `<class>/<file>`) as a directory tree
//! or inside a `.tar.gz` archive (the layout of CIFAR-10 in `shared/data/cifar10`).
//!
//! Class indices follow the sorted class-folder names, as torchvision's `ImageFolder` does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::ImageSet;
use super::decode::decode_rgb;

/// Largest image file read (a bigger one is refused before it is read: a gzip bomb in an
/// archive, or a stray disk image named `.png`).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// One file of an image-folder layout, before decoding.
struct Entry {
    /// Path components below the root, e.g. `["test", "cat", "0001.jpg"]`.
    parts: Vec<String>,
    bytes: Vec<u8>,
}

/// What a layout holds: its image files and its folders (so empty class folders are seen).
#[derive(Default)]
struct Listing {
    files: Vec<Entry>,
    dirs: Vec<Vec<String>>,
}

/// Reads an image-folder tree rooted at `root`, keeping `split` when the tree has splits.
///
/// Symbolic links are followed, but one that leads back to a folder being walked (a loop) is an
/// error, as is an image name that is not a regular file (a FIFO would block forever).
pub fn from_directory(root: &Path, split: &str, size: u32) -> crate::Result<ImageSet> {
    let mut listing = Listing::default();
    let canonical = root.canonicalize().map_err(|e| crate::Error::io(format!("reading {}", root.display()), e))?;
    walk(root, &mut vec![canonical], &mut Vec::new(), &mut listing)?;
    assemble(listing, split, size, &root.display().to_string())
}

/// Reads an image-folder layout from a gzip-compressed tar stream. Nothing is extracted; an
/// entry whose path leaves the archive (`..`, an absolute path) makes the archive unsafe and is
/// refused, as is an image entry larger than [`MAX_FILE_BYTES`] (a gzip bomb). Links and other
/// non-file entries are skipped.
pub fn from_tar_gz(reader: impl Read, split: &str, size: u32, name: &str) -> crate::Result<ImageSet> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut listing = Listing::default();
    let iter = archive
        .entries()
        .map_err(|e| crate::Error::Data(format!("{name}: not a tar.gz archive: {e}")))?;
    for entry in iter {
        let mut entry =
            entry.map_err(|e| crate::Error::Data(format!("{name}: corrupt archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| crate::Error::Data(format!("{name}: bad path in archive: {e}")))?
            .into_owned();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(crate::Error::Data(format!(
                        "{name}: unsafe path '{}' in archive (it leaves the archive's folder)",
                        path.display()
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            listing.dirs.push(parts);
            continue;
        }
        if !kind.is_file() || !is_image_name(parts.last().map(String::as_str).unwrap_or("")) {
            continue;
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(crate::Error::Data(format!(
                "{name}: {}: larger than {} MiB ({} bytes declared), not an image",
                path.display(),
                MAX_FILE_BYTES >> 20,
                entry.size()
            )));
        }
        // The declared size is not trusted for the allocation (a header may lie).
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| crate::Error::Data(format!("{name}: {}: {e}", path.display())))?;
        listing.files.push(Entry { parts, bytes });
    }
    assemble(listing, split, size, name)
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.starts_with('.')
        && [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// Walks `dir`; `ancestors` holds the canonical paths of the folders above (and of `dir`).
fn walk(dir: &Path, ancestors: &mut Vec<std::path::PathBuf>, prefix: &mut Vec<String>, out: &mut Listing) -> crate::Result<()> {
    out.dirs.push(prefix.clone());
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| crate::Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(|e| e.ok())
        .collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = child.path();
        let image = is_image_name(&name);
        // Follows links: a dangling or self-referencing link named like an image is an error.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if image => return Err(crate::Error::io(format!("reading {}", path.display()), e)),
            Err(_) => continue,
        };
        if meta.is_dir() {
            let canonical = path.canonicalize().map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
            if let Some(a) = ancestors.iter().find(|a| **a == canonical) {
                return Err(crate::Error::Data(format!(
                    "{}: symlink loop (it leads back to {})",
                    path.display(),
                    a.display()
                )));
            }
            ancestors.push(canonical);
            prefix.push(name);
            walk(&path, ancestors, prefix, out)?;
            prefix.pop();
            ancestors.pop();
        } else if image {
            if !meta.is_file() {
                return Err(crate::Error::Data(format!("{}: not a regular file", path.display())));
            }
            if meta.len() > MAX_FILE_BYTES {
                return Err(crate::Error::Data(format!(
                    "{}: larger than {} MiB ({} bytes), not an image",
                    path.display(),
                    MAX_FILE_BYTES >> 20,
                    meta.len()
                )));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
            let mut parts = prefix.clone();
            parts.push(name);
            out.files.push(Entry { parts, bytes });
        }
    }
    Ok(())
}

/// Keeps the entries of `split` (when the layout has splits), names classes, decodes images.
///
/// Refused: a class folder of the split without images (its index would silently shift the
/// classes after it) and class names that differ only in case (they merge on case-insensitive
/// file systems, so the same folder would read differently there).
fn assemble(listing: Listing, split: &str, size: u32, source: &str) -> crate::Result<ImageSet> {
    let entries = listing.files;
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
    for d in &listing.dirs {
        let n = d.len();
        let in_split = depth < 3 || (n >= 2 && d[n - 2] == split);
        if n >= 1 && n + 1 == depth && in_split && !by_class.contains_key(&d[n - 1]) {
            return Err(crate::Error::Data(format!("{source}: class folder {} holds no images", d.join("/"))));
        }
    }
    let mut lower: BTreeMap<String, &String> = BTreeMap::new();
    for class in by_class.keys() {
        if let Some(other) = lower.insert(class.to_lowercase(), class) {
            return Err(crate::Error::Data(format!(
                "{source}: class folders '{other}' and '{class}' differ only in case (they would merge on a case-insensitive file system)"
            )));
        }
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
