//! The fuzz targets: every decoder and loader that reads what users hand it (issue 13).
//!
//! | target | what it feeds |
//! |---|---|
//! | `image` | `data::decode::decode_rgb` (every image format, to 32x32 and other sizes) and the ImageNet preprocessing |
//! | `archive` | `data::image_folder::from_tar_gz` (mutated tar inside a valid gzip, or raw bytes) |
//! | `unpack` | `data::fetch::unpack` (`data fetch`'s unpacking; nothing may land outside its folder) |
//! | `cifar-binary` | `data::cifar_binary::parse` (CIFAR-10 and -100 records) and its names file |
//! | `safetensors-images` | `data::safetensors_images::parse_bytes` (labelled test images) |
//! | `npy-header` | `corruptions::cifar10c::parse_npy_header` |
//! | `cifar10c` | `corruptions::cifar10c::load` (a corruption's `.npy` and `labels.npy` in a folder) |
//! | `weights-safetensors`, `weights-pt` | `models::import::load_checkpoint` (safetensors, PyTorch zip and legacy pickles) |
//! | `burnpack` | `models::Classifier::from_burnpack` (`model.bpk`) |
//! | `model-config` | `model.json`: `ModelConfig` from JSON, `validate`, building the network |
//! | `attack-spec` | `AttackSpec::parse_list` / `from_str` (the `--attack` grammar), with a round-trip check |
//! | `page-request` | the page's attack request (`web/src/request.rs`): JSON to an attack spec |
//! | `serve` | `hypersphere serve`: raw HTTP requests at the running server |

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use burn::tensor::Device;
use hypersphere_core::attacks::AttackSpec;
use hypersphere_core::corruptions::{Corruption, cifar10c};
use hypersphere_core::data::cifar_binary::{self, CifarKind};
use hypersphere_core::data::decode::{decode_rgb, encode_png};
use hypersphere_core::data::imagenet::Preprocess;
use hypersphere_core::data::{image_folder, safetensors_images};
use hypersphere_core::models::import::{LoadOptions, load_checkpoint, non_finite_parameter};
use hypersphere_core::error::one_line;
use hypersphere_core::models::{Arch, Classifier, MAX_PARAMETERS, ModelConfig};

use crate::harness::Target;
use crate::mutate::{self, Rng};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read_dir_files(dir: &Path, max_len: u64, skip: &[&str]) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.metadata().is_ok_and(|m| m.len() <= max_len))
        .filter(|p| !skip.iter().any(|s| p.file_name().is_some_and(|n| n == *s)))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A scratch folder per target, emptied at the start.
fn scratch(target: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hs-fuzz-{}", std::process::id())).join(target);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text_dict(tokens: &'static [&'static str]) -> Vec<&'static [u8]> {
    tokens.iter().map(|t| t.as_bytes()).collect()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

// ---- images --------------------------------------------------------------------------------

/// A small image in `format` (None where the `image` crate cannot write it from RGBA).
fn encoded(format: image::ImageFormat, w: u32, h: u32) -> Option<Vec<u8>> {
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 37 % 251) as u8).collect();
    let img = image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, rgba).unwrap());
    let img = if matches!(format, image::ImageFormat::Jpeg | image::ImageFormat::Pnm) { image::DynamicImage::ImageRgb8(img.to_rgb8()) } else { img };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).ok()?;
    Some(out.into_inner())
}

