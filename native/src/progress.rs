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

/// A spinner for work of unknown length (decoding a dataset).
pub fn spinner(message: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(message.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
