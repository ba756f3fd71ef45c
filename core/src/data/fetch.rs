//! Fetching the published datasets (`hypersphere data fetch`, `--data cifar10`): a typed
//! catalogue of the official archives (URL, MD5, size, layout), a resumable HTTP(S) download into
//! `<dir>/<file>.part` (HTTP Range requests; a server that ignores Range restarts the file), the
//! check against the published MD5, and a path-safe unpack into a temporary folder that is renamed
//! into place only when complete, so a killed fetch never leaves a folder that looks finished.
//!
//! The archives are the variants the loaders read: the CIFAR-10/100 *binary* versions
//! ([`super::cifar_binary`], via [`super::source`]) and CIFAR-10-C's `.npy` files
//! ([`crate::corruptions::cifar10c`]). Sources of the catalogue (checked 2026-12-02):
//! - CIFAR-10 / CIFAR-100: <https://www.cs.toronto.edu/~kriz/cifar.html> publishes the md5sums of
//!   `cifar-10-binary.tar.gz` (c32a1d4ab5d03f1284b67883e8d87530) and `cifar-100-binary.tar.gz`
//!   (03b5dce01913d631647c71ecec9e9cb8); the sizes (170,052,171 and 168,513,733 bytes) are those
//!   recorded by several repositories that verified these downloads.
//! - CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019): Zenodo record 2535967, `CIFAR-10-C.tar`,
//!   2,918,471,680 bytes, MD5 56bf5dcef84df0e2308c6dcbcbbd8499 as listed on the record and in
//!   ENSTA-U2IS-AI/torch-uncertainty (`torch_uncertainty/datasets/classification/cifar/cifar_c.py`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// A dataset `hypersphere data fetch` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// CIFAR-10, binary version (train and test split).
    Cifar10,
    /// CIFAR-100, binary version (fine labels).
    Cifar100,
    /// CIFAR-10-C: the 10,000 CIFAR-10 test images under 19 corruptions at 5 severities.
    Cifar10C,
}

impl Dataset {
    /// Every dataset of the catalogue.
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::Cifar10C];

    /// The name on the command line (`cifar10`, `cifar100`, `cifar10-c`).
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::Cifar10C => "cifar10-c",
        }
    }

    /// The dataset called `name` (case-insensitive; `cifar10c` and `cifar-10-c` also name
    /// CIFAR-10-C), or `None` for anything else (a path).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cifar10" | "cifar-10" => Some(Dataset::Cifar10),
            "cifar100" | "cifar-100" => Some(Dataset::Cifar100),
            "cifar10-c" | "cifar10c" | "cifar-10-c" => Some(Dataset::Cifar10C),
            _ => None,
        }
    }

    /// The published archive of this dataset.
    pub fn archive(self) -> Archive {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match self {
            Dataset::Cifar10 => Archive {
                file: "cifar-10-binary.tar.gz".into(),
                url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into(),
                md5: "c32a1d4ab5d03f1284b67883e8d87530".into(),
                size: Some(170_052_171),
                packing: Packing::TarGz,
                root: "cifar-10-batches-bin".into(),
                required: s(&["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin", "batches.meta.txt"]),
                unpacked_limit: 256 << 20,
            },
            Dataset::Cifar100 => Archive {
                file: "cifar-100-binary.tar.gz".into(),
                url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz".into(),
                md5: "03b5dce01913d631647c71ecec9e9cb8".into(),
                size: Some(168_513_733),
                packing: Packing::TarGz,
                root: "cifar-100-binary".into(),
                required: s(&["train.bin", "test.bin", "fine_label_names.txt"]),
                unpacked_limit: 256 << 20,
            },
            Dataset::Cifar10C => Archive {
                file: "CIFAR-10-C.tar".into(),
                url: "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar?download=1".into(),
                md5: "56bf5dcef84df0e2308c6dcbcbbd8499".into(),
                size: Some(2_918_471_680),
                packing: Packing::Tar,
                root: "CIFAR-10-C".into(),
                required: std::iter::once("labels.npy".to_string())
                    .chain(crate::corruptions::Corruption::ALL.iter().map(|c| format!("{}.npy", c.name())))
                    .collect(),
                unpacked_limit: 3 << 30,
            },
        }
    }
}

