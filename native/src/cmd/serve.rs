//! `hypersphere serve`: serves the web page (the repository root, or a `dist/` folder built by
//! `scripts/build-dist.sh`) on localhost, where browsers allow WebGPU. Read-only, GET and HEAD
//! only, no listing, nothing outside the root.
//!
//! A small HTTP/1.x server on `std::net`, one thread and one request per connection
//! (`Connection: close`), with every wait bounded: a client has 10 s to send a request head of at
//! most 16 KiB, at most 64 connections are served at once, and anything that is not a GET or
//! HEAD request line of HTTP/1.0 or 1.1 gets an error status. (tiny_http, used before, never
//! answered nor closed a connection whose request line said HTTP/2.0: its 505 reply waited on
//! the request it refused. The fuzz harness found it.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Longest request head (request line and headers) read.
const MAX_HEAD: usize = 16 << 10;
/// How long a client may take to send its request head, or to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder holding `index.html`: `dist` when it exists, else the current directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind; the default serves this machine only (a secure context for WebGPU).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

/// The MIME type browsers need for each of the page's files (`.wasm` must be application/wasm).
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("css") => "text/css",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// The file under `root` that a request path names, or `None` for paths that leave the root.
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let mut file = root.to_path_buf();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => file.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    Some(file)
}

pub fn run(args: Args) -> Result<()> {
    let root = match args.root {
        Some(r) => r,
        None if Path::new("dist/index.html").exists() => PathBuf::from("dist"),
        None => PathBuf::from("."),
    };
    if !root.join("index.html").exists() {
        bail!(
            "{} has no index.html: run this in the repository (after scripts/build-web.sh) or pass --root dist (scripts/build-dist.sh)",
            root.display()
        );
    }
    let root = Arc::new(root.canonicalize().with_context(|| root.display().to_string())?);
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let addr = listener.local_addr().context("not an IP listener")?;
    println!("serving {} at http://{addr}/ (Ctrl-C to stop)", root.display());
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closed
        }
        let (root, active) = (root.clone(), active.clone());
        std::thread::spawn(move || {
            serve_connection(stream, &root);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// Reads one request head, answers it and closes the connection.
fn serve_connection(mut stream: TcpStream, root: &Path) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if head.len() > MAX_HEAD {
            break false;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break false,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    };
    let (status, content_type, body, send_body) = if complete || !head.is_empty() {
        answer(root, &head, complete)
    } else {
        return; // nothing sent: nothing to answer
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if send_body {
        reply.extend_from_slice(&body);
    }
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
    // Let the client read the answer before the close: a close with unread request bytes (a
    // body) would reset the connection and could drop the answer.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = std::io::copy(&mut (&mut stream).take(1 << 20), &mut std::io::sink());
}

/// The status, content type and body for a request head (`complete`: it ended with a blank
/// line), and whether the body is sent (not for HEAD).
fn answer(root: &Path, head: &[u8], complete: bool) -> (&'static str, &'static str, Vec<u8>, bool) {
    let text = |status: &'static str, body: &str| (status, "text/plain; charset=utf-8", body.as_bytes().to_vec(), true);
    if !complete {
        return if head.len() > MAX_HEAD { text("431 Request Header Fields Too Large", "request head too large") } else { text("400 Bad Request", "incomplete request") };
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else { return text("400 Bad Request", "bad request line") };
    let parts: Vec<&str> = line.trim_end_matches('\r').split(' ').collect();
    let [method, target, version] = parts[..] else { return text("400 Bad Request", "bad request line") };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return text("505 HTTP Version Not Supported", "HTTP/1.0 and 1.1 only");
    }
    let send_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return text("405 Method Not Allowed", "method not allowed"),
    };
    match resolve(root, target).map(|f| (std::fs::read(&f), f)) {
        Some((Ok(body), f)) => ("200 OK", content_type(&f), body, send_body),
        Some((Err(_), _)) => text("404 Not Found", "not found"),
        None => text("403 Forbidden", "forbidden"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_root_only() {
        let root = Path::new("/srv/page");
        assert_eq!(resolve(root, "/web/app.js?x=1"), Some(root.join("web/app.js")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/web/../../secret"), None);
        assert_eq!(content_type(Path::new("a/b.wasm")), "application/wasm");
    }
}
