//! `hypersphere data fetch` and `--data cifar10` end to end, against a local HTTP server started
//! by the test (std `TcpListener`; nothing here touches the internet: every run names the local
//! server as its mirror). The server serves archives generated here in the published layouts
//! (small contents), honours Range requests (or ignores them, on request), can drop connections
//! in the middle of a body, and logs every request, so resuming is checked on the wire.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::{assert_success, assert_user_error, binary, scratch};
use hypersphere_core::corruptions::{Corruption, cifar10c};
use hypersphere_core::data::fetch::md5_file;
use hypersphere_core::data::{DataSource, Split};

/// How the server answers one path.
#[derive(Clone)]
struct Route {
    body: Vec<u8>,
    /// The next this many requests get the headers (full length) and only `drop_at` body bytes.
    drops: usize,
    drop_at: usize,
    /// Honour `Range: bytes=N-` (206 / 416); otherwise always 200 with the whole body.
    ranges: bool,
}

impl Route {
    fn new(body: Vec<u8>) -> Self {
        Route { body, drops: 0, drop_at: 0, ranges: true }
    }
}

struct Server {
    url: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    /// (path, Range header) of every request.
    log: Arc<Mutex<Vec<(String, Option<String>)>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/mirror", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let log: Arc<Mutex<Vec<(String, Option<String>)>>> = Arc::default();
        let (r, l) = (routes.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, l) = (r.clone(), l.clone());
                std::thread::spawn(move || serve(stream, &r, &l));
            }
        });
        Server { url, routes, log }
    }

    fn route(&self, file: &str, route: Route) {
        self.routes.lock().unwrap().insert(format!("/mirror/{file}"), route);
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn serve(mut stream: TcpStream, routes: &Mutex<HashMap<String, Route>>, log: &Mutex<Vec<(String, Option<String>)>>) {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let range = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("range")).map(|(_, v)| v.trim().to_string()));
    log.lock().unwrap().push((path.clone(), range.clone()));
    let mut routes = routes.lock().unwrap();
    let Some(route) = routes.get_mut(&path) else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = route.body.len();
    let start = range.filter(|_| route.ranges).and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok());
    let (status, extra, body) = match start {
        Some(n) if n >= len => {
            let _ = write!(stream, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        Some(n) => ("206 Partial Content", format!("Content-Range: bytes {n}-{}/{len}\r\n", len - 1), &route.body[n..]),
        None => ("200 OK", String::new(), &route.body[..]),
    };
    let _ = write!(stream, "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n", body.len());
    if route.drops > 0 {
        route.drops -= 1;
        let _ = stream.write_all(&body[..route.drop_at.min(body.len())]);
        return; // closing the socket mid-body
    }
    let _ = stream.write_all(body);
}

/// The binary with a clean fetch environment: `HYPERSPHERE_DATA=data`, the server as mirror.
fn run_with(args: &[&str], data: &Path, server: &Server, md5: &str) -> Output {
    Command::new(binary())
        .args(args)
        .env("HYPERSPHERE_DATA", data)
        .env("HYPERSPHERE_MIRROR", &server.url)
        .env("HYPERSPHERE_FETCH_MD5", md5)
        .output()
        .unwrap()
}

fn tar_of(files: &[(String, Vec<u8>)], gzip: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        // The name as given (`set_path` would refuse the hostile ones this test needs).
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// CIFAR-10 binary records: label `(seed + i) % 10`, pixel bytes a hash of (seed, i, byte), so
/// the archive hardly compresses and the drops below land inside it.
fn records(n: usize, seed: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(((seed + i) % 10) as u8);
        out.extend((0..3072u64).map(|b| {
            let mut x = (seed as u64) << 40 ^ (i as u64) << 20 ^ b;
            x = (x ^ (x >> 17)).wrapping_mul(0xed5a_d4bb_ac4c_1b51);
            (x ^ (x >> 29)) as u8
        }));
    }
    out
}

const NAMES: &str = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";

/// `cifar-10-binary.tar.gz` as published (`cifar-10-batches-bin/`: five training batches, the
/// test batch, the class names, the readme), with 10 images per training batch and 20 test images.
fn cifar10_archive() -> Vec<u8> {
    let root = "cifar-10-batches-bin";
    let mut files: Vec<(String, Vec<u8>)> = (1..=5).map(|i| (format!("{root}/data_batch_{i}.bin"), records(10, i))).collect();
    files.push((format!("{root}/test_batch.bin"), records(20, 0)));
    files.push((format!("{root}/batches.meta.txt"), NAMES.as_bytes().to_vec()));
    files.push((format!("{root}/readme.html"), b"<html></html>".to_vec()));
    tar_of(&files, true)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect()).unwrap_or_default();
    names.sort();
    names
}