/// How an archive is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// A gzip-compressed tar file.
    TarGz,
    /// A plain tar file.
    Tar,
}

/// One published archive: where it is, what it must hash to, and what it unpacks to.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// File name of the archive (also its name on a mirror).
    pub file: String,
    /// The official URL.
    pub url: String,
    /// The published MD5, lowercase hex.
    pub md5: String,
    /// The published size in bytes, when known (a server announcing another size is refused).
    pub size: Option<u64>,
    /// Compression of the tar stream.
    pub packing: Packing,
    /// The one top-level folder of the archive; once unpacked, `<dir>/<root>` is the dataset.
    pub root: String,
    /// Files that must be in `<root>` (what the loaders read).
    pub required: Vec<String>,
    /// Most bytes the archive may unpack to (a guard against decompression bombs).
    pub unpacked_limit: u64,
}

impl Archive {
    /// The URL to download from: `<mirror>/<file>` with a mirror, the official URL without.
    pub fn source_url(&self, mirror: Option<&str>) -> String {
        match mirror {
            Some(base) => format!("{}/{}", base.trim_end_matches('/'), self.file),
            None => self.url.clone(),
        }
    }

    /// Where the unpacked dataset lives under `dir`.
    pub fn data_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.root)
    }

    /// The unpacked dataset under `dir`, if it is there (it appears only complete: see [`unpack`]).
    pub fn fetched(&self, dir: &Path) -> Option<PathBuf> {
        let path = self.data_path(dir);
        path.is_dir().then_some(path)
    }
}

/// Knobs of a download.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Attempts per download: a dropped connection is resumed (Range request) up to this many
    /// times in one run; the `.part` file is kept for the next run after that.
    pub attempts: u32,
    /// Pause before each new attempt.
    pub retry_wait: Duration,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for the server's answer (status and headers) to a request.
    pub response_timeout: Duration,
    /// Keep the verified archive next to the unpacked folder (it is deleted otherwise).
    pub keep_archive: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            attempts: 5,
            retry_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(60),
            keep_archive: false,
        }
    }
}

/// What a fetch reports while it works (the CLI draws a progress bar from it).
pub trait FetchProgress {
    /// A transfer starts (or resumes) with `done` bytes already on disk, of `total` if known.
    fn transfer(&mut self, _done: u64, _total: Option<u64>) {}
    /// `n` more bytes arrived.
    fn bytes(&mut self, _n: u64) {}
    /// A step or a retry worth telling the user.
    fn note(&mut self, _message: &str) {}
}

