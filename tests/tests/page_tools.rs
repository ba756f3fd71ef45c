//! End-to-end tests of the commands around the web page: `attack` (one image, the page's
//! computation natively) and `serve` (the page on localhost).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_success, assert_user_error, binary, run, scratch};

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path).display().to_string()
}

#[test]
fn attack_writes_the_adversarial_png_and_reports_both_predictions() {
    let dir = scratch("attack");
    let out = dir.join("adv.png");
    let json = dir.join("adv.json");
    let (weights, image) = (repo("web/models/ce.bpk"), repo("web/gallery/cat.jpg"));
    let o = run(&["attack", "--weights", &weights, "--image", &image, "--attack", "pgd:linf:8/255:10", "--target", "frog",
        "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap(), "--device", "flex"]);
    assert_success(&o);
    let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(result["spec"], "pgd:linf:8/255:10:ce-t", "--target turns PGD into its targeted version");
    assert_eq!(result["target"], 6);
    let linf = result["linf"].as_f64().unwrap();
    assert!(linf > 0.0 && linf <= 8.0 / 255.0 + 1e-6, "l_inf {linf} within the ball");
    let reached = result["adversarial"][0]["label"] == 6;
    assert_eq!(result["flipped"].as_bool().unwrap(), reached, "success means the target is the top class");
    let png = std::fs::read(&out).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // The IHDR chunk holds the width and height: the model's 32 x 32 input.
    assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (32, 32));
}

#[test]
fn attack_refuses_bad_input_with_one_line_errors() {
    let dir = scratch("attack-errors");
    let out = dir.join("adv.png");
    let (weights, image) = (repo("web/models/ce.bpk"), repo("web/gallery/cat.jpg"));
    let base = |extra: &[&str]| {
        let mut a = vec!["attack", "--weights", weights.as_str(), "--out", out.to_str().unwrap(), "--device", "flex"];
        a.extend_from_slice(extra);
        run(&a)
    };
    assert_user_error(&base(&["--image", &repo("README.md")]), "not a readable image");
    assert_user_error(&base(&["--image", &image, "--target", "zebra"]), "zebra");
    assert_user_error(&base(&["--image", &image, "--target", "3", "--attack", "apgd-ce:linf:8/255"]), "--target needs FGSM or PGD");
    assert!(!out.exists(), "no output file after a refused request");
}

fn get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&response[..split]).to_string(), response[split + 4..].to_vec())
}

#[test]
fn serve_serves_the_page_with_the_right_types_and_nothing_outside_it() {
    let mut child = Command::new(binary())
        .args(["serve", "--root", &repo("."), "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap_or_else(|| panic!("no address in '{line}'")).to_string();
    let (head, body) = get(&addr, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: text/html"), "{head}");
    assert_eq!(body, std::fs::read(repo("index.html")).unwrap());
    let (head, body) = get(&addr, "/web/models/manifest.json?x=1");
    assert!(head.to_lowercase().contains("content-type: application/json"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("\"models\""));
    assert!(get(&addr, "/no-such-file.js").0.starts_with("HTTP/1.1 404"));
    assert!(get(&addr, "/../Cargo.toml").0.starts_with("HTTP/1.1 40"), "nothing outside the root");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn serve_refuses_a_folder_without_the_page() {
    let dir = scratch("serve-empty");
    assert_user_error(&run(&["serve", "--root", dir.to_str().unwrap(), "--port", "0"]), "has no index.html");
}
