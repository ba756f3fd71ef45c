//! Progress bars (indicatif) for every loop that takes more than a second.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` units with a message slot.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix:>12}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} ({{eta}}) {{msg}}"
        ))
        .expect("static template"),
    );
    pb
}

/// A bar over a download of `len` bytes (position, rate and ETA; no ETA when the length is unknown).
pub fn bytes_bar(len: Option<u64>) -> ProgressBar {
    let pb = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    let template = match len {
        Some(_) => "{prefix:>12} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        None => "{prefix:>12} [{elapsed_precise}] {bytes} ({bytes_per_sec}) {msg}",
    };
    pb.set_style(ProgressStyle::with_template(template).expect("static template"));
    pb
}

/// A spinner for work of unknown length (decoding a dataset).
pub fn spinner(message: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(message.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