fn image_target() -> Target {
    let hostile = repo().join("tests/hostile/images");
    // With the 20000x20000 1-bit PNG (400 MB decoded: the ImageNet preprocessing once took a
    // minute on it, found by the long run).
    let mut seeds = read_dir_files(&hostile, 256 << 10, &[]);
    use image::ImageFormat::*;
    for format in [Png, Jpeg, Gif, Bmp, Tiff, WebP, Pnm, Tga, Ico] {
        seeds.extend(encoded(format, 5, 3));
    }
    let dict = text_dict(&["IHDR", "IDAT", "IEND", "PLTE", "tRNS", "acTL", "fcTL", "\u{ff}\u{d8}", "GIF89a", "BM", "II*\0", "MM\0*", "RIFF", "WEBPVP8 ", "P6\n", "P5 ", "65535"]);
    Target {
        name: "image",
        seeds,
        smoke: 4000,
        mutate: Box::new(move |rng, input, pool| {
            let mut out = mutate::bytes(rng, input, pool, &dict, 1 << 20);
            if rng.chance(0.9) {
                mutate::fix_png_crcs(&mut out);
            }
            out
        }),
        run: Box::new(|input| {
            // The size a model asks for: mostly 32, sometimes odd ones.
            let size = [32, 32, 32, 8, 1, 224][input.len() % 6];
            match decode_rgb(input, size) {
                Ok(rgb) => assert_eq!(rgb.len(), (size * size * 3) as usize, "decode_rgb gave the wrong number of bytes"),
                Err(e) => return Err(err(e)),
            }
            // The ImageNet evaluation transform decodes the same bytes its own way.
            let pre = if input.len() % 2 == 0 { Preprocess::STANDARD } else { Preprocess::ResizeCrop { resize: 36, crop: 32 } };
            let rgb = pre.apply(input).map_err(err)?;
            assert_eq!(rgb.len(), (pre.size() * pre.size() * 3) as usize, "preprocess gave the wrong number of bytes");
            Ok(())
        }),
    }
}

// ---- archives ------------------------------------------------------------------------------

fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    mutate::gzip(&builder.into_inner().unwrap())
}

fn archive_target() -> Target {
    let png = |v: u8| encode_png(&[v; 4 * 4 * 3], 4, 4).unwrap();
    let mut seeds = vec![
        tar_gz(&[("train/cat/0.png", png(1)), ("test/cat/0.png", png(2)), ("test/dog/0.png", png(3)), ("test/dog/1.png", png(4))]),
        tar_gz(&[("cat/0.png", png(5)), ("dog/a.png", png(6)), ("dog/notes.txt", b"stray".to_vec())]),
        tar_gz(&[("test/a/x.ppm", b"P6\n2 2\n255\n\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c".to_vec()), ("test/b/y.png", png(9))]),
    ];
    seeds.extend(read_dir_files(&repo().join("tests/hostile/archives"), 64 << 10, &[]));
    let dict = text_dict(&["../", "/", "test/", "train/", ".png", "ustar", "00000000000", "77777777777", "\0\0\0\0"]);
    Target {
        name: "archive",
        seeds,
        smoke: 1500,
        mutate: Box::new(move |rng, input, pool| {
            // Mostly the tar inside (its header sums fixed, then gzipped again), so mutations
            // reach the archive reader rather than the gzip checksum.
            match mutate::gunzip(input, 4 << 20) {
                Some(tar) if rng.chance(0.85) => {
                    let mut out = mutate::bytes(rng, &tar, &[], &dict, 4 << 20);
                    if rng.chance(0.9) {
                        mutate::fix_tar_checksums(&mut out);
                    }
                    mutate::gzip(&out)
                }
                _ => mutate::bytes(rng, input, pool, &dict, 4 << 20),
            }
        }),
        run: Box::new(|input| {
            let set = image_folder::from_tar_gz(input, "test", 8, "fuzz.tar.gz").map_err(err)?;
            assert_eq!(set.pixels.len(), set.len() * 8 * 8 * 3, "pixels do not match the image count");
            assert!(set.labels.iter().all(|&l| l < set.class_names.len()), "a label past the class names");
            Ok(())
        }),
    }
}