/// Makes sure `archive`'s dataset is unpacked under `dir` and returns its folder: a finished
/// folder is returned as is; otherwise a verified archive left in `dir` is unpacked, or the
/// archive is downloaded from `url` (resuming `<dir>/<file>.part`), checked against the published
/// MD5 (a mismatch deletes the download and fails), unpacked and, unless
/// [`FetchOptions::keep_archive`], deleted.
///
/// Two fetches of one archive into one folder take turns: an advisory lock on
/// `<dir>/.<file>.lock` (released by the OS if a process dies) makes the second wait, and it
/// then finds the first one's result.
pub fn fetch(archive: &Archive, url: &str, dir: &Path, options: &FetchOptions, progress: &mut dyn FetchProgress) -> Result<PathBuf> {
    if let Some(done) = archive.fetched(dir) {
        return Ok(done);
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let lock_path = dir.join(format!(".{}.lock", archive.file));
    let lock = File::create(&lock_path).map_err(|e| Error::io(format!("creating {}", lock_path.display()), e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            progress.note(&format!("another process is fetching {} into {}; waiting for it", archive.file, dir.display()));
            lock.lock().map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(Error::io(format!("locking {}", lock_path.display()), e)),
    }
    let result = fetch_locked(archive, url, dir, options, progress);
    let _ = fs::remove_file(&lock_path);
    drop(lock);
    result
}

fn fetch_locked(archive: &Archive, url: &str, dir: &Path, options: &FetchOptions, progress: &mut dyn FetchProgress) -> Result<PathBuf> {
    if let Some(done) = archive.fetched(dir) {
        return Ok(done); // fetched while this process waited for the lock
    }
    let file = dir.join(&archive.file);
    let expected = archive.md5.to_ascii_lowercase();
    if file.is_file() {
        progress.note(&format!("verifying the MD5 of {}", file.display()));
        if md5_file(&file)? == expected {
            return finish(archive, &file, dir, options, progress);
        }
        progress.note(&format!("{} does not match the published MD5; downloading it again", file.display()));
        remove(&file)?;
    }
    let part = dir.join(format!("{}.part", archive.file));
    let mut resumed = download(url, &part, archive.size, options, progress)?;
    loop {
        progress.note(&format!("verifying the MD5 of {}", archive.file));
        let got = md5_file(&part)?;
        if got == expected {
            break;
        }
        remove(&part)?;
        if resumed {
            // The bytes kept from an earlier run may be the bad ones: one clean download.
            progress.note(&format!("MD5 {got} after resuming an earlier partial download; downloading {} from the start", archive.file));
            resumed = download(url, &part, archive.size, options, progress)?;
            continue;
        }
        return Err(Error::Data(format!(
            "{} from {url}: MD5 {got} does not match the published {expected}; the download was deleted (run again, or choose another source with --mirror)",
            archive.file
        )));
    }
    fs::rename(&part, &file).map_err(|e| Error::io(format!("renaming {} to {}", part.display(), file.display()), e))?;
    finish(archive, &file, dir, options, progress)
}

fn finish(archive: &Archive, file: &Path, dir: &Path, options: &FetchOptions, progress: &mut dyn FetchProgress) -> Result<PathBuf> {
    progress.note(&format!("unpacking {}", file.display()));
    let path = unpack(file, archive, dir)?;
    if !options.keep_archive {
        remove(file)?;
    }
    Ok(path)
}

fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
}

/// The MD5 of a file, lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    use md5::{Digest, Md5};
    let mut file = File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Why one attempt of a download stopped.
enum Stop {
    /// Worth another attempt (resuming from what is on disk).
    Retry(String),
    /// Not worth another attempt.
    Fatal(Error),
}

/// Downloads `url` into `part`, resuming the bytes already there with a Range request, retrying
/// dropped connections up to `options.attempts` times. Returns whether bytes of an earlier run
/// were kept (so a checksum failure may be theirs). `expected_size`, when known, must be the
/// size the server announces.
pub fn download(url: &str, part: &Path, expected_size: Option<u64>, options: &FetchOptions, progress: &mut dyn FetchProgress) -> Result<bool> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_recv_response(Some(options.response_timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let earlier = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut kept_earlier = earlier > 0;
    let mut failures = 0;
    loop {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        match attempt(&agent, url, part, have, expected_size, progress) {
            Ok(restarted) => return Ok(kept_earlier && !restarted),
            Err(Stop::Fatal(e)) => {
                if fs::metadata(part).is_ok_and(|m| m.len() == 0) {
                    let _ = fs::remove_file(part); // nothing received: leave no empty .part
                }
                return Err(e);
            }
            Err(Stop::Retry(why)) => {
                failures += 1;
                let kept = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
                if kept == 0 {
                    kept_earlier = false;
                }
                if failures >= options.attempts.max(1) {
                    let kept_text = if kept > 0 {
                        format!(", {kept} bytes kept in {} (run again to resume)", part.display())
                    } else {
                        let _ = fs::remove_file(part);
                        String::new()
                    };
                    return Err(Error::Data(format!("downloading {url}: {why}; gave up after {failures} attempts{kept_text}")));
                }
                let again = if kept > 0 { "resuming" } else { "retrying" };
                progress.note(&format!("{why}; {again} (attempt {} of {})", failures + 1, options.attempts));
                std::thread::sleep(options.retry_wait);
            }
        }
    }
}

/// `bytes START-END/TOTAL` (or `bytes */TOTAL`) -> (START if given, TOTAL if given).
fn content_range(value: &str) -> (Option<u64>, Option<u64>) {
    let Some(rest) = value.trim().strip_prefix("bytes") else { return (None, None) };
    let (range, total) = rest.trim().split_once('/').unwrap_or((rest.trim(), "*"));
    let start = range.split_once('-').and_then(|(a, _)| a.trim().parse().ok());
    (start, total.trim().parse().ok())
}

/// One request. Ok(true) when the file was restarted from byte 0 (the server ignored Range).
fn attempt(agent: &ureq::Agent, url: &str, part: &Path, mut have: u64, expected: Option<u64>, progress: &mut dyn FetchProgress) -> std::result::Result<bool, Stop> {
    let io_err = |what: &str, e: io::Error| Stop::Fatal(Error::io(format!("{what} {}", part.display()), e));
    let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(part).map_err(|e| io_err("opening", e))?;
    if expected.is_some_and(|size| have > size) {
        // Longer than the archive: not a prefix of it.
        file.set_len(0).map_err(|e| io_err("truncating", e))?;
        have = 0;
    }
    if have > 0 && expected == Some(have) {
        return Ok(false); // complete already; the checksum decides
    }
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| match e {
        // Retrying cannot fix these.
        ureq::Error::BadUri(_) | ureq::Error::HostNotFound | ureq::Error::TooManyRedirects | ureq::Error::RequireHttpsOnly(_) => {
            Stop::Fatal(Error::Data(format!("{url}: {e}")))
        }
        e => Stop::Retry(e.to_string()),
    })?;
    let status = response.status();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let (start, total) = match status.as_u16() {
        206 => {
            let (start, total) = header("content-range").map_or((None, None), |v| content_range(&v));
            let start = start.ok_or_else(|| Stop::Fatal(Error::Data(format!("{url}: a partial response without a byte range"))))?;
            if start > have {
                return Err(Stop::Fatal(Error::Data(format!("{url}: asked to resume at byte {have}, the server sent bytes from {start}"))));
            }
            (start, total.or(length.map(|l| start + l)))
        }
        200 => {
            if have > 0 {
                progress.note("the server does not resume downloads; starting again");
            }
            (0, length)
        }
        416 if have > 0 => {
            // Nothing past `have`: complete if the server's length says so, else start over.
            if header("content-range").and_then(|v| content_range(&v).1) == Some(have) {
                return Ok(false);
            }
            file.set_len(0).map_err(|e| io_err("truncating", e))?;
            return Err(Stop::Retry("the server refused to resume the download; starting it again".into()));
        }
        code => {
            let message = format!("{url}: HTTP {code} {}", status.canonical_reason().unwrap_or(""));
            return Err(if code >= 500 { Stop::Retry(message.trim_end().into()) } else { Stop::Fatal(Error::Data(message.trim_end().into())) });
        }
    };
    if let (Some(size), Some(total)) = (expected, total)
        && size != total
    {
        return Err(Stop::Fatal(Error::Data(format!(
            "{url} serves {total} bytes, but the published archive has {size}: not the expected file (check --mirror)"
        ))));
    }
    // A server that announces no length (chunked) is held to the published size.
    let total = total.or(expected);
    file.set_len(start).map_err(|e| io_err("truncating", e))?;
    file.seek(SeekFrom::Start(start)).map_err(|e| io_err("seeking in", e))?;
    let restarted = start == 0 && have > 0;
    progress.transfer(start, total);
    let mut reader = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = start;
    let of = |t: Option<u64>| t.map_or(String::new(), |t| format!(" of {t}"));
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(t) = total
                    && pos + n as u64 > t
                {
                    file.set_len(0).map_err(|e| io_err("truncating", e))?;
                    return Err(Stop::Fatal(Error::Data(format!("{url}: the server sent more than the {t} bytes it announced"))));
                }
                file.write_all(&buf[..n]).map_err(|e| io_err("writing", e))?;
                pos += n as u64;
                progress.bytes(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                file.flush().map_err(|e| io_err("writing", e))?;
                return Err(Stop::Retry(format!("connection lost after {pos}{} bytes ({e})", of(total))));
            }
        }
    }
    file.sync_all().map_err(|e| io_err("writing", e))?;
    if total.is_some_and(|t| pos < t) {
        return Err(Stop::Retry(format!("connection closed after {pos}{} bytes", of(total))));
    }
    Ok(restarted)
}