fn stdout_path(out: &Output) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The fetched CIFAR-10 loads through the real loader with the generated labels and pixels.
fn check_cifar10(folder: &Path) {
    let test = DataSource::Path(folder.to_path_buf()).load(Split::Test, 32).unwrap();
    let want = records(20, 0);
    assert_eq!(test.len(), 20);
    assert_eq!(test.labels, (0..20).map(|i| i % 10).collect::<Vec<_>>());
    assert_eq!(test.class_names[9], "truck");
    // Pixel (0, 0) of image 1 is R, G, B from the three planes of record 1.
    let rec = &want[3073..2 * 3073];
    assert_eq!(&test.image(1)[..3], &[rec[1], rec[1 + 1024], rec[1 + 2048]]);
    assert_eq!(DataSource::Path(folder.to_path_buf()).load(Split::Train, 32).unwrap().len(), 50);
}

#[test]
fn fetch_resumes_a_dropped_connection_verifies_and_unpacks() {
    let dir = scratch("fetch-drop");
    let server = Server::start();
    let archive = cifar10_archive();
    let md5 = format!("cifar10={}", md5_hex(&archive, &dir));
    // The first connection dies after 1000 bytes; the same run resumes from byte 1000.
    server.route("cifar-10-binary.tar.gz", Route { drops: 1, drop_at: 1000, ..Route::new(archive.clone()) });
    let into = dir.join("data");
    let out = run_with(&["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()], &dir.join("unused"), &server, &md5);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection") && stderr.contains("resuming (attempt 2 of 5)"), "{stderr}");
    let requests = server.requests();
    assert_eq!(requests, vec![("/mirror/cifar-10-binary.tar.gz".to_string(), None), ("/mirror/cifar-10-binary.tar.gz".to_string(), Some("bytes=1000-".to_string()))]);
    let folder = into.join("cifar-10-batches-bin");
    assert_eq!(stdout_path(&out), folder);
    // Only the dataset is left: no archive, no .part, no temporary folder.
    assert_eq!(file_names(&into), vec!["cifar-10-batches-bin"]);
    check_cifar10(&folder);
    // A second fetch finds it and asks nothing.
    let again = run_with(&["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()], &dir.join("unused"), &server, &md5);
    assert_success(&again);
    assert_eq!(stdout_path(&again), folder);
    assert!(server.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_fetch_waits_for_the_first_and_finds_its_result() {
    let dir = scratch("fetch-lock");
    let server = Server::start();
    let archive = cifar10_archive();
    let md5 = format!("cifar10={}", md5_hex(&archive, &dir));
    server.route("cifar-10-binary.tar.gz", Route::new(archive));
    let into = dir.join("data");
    std::fs::create_dir_all(&into).unwrap();
    // This test holds the lock a running fetch would hold.
    let lock = std::fs::File::create(into.join(".cifar-10-binary.tar.gz.lock")).unwrap();
    lock.lock().unwrap();
    let child = Command::new(binary())
        .args(["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()])
        .env("HYPERSPHERE_MIRROR", &server.url)
        .env("HYPERSPHERE_FETCH_MD5", &md5)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(server.requests().is_empty(), "the second fetch must wait for the lock");
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another process is fetching cifar-10-binary.tar.gz"));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(file_names(&into), vec!["cifar-10-batches-bin"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn md5_hex(bytes: &[u8], dir: &Path) -> String {
    let p = dir.join(format!("md5-{}", bytes.len()));
    std::fs::write(&p, bytes).unwrap();
    let h = md5_file(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    h
}

#[test]
fn fetch_cifar100_gives_the_binary_folder_the_loader_reads() {
    let dir = scratch("fetch-c100");
    let server = Server::start();
    // cifar-100-binary/: records of <coarse label><fine label><3072 pixel bytes>.
    let rec = |n: usize, seed: usize| -> Vec<u8> {
        records(n, seed).chunks(3073).enumerate().flat_map(|(i, r)| [[(i % 20) as u8, ((seed + i * 13) % 100) as u8].as_slice(), &r[1..]].concat()).collect()
    };
    let fine: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    let archive = tar_of(
        &[
            ("cifar-100-binary/train.bin".into(), rec(30, 1)),
            ("cifar-100-binary/test.bin".into(), rec(12, 0)),
            ("cifar-100-binary/fine_label_names.txt".into(), fine.into_bytes()),
            ("cifar-100-binary/coarse_label_names.txt".into(), b"c0\n".to_vec()),
        ],
        true,
    );
    server.route("cifar-100-binary.tar.gz", Route::new(archive.clone()));
    let md5 = format!("cifar100={}", md5_hex(&archive, &dir));
    let out = run_with(&["data", "fetch", "cifar100"], &dir.join("data"), &server, &md5);
    assert_success(&out);
    let folder = dir.join("data").join("cifar-100-binary");
    assert_eq!(stdout_path(&out), folder);
    let test = DataSource::Path(folder.clone()).load(Split::Test, 32).unwrap();
    assert_eq!(test.labels, (0..12).map(|i| (i * 13) % 100).collect::<Vec<_>>());
    assert_eq!((test.class_names.len(), test.class_names[99].as_str()), (100, "fine99"));
    assert_eq!(DataSource::Path(folder).load(Split::Train, 32).unwrap().len(), 30);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fetch_resumes_an_earlier_partial_download_and_restarts_when_range_is_ignored() {
    let dir = scratch("fetch-resume");
    let server = Server::start();
    let archive = cifar10_archive();
    let md5 = format!("cifar10={}", md5_hex(&archive, &dir));
    let into = dir.join("data");
    std::fs::create_dir_all(&into).unwrap();
    let part = into.join("cifar-10-binary.tar.gz.part");
    // Every connection is dropped: the run gives up after 5 attempts and keeps what it got.
    server.route("cifar-10-binary.tar.gz", Route { drops: 5, drop_at: 700, ..Route::new(archive.clone()) });
    let failed = run_with(&["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()], &dir, &server, &md5);
    assert_user_error(&failed, "gave up after 5 attempts, 3500 bytes kept in");
    assert_eq!(std::fs::read(&part).unwrap(), archive[..3500]);
    let ranges: Vec<_> = server.requests().into_iter().map(|(_, r)| r).collect();
    assert_eq!(ranges, vec![None, Some("bytes=700-".into()), Some("bytes=1400-".into()), Some("bytes=2100-".into()), Some("bytes=2800-".into())]);
    assert!(!into.join("cifar-10-batches-bin").exists());
    // The next run resumes where the last one stopped.
    let out = run_with(&["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()], &dir, &server, &md5);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming after 3.42 KiB from"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.requests(), vec![("/mirror/cifar-10-binary.tar.gz".to_string(), Some("bytes=3500-".to_string()))]);
    check_cifar10(&into.join("cifar-10-batches-bin"));

    // A server that ignores Range: the stale part is replaced by a clean download.
    let into2 = dir.join("data2");
    std::fs::create_dir_all(&into2).unwrap();
    std::fs::write(into2.join("cifar-10-binary.tar.gz.part"), b"stale bytes of some other file").unwrap();
    server.route("cifar-10-binary.tar.gz", Route { ranges: false, ..Route::new(archive.clone()) });
    let out = run_with(&["data", "fetch", "cifar10", "--dir", into2.to_str().unwrap()], &dir, &server, &md5);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not resume downloads; starting again"));
    assert_eq!(server.requests(), vec![("/mirror/cifar-10-binary.tar.gz".to_string(), Some("bytes=30-".to_string()))]);
    assert_eq!(file_names(&into2), vec!["cifar-10-batches-bin"]);
    check_cifar10(&into2.join("cifar-10-batches-bin"));

    // A part from an earlier run that does not belong to the archive: one clean retry.
    let into3 = dir.join("data3");
    std::fs::create_dir_all(&into3).unwrap();
    let mut wrong = archive[..2000].to_vec();
    wrong[10] ^= 0xff;
    std::fs::write(into3.join("cifar-10-binary.tar.gz.part"), &wrong).unwrap();
    server.route("cifar-10-binary.tar.gz", Route::new(archive.clone()));
    let out = run_with(&["data", "fetch", "cifar10", "--dir", into3.to_str().unwrap(), "--keep-archive"], &dir, &server, &md5);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("after resuming an earlier partial download"));
    let ranges: Vec<_> = server.requests().into_iter().map(|(_, r)| r).collect();
    assert_eq!(ranges, vec![Some("bytes=2000-".into()), None]);
    assert_eq!(file_names(&into3), vec!["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
    assert_eq!(std::fs::read(into3.join("cifar-10-binary.tar.gz")).unwrap(), archive);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fetch_refuses_wrong_checksums_truncated_archives_and_bad_names() {
    let dir = scratch("fetch-bad");
    let server = Server::start();
    let archive = cifar10_archive();
    let md5 = format!("cifar10={}", md5_hex(&archive, &dir));
    let into = dir.join("data");
    let fetch = |md5: &str| run_with(&["data", "fetch", "cifar10", "--dir", into.to_str().unwrap()], &dir, &server, md5);
    // One flipped byte: the checksum refuses it and nothing is left behind.
    let mut flipped = archive.clone();
    flipped[archive.len() / 2] ^= 1;
    server.route("cifar-10-binary.tar.gz", Route::new(flipped));
    assert_user_error(&fetch(&md5), "does not match the published");
    assert!(file_names(&into).is_empty(), "{:?}", file_names(&into));
    // A truncated archive served as if whole: refused the same way.
    server.route("cifar-10-binary.tar.gz", Route::new(archive[..archive.len() / 2].to_vec()));
    assert_user_error(&fetch(&md5), "does not match the published");
    assert!(file_names(&into).is_empty());
    // Without an override the published size applies: the wrong size is refused before the body.
    assert_user_error(&fetch(""), "but the published archive has 170052171");
    // Names and sources that do not exist.
    assert_user_error(&run_with(&["data", "fetch", "imagenet"], &dir, &server, ""), "unknown dataset 'imagenet' (known: cifar10, cifar100, cifar10-c)");
    assert_user_error(&run_with(&["data", "fetch", "cifar100", "--dir", into.to_str().unwrap()], &dir, &server, ""), "cifar-100-binary.tar.gz: HTTP 404");
    assert_user_error(&fetch("cifar10=xyz"), "HYPERSPHERE_FETCH_MD5: 'xyz' is not an MD5");
    server.requests();
    let bad_mirror = ["data", "fetch", "cifar10", "--dir", into.to_str().unwrap(), "--mirror", "not a url"];
    assert_user_error(&run_with(&bad_mirror, &dir, &server, &md5), "not a url/cifar-10-binary.tar.gz");
    assert!(server.requests().is_empty());
    // An archive with the right checksum but not the published layout.
    let odd = tar_of(&[("cifar-10-batches-bin/test_batch.bin".into(), records(2, 0))], true);
    server.route("cifar-10-binary.tar.gz", Route::new(odd.clone()));
    assert_user_error(&fetch(&format!("cifar10={}", md5_hex(&odd, &dir))), "no cifar-10-batches-bin/data_batch_1.bin inside");
    assert!(!into.join("cifar-10-batches-bin").exists());
    // An archive whose entry leaves the folder: refused, nothing written outside.
    let evil = tar_of(&[("cifar-10-batches-bin/../../evil.txt".into(), b"x".to_vec())], true);
    server.route("cifar-10-binary.tar.gz", Route::new(evil.clone()));
    assert_user_error(&fetch(&format!("cifar10={}", md5_hex(&evil, &dir))), "leaves the folder with '..'");
    assert!(!dir.join("evil.txt").exists() && !into.join("evil.txt").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_names_fetch_on_first_use_for_train_and_corrupt_eval() {
    let dir = scratch("fetch-use");
    let server = Server::start();
    let archive = cifar10_archive();
    // CIFAR-10-C as published: CIFAR-10-C/<corruption>.npy ([5 * n, 32, 32, 3] uint8) and labels.npy.
    let n = 10;
    let mut files: Vec<(String, Vec<u8>)> = Corruption::ALL
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let pixels: Vec<u8> = (0..5 * n * 3072).map(|i| ((i / 3072) * 5 + k) as u8).collect();
            (format!("CIFAR-10-C/{}.npy", c.name()), cifar10c::npy_u8_bytes(&[5 * n, 32, 32, 3], &pixels))
        })
        .collect();
    let labels: Vec<u8> = (0..5 * n).map(|i| (i % n) as u8 % 10).collect();
    files.push(("CIFAR-10-C/labels.npy".into(), cifar10c::npy_u8_bytes(&[5 * n], &labels)));
    let c_archive = tar_of(&files, false);
    let md5 = format!("cifar10={},cifar10-c={}", md5_hex(&archive, &dir), md5_hex(&c_archive, &dir));
    server.route("cifar-10-binary.tar.gz", Route::new(archive));
    server.route("CIFAR-10-C.tar", Route::new(c_archive));
    let data = dir.join("data");
    let run_dir = dir.join("run");
    let out = run_with(
        &["train", "--data", "cifar10", "--arch", "small-cnn", "--width", "4", "--epochs", "1", "--batch-size", "10", "--device", "flex", "--out", run_dir.to_str().unwrap()],
        &data,
        &server,
        &md5,
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cifar10 is not fetched yet: downloading cifar-10-binary.tar.gz (") && stderr.contains(&server.url), "{stderr}");
    assert_eq!(server.requests().len(), 1);
    check_cifar10(&data.join("cifar-10-batches-bin"));
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1, "{metrics}");
    // corrupt-eval on the published-format files, fetched on first use; cifar10 is not fetched again.
    let json = dir.join("c.json");
    let model = run_dir.join("model.bpk");
    let out = run_with(
        &["corrupt-eval", "--models", model.to_str().unwrap(), "--data", "cifar10", "--cifar10c", "cifar10-c", "--corruptions", "fog,snow", "--severities", "2", "--device", "flex", "--json", json.to_str().unwrap()],
        &data,
        &server,
        &md5,
    );
    assert_success(&out);
    assert_eq!(server.requests(), vec![("/mirror/CIFAR-10-C.tar".to_string(), None)]);
    let report: hypersphere_core::results::CorruptionReport = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.images, n);
    assert_eq!(report.models[0].corruptions.len(), 2);
    // The severity-2 block of fog, as the loader reads it from the unpacked folder.
    let fog = cifar10c::load(&data.join("CIFAR-10-C"), Corruption::Fog, 2).unwrap();
    assert_eq!((fog.len(), fog.image(3)[0]), (n, (n + 3) as u8 * 5 + 9));
    // CIFAR-10-C is not a --data source: a clear word instead of a failed load.
    let out = run_with(&["train", "--data", "cifar10-c", "--arch", "small-cnn", "--epochs", "1", "--out", dir.join("x").to_str().unwrap()], &data, &server, &md5);
    assert_user_error(&out, "pass it to corrupt-eval --cifar10c cifar10-c");
    assert!(server.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