/// `data fetch`'s unpacking of a downloaded archive: whatever the tar holds, nothing may be
/// written outside the target folder, and a failed unpack leaves nothing behind.
fn unpack_target() -> Target {
    use hypersphere_core::data::fetch::{Archive, Packing, unpack};
    let dir = scratch("unpack");
    let tar = |files: &[(&str, &[u8])]| {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, bytes) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
            }
            // Written raw: the tar crate refuses to write `..` names, the point of some seeds.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *bytes).unwrap();
        }
        builder.into_inner().unwrap()
    };
    let seeds = vec![
        tar(&[("data/", b""), ("data/a.bin", b"abc"), ("data/sub/b.txt", b"hello")]),
        tar(&[("data/a.bin", b"x"), ("data/../../escape.txt", b"no")]),
        tar(&[("./data/a.bin", b"x"), ("data/a.bin/x", b"y")]),
    ];
    let dict = text_dict(&["../", "/", "data/", "a.bin", "ustar", "00000000000", "77777777777", "1", "2", "5", "\0"]);
    Target {
        name: "unpack",
        seeds,
        smoke: 300,
        mutate: Box::new(move |rng, input, pool| {
            let mut out = mutate::bytes(rng, input, pool, &dict, 1 << 20);
            if rng.chance(0.9) {
                mutate::fix_tar_checksums(&mut out);
            }
            out
        }),
        run: Box::new(move |input| {
            let _ = std::fs::remove_dir_all(&dir);
            let target = dir.join("target");
            std::fs::create_dir_all(&target).unwrap();
            let file = dir.join("archive.tar");
            std::fs::write(&file, input).unwrap();
            let archive = Archive {
                file: "archive.tar".into(),
                url: String::new(),
                md5: String::new(),
                size: None,
                packing: Packing::Tar,
                root: "data".into(),
                required: vec!["a.bin".into()],
                unpacked_limit: 1 << 20,
            };
            let result = unpack(&file, &archive, &target);
            // Only the archive and the target folder exist beside each other.
            let mut outside: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            outside.sort();
            assert_eq!(outside, ["archive.tar", "target"], "unpack wrote outside its folder");
            let inside: Vec<String> = std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            match result {
                Ok(path) => {
                    assert_eq!(path, target.join("data"));
                    assert!(path.join("a.bin").is_file());
                    assert_eq!(inside, ["data"], "an unpack leaves only its result");
                    Ok(())
                }
                Err(e) => {
                    assert!(inside.is_empty(), "a failed unpack left {inside:?} behind");
                    Err(err(e))
                }
            }
        }),
    }
}

// ---- CIFAR binary --------------------------------------------------------------------------

fn cifar_binary_target() -> Target {
    let record = |label: &[u8]| {
        let mut r = label.to_vec();
        r.extend((0..3072).map(|i| (i % 256) as u8));
        r
    };
    let names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".to_vec();
    let seeds = vec![
        mutate::join_parts(&[[record(&[3]), record(&[9])].concat(), names.clone()]),
        mutate::join_parts(&[[record(&[1, 77]), record(&[19, 99])].concat(), b"a\n\n b \nc".to_vec()]),
    ];
    Target {
        name: "cifar-binary",
        seeds,
        smoke: 1000,
        mutate: Box::new(|rng, input, _| {
            let mut parts = mutate::split_parts(input);
            parts.resize(2, Vec::new());
            let i = rng.below(2);
            parts[i] = mutate::bytes(rng, &parts[i], &[], &[], 1 << 20);
            mutate::join_parts(&parts)
        }),
        run: Box::new(|input| {
            let parts = mutate::split_parts(input);
            let (records, names) = (parts.first().cloned().unwrap_or_default(), parts.get(1).cloned().unwrap_or_default());
            let names = cifar_binary::parse_names(&String::from_utf8_lossy(&names));
            let mut first_error = None;
            for (kind, classes) in [(CifarKind::Cifar10, 10), (CifarKind::Cifar100, 100)] {
                match cifar_binary::parse(kind, &records, Some(names.clone())) {
                    Ok(set) => {
                        assert_eq!(set.pixels.len(), set.len() * 3072);
                        assert_eq!(set.class_names.len(), classes);
                        assert!(set.labels.iter().all(|&l| l < classes));
                    }
                    Err(e) => first_error = first_error.or(Some(err(e))),
                }
            }
            first_error.map_or(Ok(()), Err)
        }),
    }
}

// ---- safetensors images --------------------------------------------------------------------

