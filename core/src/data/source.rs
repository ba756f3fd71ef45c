//! Naming a dataset: a path or the word `procedural`, resolved to an [`ImageSet`] per split.
//!
//! Accepted sources:
//! - `procedural[:N]`: the seeded [`procedural`](super::procedural) dataset (N images per split);
//! - a directory `<split>/<class>/<image>` or `<class>/<image>`;
//! - a `.tar.gz` / `.tgz` archive of such a tree;
//! - a directory holding one archive per split, named `*<split>.tar.gz`
//!   (e.g. `shared/data/cifar10/cifar10-test.tar.gz`);
//! - a CIFAR-10 binary directory (`data_batch_{1..5}.bin`, `test_batch.bin`) or a CIFAR-100 one
//!   (`train.bin`, `test.bin`).

use std::path::{Path, PathBuf};

use super::ImageSet;
use super::cifar_binary::{self, CifarKind};
use super::procedural::{self, ProceduralConfig};

/// Most images `procedural:N` generates (3 GiB of pixels per split at 32x32).
pub const MAX_PROCEDURAL_IMAGES: usize = 1_000_000;

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training images.
    Train,
    /// Test images (what `eval` reports on).
    Test,
}

impl Split {
    /// The folder / file name of this split.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Where images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The built-in procedural dataset with this many images per split.
    Procedural { images: usize },
    /// A path on disk (directory or archive).
    Path(PathBuf),
}

impl DataSource {
    /// Parses `procedural`, `procedural:N` or a path.
    pub fn parse(spec: &str) -> crate::Result<Self> {
        if let Some(rest) = spec.strip_prefix("procedural") {
            let images = match rest.strip_prefix(':') {
                Some(n) => n.parse().map_err(|_| {
                    crate::Error::Data(format!("procedural:N needs a number of images, got '{n}'"))
                })?,
                None if rest.is_empty() => 2000,
                None => return Ok(DataSource::Path(spec.into())),
            };
            if images > MAX_PROCEDURAL_IMAGES {
                return Err(crate::Error::Data(format!(
                    "procedural:N takes at most {MAX_PROCEDURAL_IMAGES} images (3 KiB each), got {images}"
                )));
            }
            return Ok(DataSource::Procedural { images });
        }
        Ok(DataSource::Path(spec.into()))
    }

    /// Loads `split`, decoding images to `size`x`size`.
    pub fn load(&self, split: Split, size: u32) -> crate::Result<ImageSet> {
        let set = match self {
            DataSource::Procedural { images } => procedural::generate(&ProceduralConfig {
                images: *images,
                size: size as usize,
                // Different seeds for the splits: test images are never training images.
                seed: match split {
                    Split::Train => 1,
                    Split::Test => 2,
                },
                ..Default::default()
            }),
            DataSource::Path(path) => load_path(path, split, size)?,
        };
        set.validate()?;
        Ok(set)
    }
}

fn is_tar_gz(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

fn read(path: &Path) -> crate::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))
}

fn load_path(path: &Path, split: Split, size: u32) -> crate::Result<ImageSet> {
    if !path.exists() {
        return Err(crate::Error::Data(format!("{} does not exist", path.display())));
    }
    if path.is_file() {
        if is_tar_gz(path) {
            let file = std::fs::File::open(path)
                .map_err(|e| crate::Error::io(format!("opening {}", path.display()), e))?;
            return super::image_folder::from_tar_gz(
                std::io::BufReader::new(file),
                split.name(),
                size,
                &path.display().to_string(),
            );
        }
        return Err(crate::Error::Data(format!(
            "{}: expected a directory or a .tar.gz archive",
            path.display()
        )));
    }
    // CIFAR binary releases.
    if path.join("test_batch.bin").exists() || path.join("data_batch_1.bin").exists() {
        let files: Vec<PathBuf> = match split {
            Split::Train => (1..=5).map(|i| path.join(format!("data_batch_{i}.bin"))).collect(),
            Split::Test => vec![path.join("test_batch.bin")],
        };
        return load_cifar(CifarKind::Cifar10, &files, &path.join("batches.meta.txt"));
    }
    if path.join("test.bin").exists() || path.join("train.bin").exists() {
        let files = vec![path.join(format!("{}.bin", split.name()))];
        return load_cifar(CifarKind::Cifar100, &files, &path.join("fine_label_names.txt"));
    }
    // One archive per split.
    let mut archives: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_tar_gz(p))
        .collect();
    archives.sort();
    if !archives.is_empty() {
        let wanted = archives.iter().find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_lowercase();
            let stem = name.trim_end_matches(".tar.gz").trim_end_matches(".tgz");
            stem == split.name() || stem.ends_with(&format!("-{}", split.name())) || stem.ends_with(&format!("_{}", split.name()))
        });
        return match wanted {
            Some(archive) => load_path(archive, split, size),
            None => Err(crate::Error::Data(format!(
                "{}: no archive for split '{}' among {}",
                path.display(),
                split.name(),
                archives.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    super::image_folder::from_directory(path, split.name(), size)
}

fn load_cifar(kind: CifarKind, files: &[PathBuf], names: &Path) -> crate::Result<ImageSet> {
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend(read(f)?);
    }
    let class_names = std::fs::read_to_string(names).ok().map(|t| cifar_binary::parse_names(&t));
    cifar_binary::parse(kind, &bytes, class_names)
        .map_err(|e| crate::Error::Data(format!("{}: {e}", files[0].display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(DataSource::parse("procedural").unwrap(), DataSource::Procedural { images: 2000 });
        assert_eq!(DataSource::parse("procedural:50").unwrap(), DataSource::Procedural { images: 50 });
        assert!(DataSource::parse("procedural:x").is_err());
        let err = DataSource::parse("procedural:1000000000000").unwrap_err();
        assert!(err.to_string().contains("at most 1000000"), "{err}");
        assert_eq!(DataSource::parse("a/b").unwrap(), DataSource::Path("a/b".into()));
    }

    #[test]
    fn procedural_splits_differ() {
        let src = DataSource::Procedural { images: 10 };
        let (a, b) = (src.load(Split::Train, 32).unwrap(), src.load(Split::Test, 32).unwrap());
        assert_ne!(a.pixels, b.pixels);
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let err = DataSource::parse("/no/such/dir").unwrap().load(Split::Test, 32).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir does not exist"), "{err}");
    }

    #[test]
    fn cifar_binary_directory() {
        let dir = std::env::temp_dir().join(format!("hs-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut rec = vec![4u8];
        rec.extend(std::iter::repeat_n(7u8, 3072));
        std::fs::write(dir.join("test_batch.bin"), &rec).unwrap();
        std::fs::write(dir.join("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n").unwrap();
        let set = DataSource::Path(dir.clone()).load(Split::Test, 32).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((set.labels[0], set.class_names[4].as_str()), (4, "e"));
    }
}