/// A relative path made only of normal components (`.` dropped), or `None` for an absolute path
/// or one with `..`.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Unpacks the verified `file` (of `archive`) under `dir` and returns `<dir>/<root>`. Entries go
/// into a temporary folder `<dir>/.<root>.unpacking-<pid>` that is renamed to `<dir>/<root>` only
/// after every entry is written and every required file is present; leftovers of killed unpacks
/// are removed first. Refused (nothing is written outside the temporary folder): absolute paths,
/// `..`, entries outside `<root>/`, links and special files, more than
/// [`Archive::unpacked_limit`] bytes or 100,000 entries.
pub fn unpack(file: &Path, archive: &Archive, dir: &Path) -> Result<PathBuf> {
    let target = archive.data_path(dir);
    let prefix = format!(".{}.unpacking-", archive.root);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let temp = dir.join(format!("{prefix}{}", std::process::id()));
    fs::create_dir_all(&temp).map_err(|e| Error::io(format!("creating {}", temp.display()), e))?;
    let done = unpack_into(file, archive, &temp).and_then(|()| {
        let root = temp.join(&archive.root);
        match archive.required.iter().find(|r| !root.join(r).is_file()) {
            Some(missing) => Err(Error::Data(format!(
                "{}: no {}/{missing} inside; not the expected release of {}",
                file.display(),
                archive.root,
                archive.file
            ))),
            None => fs::rename(&root, &target).map_err(|e| Error::io(format!("renaming {} to {}", root.display(), target.display()), e)),
        }
    });
    let _ = fs::remove_dir_all(&temp);
    done.map(|()| target)
}