/// `[u64 LE header length][JSON header][data]`.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Mutates a safetensors file: mostly its JSON header as text (numbers made extreme, tokens
/// inserted) with the length field fixed up, sometimes the raw bytes.
fn mutate_safetensors(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>], dict: &[&[u8]]) -> Vec<u8> {
    let len = input.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    match len {
        Some(n) if n <= input.len() - 8 && rng.chance(0.8) => {
            let header = mutate::bytes(rng, &input[8..8 + n], &[], dict, 1 << 16);
            let mut data = input[8 + n..].to_vec();
            if rng.chance(0.3) {
                data = mutate::bytes(rng, &data, &[], &[], 8 << 20);
            }
            let mut out = (header.len() as u64).to_le_bytes().to_vec();
            if rng.chance(0.1) {
                out = mutate::bytes(rng, &out, &[], &[], 8);
            }
            out.extend(header);
            out.extend(data);
            out
        }
        _ => mutate::bytes(rng, input, pool, dict, 8 << 20),
    }
}

const SAFETENSORS_DICT: &[&str] = &[
    "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"U8\"", "\"I64\"", "\"F32\"", "\"F16\"", "\"BF16\"", "\"BOOL\"", "\"F64\"",
    "\"__metadata__\"", "[", "]", "{", "}", ",", ":", "null", "[]", "[0,0]", "\"images\"", "\"labels\"",
];

fn safetensors_images_target() -> Target {
    let mut data: Vec<u8> = (0..2 * 3 * 4 * 4).map(|i| i as u8).collect();
    data.extend(3i64.to_le_bytes());
    data.extend(0i64.to_le_bytes());
    let header = r#"{"images":{"dtype":"U8","shape":[2,3,4,4],"data_offsets":[0,96]},"labels":{"dtype":"I64","shape":[2],"data_offsets":[96,112]}}"#;
    let mut seeds = vec![safetensors(header, &data)];
    let header = r#"{"__metadata__":{"a":"b"},"labels":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"images":{"dtype":"U8","shape":[1,3,1,2],"data_offsets":[8,14]}}"#;
    seeds.push(safetensors(header, &[[1u8, 0, 0, 0, 0, 0, 0, 0].as_slice(), &[9; 6]].concat()));
    seeds.extend(read_dir_files(&repo().join("tests/hostile/weights"), 64 << 10, &[]).into_iter().filter(|f| f.len() >= 8));
    let dict = text_dict(SAFETENSORS_DICT);
    Target {
        name: "safetensors-images",
        seeds,
        smoke: 3000,
        mutate: Box::new(move |rng, input, pool| mutate_safetensors(rng, input, pool, &dict)),
        run: Box::new(|input| {
            let set = safetensors_images::parse_bytes(input).map_err(err)?;
            assert_eq!(set.pixels.len(), set.len() * set.height * set.width * 3);
            assert!(set.labels.iter().all(|&l| l < set.class_names.len()));
            Ok(())
        }),
    }
}

// ---- .npy ----------------------------------------------------------------------------------

const NPY_DICT: &[&str] = &[
    "'descr'", "'fortran_order'", "'shape'", "'|u1'", "'<u1'", "'<i4'", "'<u8'", "'<f4'", "'>u4'", "'|b1'", "True", "False", "(", ")",
    ",", "L", "{", "}", "\n", "\"shape\"", "(0,)", "()",
];

/// Mutates a `.npy` file: mostly the header text, with the header length fixed up.
fn mutate_npy(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>], dict: &[&[u8]]) -> Vec<u8> {
    let end = input.iter().position(|&b| b == b'\n').map(|p| p + 1);
    match end {
        Some(end) if input.starts_with(b"\x93NUMPY\x01\x00") && end > 10 && rng.chance(0.8) => {
            let header = mutate::bytes(rng, &input[10..end], &[], dict, 1 << 12);
            let mut out = input[..8].to_vec();
            let len = if rng.chance(0.9) { header.len() as u16 } else { rng.next() as u16 };
            out.extend(len.to_le_bytes());
            out.extend(header);
            let mut data = input[end..].to_vec();
            if rng.chance(0.3) {
                data = mutate::bytes(rng, &data, &[], &[], 1 << 20);
            }
            out.extend(data);
            out
        }
        _ => mutate::bytes(rng, input, pool, dict, 1 << 20),
    }
}

