//! `hypersphere serve`: serves the web page (the repository root, or a `dist/` folder built by
//! `scripts/build-dist.sh`) on localhost, where browsers allow WebGPU. Read-only, GET and HEAD
//! only, no listing, nothing outside the root.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use tiny_http::{Header, Method, Response, Server};

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
    let root = root.canonicalize().with_context(|| root.display().to_string())?;
    let server = Server::http((args.host.as_str(), args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let addr = server.server_addr().to_ip().context("not an IP listener")?;
    println!("serving {} at http://{addr}/ (Ctrl-C to stop)", root.display());
    for request in server.incoming_requests() {
        let file = match request.method() {
            Method::Get | Method::Head => resolve(&root, request.url()),
            _ => {
                let _ = request.respond(Response::from_string("method not allowed").with_status_code(405));
                continue;
            }
        };
        let response = match file.as_deref().map(|f| (f, std::fs::read(f))) {
            Some((f, Ok(body))) => {
                let header = Header::from_bytes("Content-Type", content_type(f)).expect("static header");
                Response::from_data(body).with_header(header)
            }
            Some((_, Err(_))) => Response::from_string("not found").with_status_code(404),
            None => Response::from_string("forbidden").with_status_code(403),
        };
        let _ = request.respond(response);
    }
    Ok(())
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