fn unpack_into(file: &Path, archive: &Archive, temp: &Path) -> Result<()> {
    let bad = |why: String| Error::Data(format!("{}: {why}", file.display()));
    let input = BufReader::new(File::open(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?);
    let reader: Box<dyn Read> = match archive.packing {
        Packing::TarGz => Box::new(flate2::read::GzDecoder::new(input)),
        Packing::Tar => Box::new(input),
    };
    let mut tar = tar::Archive::new(reader);
    let mut budget = archive.unpacked_limit;
    let mut count = 0usize;
    for entry in tar.entries().map_err(|e| bad(format!("not a tar archive ({e})")))? {
        let mut entry = entry.map_err(|e| bad(format!("damaged archive ({e})")))?;
        count += 1;
        if count > 100_000 {
            return Err(bad("more than 100000 entries; refusing to unpack".into()));
        }
        let name = entry.path().map_err(|e| bad(format!("unreadable entry name ({e})")))?.into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let rel = safe_relative(&name)
            .ok_or_else(|| bad(format!("entry '{}' is an absolute path or leaves the folder with '..'; refusing to unpack", name.display())))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.components().next() != Some(Component::Normal(archive.root.as_ref())) {
            return Err(bad(format!("entry '{}' is outside {}/; refusing to unpack", name.display(), archive.root)));
        }
        let out = temp.join(&rel);
        match kind {
            tar::EntryType::Directory => fs::create_dir_all(&out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                if size > budget {
                    return Err(bad(format!(
                        "unpacks to more than {} bytes, far more than {} holds; refusing to unpack",
                        archive.unpacked_limit, archive.file
                    )));
                }
                budget -= size;
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
                }
                let mut sink = File::create(&out).map_err(|e| Error::io(format!("writing {}", out.display()), e))?;
                let written = io::copy(&mut (&mut entry).take(size), &mut sink).map_err(|e| bad(format!("damaged entry '{}' ({e})", name.display())))?;
                if written != size {
                    return Err(bad(format!("entry '{}' is truncated ({written} of {size} bytes)", name.display())));
                }
            }
            other => {
                return Err(bad(format!(
                    "entry '{}' is a {} ({other:?}); the published archives hold only files and folders, refusing to unpack",
                    name.display(),
                    if other.is_symlink() || other.is_hard_link() { "link" } else { "special file" }
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hs-fetch-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn header(path: &str, size: u64, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // Bypass `set_path`'s own checks: hostile names must reach the unpacker as they are.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    /// A tar (gzip-compressed) of `(path, bytes)` files.
    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, data) in files {
            b.append(&header(path, data.len() as u64, tar::EntryType::Regular), *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn small_archive() -> Archive {
        Archive {
            file: "set.tar.gz".into(),
            url: "http://127.0.0.1:9/set.tar.gz".into(),
            md5: String::new(),
            size: None,
            packing: Packing::TarGz,
            root: "set".into(),
            required: vec!["a.bin".into()],
            unpacked_limit: 1 << 20,
        }
    }

    #[test]
    fn md5_matches_rfc1321_vectors() {
        let dir = scratch("md5");
        // RFC 1321, appendix A.5.
        for (text, want) in [("", "d41d8cd98f00b204e9800998ecf8427e"), ("abc", "900150983cd24fb0d6963f7d28e17f72"), ("message digest", "f96b697d7cb7938d525a2f31aaf161d0")] {
            let p = dir.join("x");
            fs::write(&p, text).unwrap();
            assert_eq!(md5_file(&p).unwrap(), want, "{text:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn catalogue_names_and_mirrors() {
        for d in Dataset::ALL {
            assert_eq!(Dataset::parse(d.name()), Some(d));
            let a = d.archive();
            assert_eq!(a.md5.len(), 32);
            assert!(a.url.starts_with("https://") && a.url.contains(&a.file), "{}", a.url);
            assert!(a.size.unwrap() <= a.unpacked_limit);
        }
        assert_eq!(Dataset::parse("CIFAR10C"), Some(Dataset::Cifar10C));
        assert_eq!(Dataset::parse("./cifar10"), None);
        let a = Dataset::Cifar10.archive();
        assert_eq!(a.source_url(Some("http://m.example/data/")), "http://m.example/data/cifar-10-binary.tar.gz");
        assert_eq!(a.source_url(None), a.url);
        assert_eq!(Dataset::Cifar10C.archive().required.len(), 16);
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(content_range("bytes 100-199/200"), (Some(100), Some(200)));
        assert_eq!(content_range("bytes */200"), (None, Some(200)));
        assert_eq!(content_range("bytes 5-9/*"), (Some(5), None));
        assert_eq!(content_range("items 1-2/3"), (None, None));
    }

    #[test]
    fn unpacks_into_place_and_cleans_leftovers() {
        let dir = scratch("unpack");
        let file = dir.join("set.tar.gz");
        fs::write(&file, tar_gz(&[("./set/a.bin", b"hello".as_slice()), ("set/sub/b.txt", b"x".as_slice())])).unwrap();
        fs::create_dir_all(dir.join(".set.unpacking-1")).unwrap();
        let path = unpack(&file, &small_archive(), &dir).unwrap();
        assert_eq!(path, dir.join("set"));
        assert_eq!(fs::read(path.join("a.bin")).unwrap(), b"hello");
        assert_eq!(fs::read(path.join("sub/b.txt")).unwrap(), b"x");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(left.iter().all(|n| !n.contains("unpacking")), "{left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hostile_archives_write_nothing_outside() {
        let dir = scratch("hostile");
        let inner = dir.join("inner");
        fs::create_dir_all(&inner).unwrap();
        let file = inner.join("set.tar.gz");
        let archive = small_archive();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (tar_gz(&[("set/a.bin", b"ok".as_slice()), ("set/../../escape.txt", b"bad".as_slice())]), "leaves the folder"),
            (tar_gz(&[("/tmp/hs-fetch-absolute.txt", b"bad".as_slice())]), "absolute path"),
            (tar_gz(&[("other/a.bin", b"bad".as_slice())]), "outside set/"),
            (tar_gz(&[("set/b.bin", b"no a.bin".as_slice())]), "no set/a.bin"),
            (b"\x1f\x8b\x08\x00garbage".to_vec(), "set.tar.gz"),
            ({
                let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
                let mut h = header("set/a.bin", 0, tar::EntryType::Symlink);
                h.set_link_name("/etc/passwd").unwrap();
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
                b.into_inner().unwrap().finish().unwrap()
            }, "is a link"),
            // A zero-filled 2 MiB entry compresses to a few KiB but exceeds the 1 MiB limit.
            (tar_gz(&[("set/a.bin", vec![0u8; 2 << 20].as_slice())]), "refusing to unpack"),
        ];
        for (bytes, needle) in cases {
            fs::write(&file, bytes).unwrap();
            let err = unpack(&file, &archive, &inner).unwrap_err().to_string();
            assert!(err.contains(needle), "'{needle}' not in: {err}");
            let mut names: Vec<_> = fs::read_dir(&inner).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            assert_eq!(names, vec!["set.tar.gz"], "{needle}: left {names:?}");
            assert!(!dir.join("escape.txt").exists());
        }
        assert!(!Path::new("/tmp/hs-fetch-absolute.txt").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