fn npy_seeds() -> Vec<(Vec<u8>, Vec<u8>)> {
    let dir = repo().join("tests/hostile/npy");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    cases.sort();
    cases
        .iter()
        .map(|c| {
            let read = |n: &str| std::fs::read(c.join(n)).unwrap_or_default();
            (read("gaussian_noise.npy"), read("labels.npy"))
        })
        .collect()
}

fn npy_header_target() -> Target {
    let mut seeds: Vec<Vec<u8>> = npy_seeds().into_iter().flat_map(|(a, b)| [a, b]).filter(|f| !f.is_empty()).collect();
    seeds.push(cifar10c::npy_u8_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]));
    let dict = text_dict(NPY_DICT);
    Target {
        name: "npy-header",
        seeds,
        smoke: 2000,
        mutate: Box::new(move |rng, input, pool| mutate_npy(rng, input, pool, &dict)),
        run: Box::new(|input| {
            let h = cifar10c::parse_npy_header(input).map_err(err)?;
            assert!(h.data_offset <= input.len(), "the data offset {} lies past the header it was read from", h.data_offset);
            let _ = h.len();
            Ok(())
        }),
    }
}

fn cifar10c_target() -> Target {
    let seeds: Vec<Vec<u8>> = npy_seeds().into_iter().map(|(a, b)| mutate::join_parts(&[a, b])).collect();
    let dict = text_dict(NPY_DICT);
    let dir = scratch("cifar10c");
    Target {
        name: "cifar10c",
        seeds,
        smoke: 1000,
        mutate: Box::new(move |rng, input, pool| {
            let mut parts = mutate::split_parts(input);
            parts.resize(2, Vec::new());
            let i = rng.below(2);
            let others: Vec<Vec<u8>> = pool.iter().map(|p| mutate::split_parts(p).swap_remove(0)).take(8).collect();
            parts[i] = mutate_npy(rng, &parts[i], &others, &dict);
            mutate::join_parts(&parts)
        }),
        run: Box::new(move |input| {
            let parts = mutate::split_parts(input);
            for (i, name) in ["gaussian_noise.npy", "labels.npy"].iter().enumerate() {
                let path = dir.join(name);
                let _ = std::fs::remove_file(&path);
                // An empty part stands for a missing file.
                if let Some(p) = parts.get(i).filter(|p| !p.is_empty()) {
                    std::fs::write(&path, p).unwrap();
                }
            }
            let severity = 1 + (input.len() % 5) as u8;
            let set = cifar10c::load(&dir, Corruption::GaussianNoise, severity).map_err(err)?;
            assert_eq!(set.pixels.len(), set.len() * set.height * set.width * 3);
            assert!(set.labels.iter().all(|&l| l < set.class_names.len()));
            Ok(())
        }),
    }
}

// ---- weights -------------------------------------------------------------------------------

/// The model every weights target loads into: the small CNN of width 1 with 3 classes (what
/// `scripts/make_fuzz_seeds.py` writes its state dicts for).
fn small_config() -> ModelConfig {
    ModelConfig { width: 1, ..ModelConfig::new(Arch::SmallCnn, 3) }
}

fn weights_target(name: &'static str, extension: &'static str, seeds: Vec<Vec<u8>>, smoke: usize) -> Target {
    let dir = scratch(name);
    let device = Device::flex();
    let dict = text_dict(SAFETENSORS_DICT);
    let pickle_dict: Vec<&'static [u8]> = vec![
        b"PK\x03\x04", b"archive/data.pkl", b"archive/data/0", b"\x80\x02", b"q\x00", b"X\x0a\x00\x00\x00",
        b"ctorch._utils\n_rebuild_tensor_v2\n", b"ctorch\nFloatStorage\n", b"cos\nsystem\n", b"\x94", b"R", b".",
    ];
    Target {
        name,
        seeds,
        smoke,
        mutate: Box::new(move |rng, input, pool| {
            if extension == "safetensors" {
                mutate_safetensors(rng, input, pool, &dict)
            } else {
                mutate::bytes(rng, input, pool, &pickle_dict, 4 << 20)
            }
        }),
        run: Box::new(move |input| {
            let path = dir.join(format!("weights.{extension}"));
            std::fs::write(&path, input).unwrap();
            let loaded = load_checkpoint(small_config(), &path, &LoadOptions::default(), &device).map_err(err)?;
            // What the CLI does next: refuse non-finite weights by name.
            if let Some((tensor, bad, total)) = non_finite_parameter(&loaded.model) {
                assert!(bad > 0 && bad <= total && !tensor.is_empty());
            }
            Ok(())
        }),
    }
}

fn fuzz_seed(name: &str) -> Vec<u8> {
    let path = repo().join("tests/fuzz/seeds").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/make_fuzz_seeds.py)", path.display()))
}

fn weights_safetensors_target() -> Target {
    let mut seeds = vec![fuzz_seed("small_cnn_w1.safetensors")];
    seeds.extend(
        read_dir_files(&repo().join("tests/hostile/weights"), 64 << 10, &[])
            .into_iter()
            .filter(|f| f.len() >= 8 && u64::from_le_bytes(f[..8].try_into().unwrap()) < 1 << 20),
    );
    weights_target("weights-safetensors", "safetensors", seeds, 600)
}

fn weights_pt_target() -> Target {
    let mut seeds = vec![fuzz_seed("small_cnn_w1.pt"), fuzz_seed("small_cnn_w1_legacy.pt")];
    let hostile = repo().join("tests/hostile/weights");
    for f in ["evil_raw.pt", "evil_state_dict.pt", "evil_zip.pt", "garbage.pt"] {
        seeds.push(std::fs::read(hostile.join(f)).unwrap());
    }
    weights_target("weights-pt", "pt", seeds, 600)
}

fn burnpack_target() -> Target {
    let device = Device::flex();
    let seed = Classifier::new(small_config(), &device).unwrap().to_burnpack().unwrap();
    let dict = text_dict(&["network", "conv1", "weight", "gamma", "running_var", "F32", "F16", "shape", "\0\0\0\0"]);
    Target {
        name: "burnpack",
        seeds: vec![seed],
        smoke: 1500,
        mutate: Box::new(move |rng, input, pool| mutate::bytes(rng, input, pool, &dict, 1 << 20)),
        run: Box::new(move |input| {
            let model = Classifier::from_burnpack(small_config(), input.to_vec(), &device).map_err(err)?;
            let _ = non_finite_parameter(&model);
            Ok(())
        }),
    }
}

fn model_config_target() -> Target {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for arch in [Arch::SmallCnn, Arch::ResNet18Cifar, Arch::ResNet50Cifar, Arch::ResNet50ImageNet, Arch::VitTi16, Arch::VitB16] {
        let mut c = ModelConfig::new(arch, 10);
        c.class_names = vec!["cat".into(), "dog".into()];
        seeds.push(serde_json::to_vec_pretty(&c).unwrap());
    }
    seeds.push(br#"{"arch":"vit-s16","width":384,"num_classes":1000,"input_size":224,"depth":12,"readout":{"dino":{"last_blocks":4,"avgpool":false}}}"#.to_vec());
    seeds.push(br#"{"arch":"small-cnn","width":2,"num_classes":3}"#.to_vec());
    let dict = text_dict(&[
        "\"arch\"", "\"width\"", "\"num_classes\"", "\"input_size\"", "\"normalization\"", "\"mean\"", "\"std\"", "\"depth\"", "\"readout\"",
        "\"dino\"", "\"class-token\"", "\"last_blocks\"", "\"avgpool\"", "\"small-cnn\"", "\"vit-b16\"", "\"resnet50-imagenet\"", "null",
        "[0,0,0]", "true", ",", ":", "{", "}", "\"\\n\"", "\"\u{1b}[2J\"",
    ]);
    let device = Device::flex();
    Target {
        name: "model-config",
        seeds,
        smoke: 1500,
        mutate: Box::new(move |rng, input, pool| mutate::bytes(rng, input, pool, &dict, 1 << 16)),
        run: Box::new(move |input| {
            // The CLI reads model.json with serde_json and prints the error through its one-line
            // error printer (`error::one_line`), as here.
            let config: ModelConfig = serde_json::from_slice(input).map_err(|e| one_line(&e.to_string()).into_owned())?;
            config.validate().map_err(err)?;
            let bound = config.parameter_bound();
            assert!(bound <= MAX_PARAMETERS as u128, "validate() passed a model of up to {bound} parameters");
            // Small ones are built: the bound must hold.
            if bound <= 300_000 {
                let model = Classifier::new(config, &device).map_err(err)?;
                let n = burn::module::Module::num_params(&model) as u128;
                assert!(n <= bound, "{n} parameters, above the bound {bound}");
            }
            Ok(())
        }),
    }
}

// ---- specs and requests --------------------------------------------------------------------

const SPEC_SEEDS: &[&str] = &[
    "fgsm:linf:8/255",
    "fgsm:linf:8/255:ce-t",
    "pgd:linf:8/255:10",
    "pgd:l2:0.5:20:dlr",
    "pgd:l1:12:10:cw",
    "pgd:linf:2/255,4/255,8/255:40",
    "apgd-ce:linf:8/255",
    "apgd-t:l2:0.5:50",
    "apgd-dlr:linf:4/255:100",
    "fab-t:linf:8/255:100",
    "fab:l2:1",
    "square:linf:8/255:5000",
    "autoattack:linf:8/255",
    "autoattack:l2:0.5:rand",
    "autoattack:linf:8/255:apgd-ce@10+apgd-t@5+fab-t+square@100",
    "aa:l_inf:0.03:standard",
];

fn attack_spec_target() -> Target {
    let dict = text_dict(&[
        "fgsm", "pgd", "apgd-ce", "apgd-t", "apgd-dlr", "fab", "fab-t", "square", "autoattack", "linf", "l2", "l1", "l_inf", ":", "/", ",",
        "+", "@", "ce", "ce-t", "dlr", "dlr-t", "cw", "standard", "rand", "NaN", "inf", "1e30", "0", "-1", "1000000000000", "\n", "\r",
        "\u{1b}[31m", "é", " ",
    ]);
    Target {
        name: "attack-spec",
        seeds: SPEC_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        smoke: 3000,
        mutate: Box::new(move |rng, input, pool| mutate::bytes(rng, input, pool, &dict, 4096)),
        run: Box::new(|input| {
            let text = String::from_utf8_lossy(input);
            let specs = AttackSpec::parse_list(&text).map_err(err)?;
            for spec in specs {
                check_spec(&spec);
                // Written back in the grammar, a spec parses to the same attack.
                let again: AttackSpec = spec.to_text().parse().unwrap_or_else(|e| panic!("'{}' (from '{text}') does not parse again: {e}", spec.to_text()));
                assert_eq!((again.kind, again.norm, again.steps, again.loss), (spec.kind, spec.norm, spec.steps, spec.loss), "{text}");
                assert_eq!((&again.components, &again.component_steps), (&spec.components, &spec.component_steps), "{text}");
                assert!((again.eps - spec.eps).abs() <= 1e-6 * spec.eps.max(1.0), "eps {} became {}", spec.eps, again.eps);
            }
            Ok(())
        }),
    }
}

/// What a valid spec promises the attacks.
fn check_spec(spec: &AttackSpec) {
    assert!(spec.eps.is_finite() && spec.eps >= 0.0, "eps {}", spec.eps);
    assert!((1..=hypersphere_core::attacks::spec::MAX_STEPS).contains(&spec.steps), "steps {}", spec.steps);
    assert_eq!(spec.components.len(), spec.component_steps.len());
    for &k in &spec.components {
        let _ = spec.component(k);
    }
}

fn page_request_target() -> Target {
    let seeds: Vec<Vec<u8>> = [
        r#"{"attack":"fgsm","eps":0.03137}"#,
        r#"{"attack":"pgd","eps":0.03137,"steps":10,"seed":7,"target":3}"#,
        r#"{"attack":"pgd-l2","eps":0.5,"steps":5,"seed":0,"target":null}"#,
        r#"{"attack":"apgd-ce","eps":0.0156,"steps":20}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dict = text_dict(&["\"attack\"", "\"eps\"", "\"steps\"", "\"seed\"", "\"target\"", "\"fgsm\"", "\"pgd\"", "\"pgd-l2\"", "\"apgd-ce\"", "null", "-", "1e39", "4294967296", "\"\\n\"", ",", ":"]);
    Target {
        name: "page-request",
        seeds,
        smoke: 2000,
        mutate: Box::new(move |rng, input, pool| mutate::bytes(rng, input, pool, &dict, 4096)),
        run: Box::new(|input| {
            let request = crate::request::AttackRequest::from_json(&String::from_utf8_lossy(input))?;
            let spec = request.spec()?;
            check_spec(&spec);
            assert_eq!(spec.eps, request.eps);
            let again = request.with_eps(spec.eps / 2.0).spec()?;
            assert_eq!(again.kind, spec.kind);
            Ok(())
        }),
    }
}

// ---- hypersphere serve ---------------------------------------------------------------------

/// The running server, stopped when the target is dropped.
struct Server {
    child: Mutex<Child>,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

const SECRET: &str = "fuzz-secret-9c41e7";

fn serve_target() -> Target {
    let dir = scratch("serve");
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("web")).unwrap();
    std::fs::write(root.join("index.html"), "<p>index</p>").unwrap();
    std::fs::write(root.join("web/app.js"), "// app").unwrap();
    std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
    let mut child = Command::new(crate::common::binary())
        .args(["serve", "--root", &root.display().to_string(), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .expect("hypersphere serve starts");
    let mut line = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.trim_end_matches('/').split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in '{line}'"));
    let server = Server { child: Mutex::new(child), port };
    let seeds: Vec<Vec<u8>> = [
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /web/app.js?x=1#y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "HEAD /index.html HTTP/1.0\r\n\r\n",
        "GET /../secret.txt HTTP/1.1\r\n\r\n",
        "GET /web/../../secret.txt HTTP/1.1\r\n\r\n",
        "GET /%2e%2e/secret.txt HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET http://localhost/../secret.txt HTTP/1.1\r\n\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let dict = text_dict(&[
        "../", "..", "%2e", "%2f", "%00", "//", "\\", "\0", "?", "#", "/secret.txt", "\r\n", "Transfer-Encoding: chunked\r\n",
        "Content-Length: 99999999999\r\n", "Expect: 100-continue\r\n", "Connection: keep-alive\r\n", "HTTP/1.1", "HTTP/2.0", " ",
    ]);
    Target {
        name: "serve",
        seeds,
        smoke: 1000,
        mutate: Box::new(move |rng, input, pool| mutate::bytes(rng, input, pool, &dict, 16 << 10)),
        run: Box::new(move |input| {
            let log = || std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            let mut stream = TcpStream::connect(("127.0.0.1", server.port))
                .unwrap_or_else(|e| panic!("the server stopped answering: {e} (its stderr: {})", log()));
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = stream.write_all(input);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut answer = Vec::new();
            match stream.read_to_end(&mut answer) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    panic!("no answer within 10 s")
                }
                _ => {}
            }
            assert!(!String::from_utf8_lossy(&answer).contains(SECRET), "a file outside the root was served");
            if let Some(status) = server.child.lock().unwrap().try_wait().unwrap() {
                panic!("the server stopped ({status}; its stderr: {})", log());
            }
            Ok(())
        }),
    }
}

/// Every target, in the order they run.
pub fn all() -> Vec<Target> {
    vec![
        attack_spec_target(),
        page_request_target(),
        model_config_target(),
        npy_header_target(),
        cifar10c_target(),
        cifar_binary_target(),
        safetensors_images_target(),
        image_target(),
        archive_target(),
        unpack_target(),
        weights_safetensors_target(),
        weights_pt_target(),
        burnpack_target(),
        serve_target(),
    ]
}
